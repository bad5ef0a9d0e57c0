package main

import (
	"fmt"
	"slices"
	"sync/atomic"
	"time"
)

// percentile returns the q-quantile (0..1) of d by the nearest-rank method.
// d must be sorted.
func percentile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(q*float64(len(d))+0.5) - 1
	i = max(0, min(i, len(d)-1))
	return d[i]
}

// latencies holds the p50 and p99 of one run.
type latencies struct {
	P50, P99 time.Duration
}

func summarize(d []time.Duration) latencies {
	slices.Sort(d)
	return latencies{P50: percentile(d, 0.50), P99: percentile(d, 0.99)}
}

// median returns the median of xs (the mean of the two middle values for an
// even count). It does not modify xs.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// ms formats a duration in milliseconds with three decimals.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.3f", float64(d)/float64(time.Millisecond))
}

// msf formats a value already in milliseconds.
func msf(v float64) string { return fmt.Sprintf("%.3f", v) }

func durMs(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// progress logs done/total every 2 seconds until the returned stop is called.
func progress(label string, total int, done *atomic.Int64) (stop func()) {
	quit := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				logf("  %s: %d/%d", label, done.Load(), total)
			}
		}
	}()
	return func() { close(quit); <-finished }
}
