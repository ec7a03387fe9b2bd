package testkit

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

// SubscribeLoad posts the subscribe form to baseURL b.N times from 16
// concurrent clients (8 × GOMAXPROCS(2)), form(n) giving the n-th request's
// fields (each its own address, say). Each request comes from its own
// client address (X-Forwarded-For 10.x.y.z, for a site that trusts
// loopback as its proxy), as on a real site, so the cap of confirmation
// mails per client stays out of the way. It times only the posting,
// reports subscribes/s and the p50 and p99 latency, and returns how many
// requests were answered 200 and how long the load took.
func SubscribeLoad(b *testing.B, baseURL string, form func(n int64) url.Values) (ok int, elapsed time.Duration) {
	b.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}}
	var seq atomic.Int64
	var mu sync.Mutex
	lat := make([]time.Duration, 0, b.N)
	b.SetParallelism(8)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		local := make([]time.Duration, 0, 1024)
		for pb.Next() {
			n := seq.Add(1)
			req, err := http.NewRequest(http.MethodPost, baseURL+"/subscribe", strings.NewReader(form(n).Encode()))
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
			if res.StatusCode != http.StatusOK {
				b.Errorf("status %d", res.StatusCode)
				return
			}
			local = append(local, time.Since(t0))
		}
		mu.Lock()
		lat = append(lat, local...)
		mu.Unlock()
	})
	elapsed = time.Since(start)
	b.StopTimer()
	if len(lat) > 0 {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "subscribes/s")
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	}
	return len(lat), elapsed
}
