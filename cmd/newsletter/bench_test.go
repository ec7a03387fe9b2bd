package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"newsletter/internal/testkit"
	"newsletter/subscribers"
)

// BenchmarkSubscribeDuringCampaign posts the subscribe form to the real
// `newsletter serve` (through run) while its scheduler sends a column to
// 20,000 subscribers, from 16 concurrent clients with distinct addresses and
// the per-IP limit off; each request comes from its own client address
// (X-Forwarded-For from a trusted proxy), so the cap of confirmation mails
// per client stays out of the way. It reports subscribes/s, p50/p99 latency and how many
// campaign mails went out meanwhile, to show the form stays fast under load.
//
//	go test -run '^$' -bench SubscribeDuringCampaign -benchtime 20000x ./cmd/newsletter/
func BenchmarkSubscribeDuringCampaign(b *testing.B) {
	const audience = 20_000
	smtpSrv := testkit.StartSMTP(b)
	smtpSrv.Discard = true
	dbPath, columns := serveFolder(b)
	sample, err := os.ReadFile(filepath.Join("..", "..", "templates", "testdata", "030-heisse-ki-luft.txt"))
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(columns, "030-heisse-ki-luft.txt"), sample, 0o644); err != nil {
		b.Fatal(err)
	}
	d := testkit.OpenDBFile(b, dbPath, nil)
	testkit.ImportSubscribers(b, testkit.NewStore(b, d), "leser", audience, subscribers.StatusActive)
	d.Close() // serve opens the file itself

	p := startServe(b, dbPath, columns, smtpSrv.Addr, "--ip-rate-limit", "0", "--trusted-proxies", "127.0.0.1", "--schedule", "@every 1s", "--workers", "4")
	// Wait until the campaign is under way.
	deadline := time.Now().Add(30 * time.Second)
	for smtpSrv.Count() < 100 {
		if time.Now().After(deadline) {
			b.Fatalf("campaign did not start:\n%s", p.errs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}}
	var seq atomic.Int64
	var mu sync.Mutex
	lat := make([]time.Duration, 0, b.N)
	sentBefore := smtpSrv.Count()
	b.SetParallelism(8) // 8 × GOMAXPROCS(2) = 16 clients
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		local := make([]time.Duration, 0, 1024)
		for pb.Next() {
			n := seq.Add(1)
			body := url.Values{"email": {fmt.Sprintf("last%d@example.org", n)}}.Encode()
			req, err := http.NewRequest(http.MethodPost, p.URL+"/subscribe", strings.NewReader(body))
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
	elapsed := time.Since(start)
	b.StopTimer()
	sentDuring := smtpSrv.Count() - sentBefore
	if len(lat) == 0 {
		return
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "subscribes/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(sentDuring)/elapsed.Seconds(), "campaign-msgs/s")
}
