// Package benchrun runs a benchmark's operation from parallel goroutines
// and reports throughput and latency percentiles, so benchmarks of the
// service and of the same writes in raw SQL are measured the same way.
package benchrun

import (
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Parallel calls op b.N times from parallelism × GOMAXPROCS goroutines,
// giving each call a sequence number (for picking a target), and reports
// "<unit>/s", "p50-ms" and "p99-ms". The first error fails the benchmark.
func Parallel(b *testing.B, parallelism int, unit string, op func(seq int64) error) {
	var next atomic.Int64
	var mu sync.Mutex
	var all []time.Duration
	b.SetParallelism(parallelism)
	b.ResetTimer()
	began := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			t0 := time.Now()
			if err := op(next.Add(1)); err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, time.Since(t0))
		}
		mu.Lock()
		all = append(all, mine...)
		mu.Unlock()
	})
	elapsed := time.Since(began)
	b.StopTimer()
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	pct := func(p float64) float64 {
		return float64(all[int(p*float64(len(all)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), unit+"/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
