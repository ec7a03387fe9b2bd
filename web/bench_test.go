package web

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkSubscribe posts the subscribe form over real HTTP (loopback)
// with distinct addresses, the per-IP limit off, into a SQLite file, from
// 16 concurrent clients. It reports subscribes/s and the p99 latency.
//
//	go test -run '^$' -bench BenchmarkSubscribe -benchtime 20000x ./web/
func BenchmarkSubscribe(b *testing.B) {
	e := newWebEnv(b, nil)
	tr := &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}
	client := &http.Client{Transport: tr}
	var seq atomic.Int64
	var mu sync.Mutex
	lat := make([]time.Duration, 0, b.N)
	b.SetParallelism(8) // 8 × GOMAXPROCS(2) = 16 concurrent clients
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		local := make([]time.Duration, 0, 1024)
		for pb.Next() {
			n := seq.Add(1)
			body := url.Values{"email": {fmt.Sprintf("bench%d@example.org", n)}, "name": {"Bench"}}.Encode()
			t0 := time.Now()
			res, err := client.Post(e.srv.URL+"/subscribe", "application/x-www-form-urlencoded", strings.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			local = append(local, time.Since(t0))
			if res.StatusCode != http.StatusOK {
				b.Errorf("status %d", res.StatusCode)
				return
			}
		}
		mu.Lock()
		lat = append(lat, local...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "subscribes/s")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	}
	if n := e.queued(); n != len(lat) {
		b.Errorf("outbox rows %d, want %d", n, len(lat))
	}
}
