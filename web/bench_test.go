package web

import (
	"fmt"
	"io"
	"net/http"
	"net/netip"
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
// 16 concurrent clients. It reports subscribes/s and the p99 latency. Each
// request comes from its own client address (X-Forwarded-For from a
// trusted proxy), as on a real site, so the cap of confirmation mails per
// client stays out of the way.
//
//	go test -run '^$' -bench BenchmarkSubscribe -benchtime 20000x ./web/
func BenchmarkSubscribe(b *testing.B) {
	e := newWebEnv(b, func(c *Config) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")} })
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
			req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/subscribe", strings.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-Forwarded-For", fmt.Sprintf("10.%d.%d.%d", n>>16&255, n>>8&255, n&255))
			t0 := time.Now()
			res, err := client.Do(req)
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
