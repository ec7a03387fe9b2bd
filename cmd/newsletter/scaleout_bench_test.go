package main

import (
	"fmt"
	"os"
	"testing"
	"time"

	"newsletter/internal/testkit"
)

// BenchmarkSendProcesses is one campaign of 10 000 messages to the in-test
// SMTP server sent by k `newsletter send` processes at once (4 connections
// each), on a SQLite file and on PostgreSQL (a local throw-away cluster on
// the same machine). It measures the whole campaign, from the processes'
// start (the first one starts the campaign, the others join) to the last
// one's exit:
//
//	go test -run '^$' -bench SendProcesses -benchtime 1x ./cmd/newsletter/
func BenchmarkSendProcesses(b *testing.B) {
	const n = 10_000
	lease := os.Getenv("BENCH_LEASE")
	if lease == "" {
		lease = "2s"
	}
	for _, engine := range []string{"sqlite", "postgres"} {
		for _, k := range []int{1, 3} {
			b.Run(fmt.Sprintf("engine=%s/processes=%d", engine, k), func(b *testing.B) {
				var send time.Duration
				dups := 0
				for range b.N {
					b.StopTimer()
					dsn := testkit.NewEmptyDBName(b)
					if engine == "postgres" {
						dsn = testkit.PostgresURL(b, false)
					}
					f := newSendFixtureAt(b, n, dsn)
					f.vars = map[string]string{"NEWSLETTER_LEASE": lease}
					b.StartTimer()
					t0 := time.Now()
					cmds, outs := startSenders(b, f, k)
					for i, c := range cmds {
						if err := c.Wait(); err != nil {
							b.Fatalf("sender %d: %v\n%s", i, err, outs[i])
						}
					}
					send += time.Since(t0)
					logTrouble(b, outs)
					if got := len(f.srv.ByRecipient()); got != n {
						b.Fatalf("%d of %d recipients got the column", got, n)
					}
					dups += f.srv.Count() - n
				}
				b.ReportMetric(float64(n*b.N)/send.Seconds(), "msgs/s")
				// Duplicates are reported, not refused: TestPostgresThreeSendersOnce
				// is the test; here they show what load does to the leases.
				b.ReportMetric(float64(dups)/float64(b.N), "dups/op")
			})
		}
	}
}
