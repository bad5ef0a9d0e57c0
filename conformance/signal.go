package conformance

// SignalScenarios are the suspend → signal → resume contract (spec/suspend-signal.md).
func SignalScenarios() []Scenario {
	return nil
}
