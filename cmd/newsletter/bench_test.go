package main

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"newsletter/internal/testkit"
	"newsletter/subscribers"
)

// BenchmarkSubscribeDuringCampaign posts the subscribe form to the real
// `newsletter serve` (through run) while its scheduler sends a column to
// 20,000 subscribers, from 16 concurrent clients with distinct addresses and
// the per-IP limit off (testkit.SubscribeLoad). It reports subscribes/s, p50/p99 latency and how many
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
	testkit.Eventually(b, "the campaign to be under way", func() bool { return smtpSrv.Count() >= 100 })

	sentBefore := smtpSrv.Count()
	ok, elapsed := testkit.SubscribeLoad(b, p.URL, func(n int64) url.Values {
		return url.Values{"email": {fmt.Sprintf("last%d@example.org", n)}}
	})
	if ok == 0 {
		return
	}
	b.ReportMetric(float64(smtpSrv.Count()-sentBefore)/elapsed.Seconds(), "campaign-msgs/s")
}
