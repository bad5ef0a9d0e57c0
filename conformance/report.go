package conformance

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/flowfabric/ffgo/keyspace"
)

// Scenarios returns every contract scenario, claim first.
func Scenarios() []Scenario {
	return append(ClaimScenarios(), SignalScenarios()...)
}

// Select returns the scenarios whose name matches the regexp (all when it is empty).
func Select(all []Scenario, pattern string) ([]Scenario, error) {
	if pattern == "" {
		return all, nil
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("scenario filter: %w", err)
	}
	var out []Scenario
	for _, sc := range all {
		if re.MatchString(sc.Name) {
			out = append(out, sc)
		}
	}
	return out, nil
}

// RunAll runs every scenario on t, one after the other, spreading them over slot ranges.
func RunAll(ctx context.Context, t *Target, scs []Scenario) []Result {
	out := make([]Result, 0, len(scs))
	for i, sc := range scs {
		out = append(out, RunScenario(ctx, t, sc, i))
	}
	return out
}

// Report is a scenario × target table.
type Report struct {
	Targets   []string
	Scenarios []Scenario
	Results   map[string]map[string]Result // scenario → target → result
	Extra     []Result                     // rows that are not scenarios (differential runs)
}

// Add records results.
func (r *Report) Add(rs ...Result) {
	if r.Results == nil {
		r.Results = map[string]map[string]Result{}
	}
	for _, x := range rs {
		if !slices.Contains(r.Targets, x.Target) {
			r.Targets = append(r.Targets, x.Target)
		}
		if r.Results[x.Scenario] == nil {
			r.Results[x.Scenario] = map[string]Result{}
		}
		r.Results[x.Scenario][x.Target] = x
	}
}

// Failed reports whether any result failed.
func (r *Report) Failed() bool {
	for _, byT := range r.Results {
		for _, x := range byT {
			if x.Status == "fail" {
				return true
			}
		}
	}
	return false
}

// Write prints the table, then the first difference of every failure, then the known
// differences the scenarios encode.
func (r *Report) Write(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "SCENARIO\t")
	for _, t := range r.Targets {
		fmt.Fprintf(tw, "%s\t", t)
	}
	fmt.Fprintln(tw, "TIME\tPINS")
	var names []string
	pins := map[string][]string{}
	timing := map[string]string{}
	for _, sc := range r.Scenarios {
		names = append(names, sc.Name)
		pins[sc.Name] = sc.Pins
		timing[sc.Name] = map[string]string{"": "-", "poll": "poll", "clock": "clock"}[sc.Time]
	}
	for name := range r.Results {
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	var failures []Result
	for _, name := range names {
		fmt.Fprintf(tw, "%s\t", name)
		for _, t := range r.Targets {
			x, ok := r.Results[name][t]
			switch {
			case !ok:
				fmt.Fprint(tw, "-\t")
			case x.Status == "fail":
				fmt.Fprint(tw, "FAIL\t")
				failures = append(failures, x)
			case x.Status == "skip":
				fmt.Fprint(tw, "skip\t")
			default:
				fmt.Fprint(tw, "pass\t")
			}
		}
		fmt.Fprintf(tw, "%s\t%s\n", timing[name], strings.Join(pins[name], " "))
	}
	tw.Flush()
	for _, t := range r.Targets {
		var thirds [3]int
		n := 0
		for _, byT := range r.Results {
			if x, ok := byT[t]; ok && x.Status != "skip" {
				thirds[int(x.Partition.Slot())*3/keyspace.NumSlots]++
				n++
			}
		}
		if n > 0 {
			fmt.Fprintf(w, "%s: %d scenarios in partitions whose slots fall in the thirds of the slot space %d/%d/%d\n", t, n, thirds[0], thirds[1], thirds[2])
		}
	}
	if len(failures) > 0 {
		fmt.Fprintf(w, "\n%d failure(s); first difference of each:\n", len(failures))
		for _, x := range failures {
			fmt.Fprintf(w, "\n--- FAIL %s on %s\n%s\n", x.Scenario, x.Target, x.Detail)
		}
	}
	var skips []string
	for _, name := range names {
		for _, t := range r.Targets {
			if x, ok := r.Results[name][t]; ok && x.Status == "skip" {
				skips = append(skips, fmt.Sprintf("  %s on %s: %s", name, t, x.Detail))
			}
		}
	}
	if len(skips) > 0 {
		fmt.Fprintf(w, "\nskipped:\n%s\n", strings.Join(skips, "\n"))
	}
	fmt.Fprintf(w, "\nTIME: - nothing expires; poll: tiny TTLs and a deadline-bounded poll of the server clock (every target); clock: moves the clock (embedded only)\n")
	fmt.Fprintf(w, "\nknown, documented differences the scenarios encode:\n")
	for _, k := range Known {
		fmt.Fprintf(w, "  %-18s %s (%s)\n", k.ID, k.Summary, k.Source)
	}
}
