package testkit

import (
	"runtime"
	"sync/atomic"
	"time"
)

// PeakMem samples a memory statistic (say HeapInuse or HeapAlloc of
// runtime.MemStats) every 20 ms until stop is called, and stop returns the
// highest value seen: benchmarks show that memory stays flat however long
// the list.
func PeakMem(stat func(*runtime.MemStats) uint64) (stop func() uint64) {
	var peak atomic.Uint64
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if v := stat(&ms); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-quit:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() uint64 {
		close(quit)
		<-done
		return peak.Load()
	}
}
