//go:build !race

package embedded

// raceEnabled: the tests run under the race detector.
const raceEnabled = false
