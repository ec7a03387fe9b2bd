package mailer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	gomail "github.com/wneessen/go-mail"

	"newsletter/columns"
	"newsletter/internal/testkit"
	"newsletter/subscribers"
	"newsletter/templates"
)

// The benchmarks send real campaigns over loopback to a go-smtp server that
// discards what it gets, and compare with bare go-mail driving the same
// server over the same number of connections. Run them with
//
//	go test -run '^$' -bench . -benchtime 1x ./mailer/
//
// Each iteration is a whole campaign, so -benchtime 1x is the useful setting.
// The 1 000 000 subscriber case takes about ten minutes and runs only with
// NEWSLETTER_BENCH_1M=1:
//
//	NEWSLETTER_BENCH_1M=1 go test -run '^$' -bench Campaign1M -benchtime 1x -timeout 1h ./mailer/

const benchWorkers = 4

// benchRenderer renders the real sample column with the real templates.
func benchRenderer(b *testing.B) (*templates.MailRenderer, *columns.Column) {
	b.Helper()
	r, err := templates.NewMailRenderer(templates.MailOptions{Lang: "de", ListName: "KNIEPUNKT",
		Imprint: "Kniepunkt, Musterstraße 1, 12345 Berlin", BaseURL: "https://news.example.org"})
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join("..", "templates", "testdata", "030-heisse-ki-luft.txt")
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	col, err := columns.Parse(path, data, time.UTC)
	if err != nil {
		b.Fatal(err)
	}
	return r, col
}

// cpuTime is the process's user+system CPU time so far: on a shared
// machine, CPU per message is steadier than messages per second.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// resetPeakRSS sets the kernel's high-water mark of the process's resident
// memory (VmHWM) to what is resident now (Linux: "5" to clear_refs), so the
// peak read after a run is the run's, not the set-up's. It reports whether
// the peak can be measured here.
func resetPeakRSS() bool {
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		return false
	}
	_, err := peakRSS()
	return err == nil
}

// peakRSS is VmHWM from /proc/self/status, in bytes: the most memory the
// process held resident (Go heap, stacks, runtime, SQLite's page cache, the
// in-process SMTP server) since the last resetPeakRSS.
func peakRSS() (uint64, error) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmHWM in /proc/self/status")
}

func BenchmarkCampaign(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) { benchCampaign(b, n) })
	}
}

// BenchmarkCampaign1M is the campaign at a million subscribers; it runs
// only with NEWSLETTER_BENCH_1M=1 (about ten minutes).
func BenchmarkCampaign1M(b *testing.B) {
	if os.Getenv("NEWSLETTER_BENCH_1M") != "1" {
		b.Skip("set NEWSLETTER_BENCH_1M=1 to run the 1 000 000 subscriber campaign (about ten minutes)")
	}
	b.Run("subscribers=1000000", func(b *testing.B) { benchCampaign(b, 1_000_000) })
}

func benchCampaign(b *testing.B, n int) {
	e := newTestEnv(b)
	e.srv.Discard = true
	// Through the store's streaming import, as an admin would load a list.
	testkit.ImportSubscribers(b, e.store, "r", n, subscribers.StatusActive)
	r, col := benchRenderer(b)
	m, err := New(e.db, e.store, TemplateRenderer(r), func() Options {
		o := e.opts
		o.Workers = benchWorkers
		o.Logger = nil
		return o
	}())
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	number := 100
	var snapshot, send, cpu time.Duration
	var peak, rss uint64
	rssOK := true
	b.ResetTimer()
	for range b.N {
		number++
		file := filepath.Join(e.dir, fmt.Sprintf("%03d.txt", number))
		src := bytes.Replace(col.Source, []byte("KNIEPUNKT 030"), fmt.Appendf(nil, "KNIEPUNKT %03d", number), 1)
		if err := os.WriteFile(file, src, 0o644); err != nil {
			b.Fatal(err)
		}
		c, err := columns.Parse(file, src, time.UTC)
		if err != nil {
			b.Fatal(err)
		}
		rssOK = rssOK && resetPeakRSS()
		stop := testkit.PeakMem(func(ms *runtime.MemStats) uint64 { return ms.HeapInuse })
		t0 := time.Now()
		camp, err := e.campaigns().Start(context.Background(), c)
		if err != nil {
			b.Fatal(err)
		}
		t1, c1 := time.Now(), cpuTime()
		res, err := m.RunCampaign(context.Background(), camp, RunOptions{})
		if err != nil {
			b.Fatal(err)
		}
		snapshot += t1.Sub(t0)
		send += time.Since(t1)
		cpu += cpuTime() - c1
		peak = max(peak, stop())
		if rssOK {
			hwm, err := peakRSS()
			rssOK = err == nil
			rss = max(rss, hwm)
		}
		if res.Counts.Sent != n {
			b.Fatalf("sent %d of %d", res.Counts.Sent, n)
		}
	}
	b.ReportMetric(float64(n*b.N)/send.Seconds(), "msgs/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(n*b.N), "cpu-µs/msg")
	b.ReportMetric(float64(snapshot.Milliseconds())/float64(b.N), "snapshot-ms")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	if rssOK {
		b.ReportMetric(float64(rss)/1e6, "peak-rss-MB")
	} else {
		b.Log("peak RSS not measured: needs Linux /proc/self/clear_refs and VmHWM")
	}
}

// BenchmarkBareGoMail is the reference: the same messages, personalised the
// same way, sent by go-mail clients kept open (DialWithContext + Send), one
// per connection, with no delivery log.
func BenchmarkBareGoMail(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) { benchBareGoMail(b, n) })
	}
}

func benchBareGoMail(b *testing.B, n int) {
	e := newTestEnv(b)
	e.srv.Discard = true
	r, col := benchRenderer(b)
	prep, err := r.Prepare(col)
	if err != nil {
		b.Fatal(err)
	}
	var send, cpu time.Duration
	b.ResetTimer()
	for range b.N {
		t0, c0 := time.Now(), cpuTime()
		var next atomic.Int64
		var wg sync.WaitGroup
		for range benchWorkers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				o := &Options{SMTPAddr: e.srv.Addr, SMTPTLS: TLSOpportunistic, SMTPTimeout: 30 * time.Second}
				s, err := newSender(o, "kolumne@example.org")
				if err != nil {
					b.Error(err)
					return
				}
				c, err := newMailClient(o, s.host, s.port)
				if err != nil {
					b.Error(err)
					return
				}
				if err := c.DialWithContext(context.Background()); err != nil {
					b.Error(err)
					return
				}
				defer c.Close()
				for {
					i := next.Add(1)
					if i > int64(n) {
						return
					}
					to := fmt.Sprintf("r%d@example.net", i)
					rm := prep.Personalize(templates.Recipient{Email: to, Name: "Leserin", UnsubscribeURL: "https://news.example.org/unsubscribe?token=AQ2x3l0bfQ9bLk6Lz3a0lXGz"})
					msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
					_ = msg.From("Kniepunkt <kolumne@example.org>")
					_ = msg.AddToFormat("Leserin", to)
					msg.Subject(rm.Subject)
					msg.SetDate()
					msg.SetMessageIDWithValue(fmt.Sprintf("c30.s%d.x@example.org", i))
					msg.SetListUnsubscribe("https://news.example.org/unsubscribe?token=AQ2x3l0bfQ9bLk6Lz3a0lXGz")
					msg.SetListUnsubscribePost()
					msg.SetBodyString(gomail.TypeTextPlain, rm.Text)
					msg.AddAlternativeString(gomail.TypeTextHTML, rm.HTML)
					if err := c.Send(msg); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		send += time.Since(t0)
		cpu += cpuTime() - c0
	}
	if e.srv.Count() != n*b.N {
		b.Fatalf("server got %d of %d", e.srv.Count(), n*b.N)
	}
	b.ReportMetric(float64(n*b.N)/send.Seconds(), "msgs/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(n*b.N), "cpu-µs/msg")
}
