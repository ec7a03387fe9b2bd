package mailer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	gomail "github.com/wneessen/go-mail"

	"newsletter/columns"
	"newsletter/internal/keyedmac"
	"newsletter/internal/testkit"
	"newsletter/subscribers"
	"newsletter/templates"
)

// The benchmarks send real campaigns over loopback to a go-smtp server that
// discards what it gets, and compare with bare go-mail driving the same
// server over the same number of connections with the same bytes. Run
// them with
//
//	go test -run '^$' -bench . -benchtime 1x ./mailer/
//
// Each iteration is a whole campaign, so -benchtime 1x is the useful
// setting. BenchmarkPaired alternates campaign and bare go-mail three times
// at 4 and at 8 connections and reports the median ratio. The 1 000 000
// subscriber case takes several minutes and runs only with
// NEWSLETTER_BENCH_1M=1:
//
//	NEWSLETTER_BENCH_1M=1 go test -run '^$' -bench Campaign1M -benchtime 1x -timeout 1h ./mailer/
//
// NEWSLETTER_BENCH_HEAPDIR=DIR writes heap profiles of each campaign at a
// quarter, half and three quarters of it into DIR (compare with go tool
// pprof -base; -sample_index=alloc_space shows what was allocated in
// between), and the resident memory with its parts every second
// (memory-NNN.csv); NEWSLETTER_BENCH_DKIM=ed25519 or rsa signs.

const benchWorkers = 4

// benchRenderer renders the real sample column with the real templates.
func benchRenderer(b testing.TB) (*templates.MailRenderer, *columns.Column) {
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
	_, err := procStatus("VmHWM:")
	return err == nil
}

// procStatus reads a size from /proc/self/status, in bytes: VmHWM is the
// most memory the process held resident (Go heap, stacks, runtime,
// SQLite's page cache, the in-process SMTP server) since the last
// resetPeakRSS, VmRSS what it holds now.
func procStatus(field string) (uint64, error) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no " + field + " in /proc/self/status")
}

// rssHalves samples VmRSS every second and keeps the highest value of the
// first and of the second half of a run (by messages done), so a benchmark
// shows whether memory stays flat rather than creeping up. With timeline
// set it also writes each sample there with its parts: anonymous memory
// (Go's and SQLite's), file-backed (the program's code), shared (SQLite's
// WAL index) and what of it the Go runtime holds.
type rssHalves struct {
	mu       sync.Mutex
	second   bool
	done     int
	peak     [2]uint64
	quit     chan struct{}
	finished chan struct{}
}

func watchRSS(timeline io.Writer) *rssHalves {
	w := &rssHalves{quit: make(chan struct{}), finished: make(chan struct{})}
	if timeline != nil {
		fmt.Fprintln(timeline, "seconds,done,rss_mb,anon_mb,file_mb,shmem_mb,go_mb,go_heap_objects_mb,go_stacks_mb,go_heap_free_mb,go_heap_unused_mb,go_metadata_mb,go_other_mb")
	}
	start := time.Now()
	samples := []rtmetrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/stacks:bytes"},
		{Name: "/memory/classes/heap/free:bytes"}, {Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/memory/classes/metadata/mspan/inuse:bytes"}, {Name: "/memory/classes/metadata/mspan/free:bytes"},
		{Name: "/memory/classes/metadata/mcache/inuse:bytes"}, {Name: "/memory/classes/metadata/mcache/free:bytes"},
		{Name: "/memory/classes/metadata/other:bytes"}, {Name: "/memory/classes/other:bytes"},
		{Name: "/memory/classes/os-stacks:bytes"}, {Name: "/memory/classes/profiling/buckets:bytes"}}
	go func() {
		defer close(w.finished)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			if v, err := procStatus("VmRSS:"); err == nil {
				w.mu.Lock()
				h, done := 0, w.done
				if w.second {
					h = 1
				}
				w.peak[h] = max(w.peak[h], v)
				w.mu.Unlock()
				if timeline != nil {
					anon, _ := procStatus("RssAnon:")
					file, _ := procStatus("RssFile:")
					shm, _ := procStatus("RssShmem:")
					rtmetrics.Read(samples)
					mb := func(v uint64) float64 { return float64(v) / 1e6 }
					u := func(i int) uint64 { return samples[i].Value.Uint64() }
					fmt.Fprintf(timeline, "%.0f,%d,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f\n", time.Since(start).Seconds(), done,
						mb(v), mb(anon), mb(file), mb(shm), mb(u(0)-u(1)), mb(u(2)), mb(u(3)), mb(u(4)), mb(u(5)),
						mb(u(6)+u(7)+u(8)+u(9)+u(10)), mb(u(11)+u(12)+u(13)))
				}
			}
			select {
			case <-t.C:
			case <-w.quit:
				return
			}
		}
	}()
	return w
}

func (w *rssHalves) progress(done, total int) {
	w.mu.Lock()
	w.done = done
	w.second = w.second || 2*done >= total
	w.mu.Unlock()
}

func (w *rssHalves) stop() [2]uint64 {
	close(w.quit)
	<-w.finished
	return w.peak
}

// campaignBench is n imported subscribers, a discarding sink and the real
// renderer, for sending whole campaigns one after another.
type campaignBench struct {
	b      *testing.B
	e      *testEnv
	r      *templates.MailRenderer
	col    *columns.Column
	n      int
	number int
}

func newCampaignBench(b *testing.B, n int) *campaignBench {
	e := newTestEnv(b)
	e.srv.Discard = true
	// Through the store's streaming import, as an admin would load a list.
	testkit.ImportSubscribers(b, e.store, "r", n, subscribers.StatusActive)
	r, col := benchRenderer(b)
	return &campaignBench{b: b, e: e, r: r, col: col, n: n, number: 100}
}

// mailer sends over workers connections, signing as NEWSLETTER_BENCH_DKIM
// says.
func (cb *campaignBench) mailer(workers int) *Mailer {
	o := cb.e.opts
	o.Workers = workers
	o.Logger = nil
	switch os.Getenv("NEWSLETTER_BENCH_DKIM") {
	case "":
	case "ed25519":
		key, _ := dkimTestKeys(cb.b)
		o.DKIM = &DKIMOptions{Domain: "example.org", Selector: "sel1", Key: key}
	case "rsa":
		_, key := dkimTestKeys(cb.b)
		o.DKIM = &DKIMOptions{Domain: "example.org", Selector: "sel1", Key: key}
	default:
		cb.b.Fatal("NEWSLETTER_BENCH_DKIM: want ed25519 or rsa")
	}
	m, err := New(cb.e.db, cb.e.store, TemplateRenderer(cb.r), o)
	if err != nil {
		cb.b.Fatal(err)
	}
	return m
}

// campaignRun is what one campaign took.
type campaignRun struct {
	snapshot, snapshotCPU time.Duration // CampaignStore.Start
	send, cpu             time.Duration // RunCampaign
	commits               int           // the marker's (one Progress call each)
	rssHalves             [2]uint64
}

// campaign starts the next column's campaign and sends it to everyone.
func (cb *campaignBench) campaign(m *Mailer) campaignRun {
	b := cb.b
	cb.number++
	file := filepath.Join(cb.e.dir, fmt.Sprintf("%03d.txt", cb.number))
	src := bytes.Replace(cb.col.Source, []byte("KNIEPUNKT 030"), fmt.Appendf(nil, "KNIEPUNKT %03d", cb.number), 1)
	if err := os.WriteFile(file, src, 0o644); err != nil {
		b.Fatal(err)
	}
	c, err := columns.Parse(file, src, time.UTC)
	if err != nil {
		b.Fatal(err)
	}
	var run campaignRun
	t0, c0 := time.Now(), cpuTime()
	camp, err := cb.e.campaigns().Start(context.Background(), c)
	if err != nil {
		b.Fatal(err)
	}
	t1, c1 := time.Now(), cpuTime()
	run.snapshot, run.snapshotCPU = t1.Sub(t0), c1-c0
	var timeline io.Writer
	if dir := os.Getenv("NEWSLETTER_BENCH_HEAPDIR"); dir != "" {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("memory-%03d.csv", cb.number)))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		timeline = f
	}
	rss := watchRSS(timeline)
	heap := heapProfiles(b, cb.number)
	res, err := m.RunCampaign(context.Background(), camp, RunOptions{Progress: func(done, total int) {
		run.commits++
		rss.progress(done, total)
		heap(done, total)
	}})
	if err != nil {
		b.Fatal(err)
	}
	run.send, run.cpu = time.Since(t1), cpuTime()-c1
	run.rssHalves = rss.stop()
	if res.Counts.Sent != cb.n {
		b.Fatalf("sent %d of %d", res.Counts.Sent, cb.n)
	}
	return run
}

// heapProfiles returns a progress callback that writes heap profiles at a
// quarter, half and three quarters of a campaign into
// NEWSLETTER_BENCH_HEAPDIR, if set.
func heapProfiles(b *testing.B, number int) func(done, total int) {
	dir := os.Getenv("NEWSLETTER_BENCH_HEAPDIR")
	next := 1
	return func(done, total int) {
		// Not at the end: writing the profile takes memory of its own,
		// which the run's peak would then show.
		if dir == "" || next > 3 || 4*done < next*total {
			return
		}
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("heap-%03d-%d.pprof", number, 25*next)))
		if err != nil {
			b.Error(err)
			return
		}
		defer f.Close()
		runtime.GC()
		if err := pprof.WriteHeapProfile(f); err != nil {
			b.Error(err)
		}
		next++
	}
}

// bare sends a message to every subscriber with go-mail alone, as perfpair's
// reference does: the composer's go-mail message (Msg.WriteTo into
// go-mail's DATA writer: the same bytes the campaign sends), over workers
// go-mail Clients kept open, 100 messages per Send, no NOOP, no RSET, no
// delivery log.
func (cb *campaignBench) bare(m *Mailer, workers int) (send, cpu time.Duration) {
	b := cb.b
	prep, err := cb.r.Prepare(cb.col)
	if err != nil {
		b.Fatal(err)
	}
	type rcpt struct {
		id          int64
		email, name string
	}
	var all []rcpt
	rows, err := cb.e.db.SQL().Query(`SELECT id, email, name FROM subscriber_mailability WHERE mailable ORDER BY id`)
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
		var r rcpt
		if err := rows.Scan(&r.id, &r.email, &r.name); err != nil {
			b.Fatal(err)
		}
		all = append(all, r)
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	rows.Close()
	before := cb.e.srv.Count()
	t0, c0 := time.Now(), cpuTime()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := newMailClient(&m.opts, m.sender.host, m.sender.port, gomail.WithoutRset())
			if err != nil {
				b.Error(err)
				return
			}
			if err := c.DialWithContext(context.Background()); err != nil {
				b.Error(err)
				return
			}
			defer c.Close()
			msgs := make([]*gomail.Msg, 0, 100)
			for {
				start := int(next.Add(100)) - 100
				if start >= len(all) {
					return
				}
				msgs = msgs[:0]
				for _, r := range all[start:min(start+100, len(all))] {
					unsub := m.unsubscribeURL(r.id)
					rm := prep.Personalize(templates.Recipient{Email: r.email, Name: r.name, UnsubscribeURL: unsub})
					msg, err := m.composer.message(envelope{ToEmail: r.email, ToName: r.name, Mail: rm,
						MessageID: campaignMessageID(m.ids, cb.number, r.id, m.from.domain), UnsubscribeURL: unsub, Date: time.Now()})
					if err != nil {
						b.Error(err)
						return
					}
					msgs = append(msgs, msg)
				}
				if err := c.Send(msgs...); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	send, cpu = time.Since(t0), cpuTime()-c0
	if got := cb.e.srv.Count() - before; got != len(all) {
		b.Fatalf("server got %d of %d", got, len(all))
	}
	return send, cpu
}

func BenchmarkCampaign(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) { benchCampaign(b, n) })
	}
}

// BenchmarkCampaign1M is the campaign at a million subscribers; it runs
// only with NEWSLETTER_BENCH_1M=1 (several minutes).
func BenchmarkCampaign1M(b *testing.B) {
	if os.Getenv("NEWSLETTER_BENCH_1M") != "1" {
		b.Skip("set NEWSLETTER_BENCH_1M=1 to run the 1 000 000 subscriber campaign (several minutes)")
	}
	b.Run("subscribers=1000000", func(b *testing.B) { benchCampaign(b, 1_000_000) })
}

func benchCampaign(b *testing.B, n int) {
	cb := newCampaignBench(b, n)
	m := cb.mailer(benchWorkers)
	runtime.GC()
	var snapshot, snapshotCPU, send, cpu time.Duration
	var peak, rss uint64
	commits := 0
	var halves [2]uint64
	rssOK := true
	b.ResetTimer()
	for range b.N {
		rssOK = rssOK && resetPeakRSS()
		stop := testkit.PeakMem(func(ms *runtime.MemStats) uint64 { return ms.HeapInuse })
		run := cb.campaign(m)
		snapshot += run.snapshot
		snapshotCPU += run.snapshotCPU
		send += run.send
		cpu += run.cpu
		commits += run.commits
		peak = max(peak, stop())
		halves[0], halves[1] = max(halves[0], run.rssHalves[0]), max(halves[1], run.rssHalves[1])
		if rssOK {
			hwm, err := procStatus("VmHWM:")
			rssOK = err == nil
			rss = max(rss, hwm)
		}
	}
	b.ReportMetric(float64(n*b.N)/send.Seconds(), "msgs/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(n*b.N), "cpu-µs/msg")
	b.ReportMetric(float64(commits)/send.Seconds(), "commits/s")
	b.ReportMetric(float64(n*b.N)/float64(commits), "rows/commit")
	b.ReportMetric(float64(snapshot.Milliseconds())/float64(b.N), "snapshot-ms")
	b.ReportMetric(float64(snapshotCPU.Milliseconds())/float64(b.N), "snapshot-cpu-ms")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	if rssOK {
		b.ReportMetric(float64(rss)/1e6, "peak-rss-MB")
		b.ReportMetric(float64(halves[0])/1e6, "rss-1st-half-MB")
		b.ReportMetric(float64(halves[1])/1e6, "rss-2nd-half-MB")
	} else {
		b.Log("peak RSS not measured: needs Linux /proc/self/clear_refs and VmHWM")
	}
}

// BenchmarkBareGoMail is the reference alone: the same messages sent by
// bare go-mail over the same four connections.
func BenchmarkBareGoMail(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			cb := newCampaignBench(b, n)
			m := cb.mailer(benchWorkers)
			var send, cpu time.Duration
			b.ResetTimer()
			for range b.N {
				s, c := cb.bare(m, benchWorkers)
				send, cpu = send+s, cpu+c
			}
			b.ReportMetric(float64(n*b.N)/send.Seconds(), "msgs/s")
			b.ReportMetric(float64(cpu.Microseconds())/float64(n*b.N), "cpu-µs/msg")
		})
	}
}

// BenchmarkPaired runs, at 4 and at 8 connections, three rounds of a
// campaign (delivery log written) and bare go-mail on the same bytes, one
// right after the other so that both see the machine in the same state,
// and reports the median of the rounds' ratios and of each side's CPU per
// message. Each round's figures are logged (-v).
func BenchmarkPaired(b *testing.B) {
	const n, rounds = 10_000, 3
	for _, conns := range []int{4, 8} {
		b.Run(fmt.Sprintf("connections=%d", conns), func(b *testing.B) {
			cb := newCampaignBench(b, n)
			m := cb.mailer(conns)
			var ratios, campCPU, bareCPU []float64
			b.ResetTimer()
			for range b.N {
				for r := 1; r <= rounds; r++ {
					run := cb.campaign(m)
					bs, bc := cb.bare(m, conns)
					camp, bare := float64(n)/run.send.Seconds(), float64(n)/bs.Seconds()
					ratios = append(ratios, camp/bare)
					campCPU = append(campCPU, float64(run.cpu.Microseconds())/n)
					bareCPU = append(bareCPU, float64(bc.Microseconds())/n)
					b.Logf("round %d: campaign %.0f msgs/s (%.0f CPU µs/msg), bare go-mail %.0f msgs/s (%.0f CPU µs/msg), ratio %.2f",
						r, camp, campCPU[len(campCPU)-1], bare, bareCPU[len(bareCPU)-1], camp/bare)
				}
			}
			b.ReportMetric(median(ratios), "median-ratio")
			b.ReportMetric(median(campCPU), "campaign-cpu-µs/msg")
			b.ReportMetric(median(bareCPU), "bare-cpu-µs/msg")
		})
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkCompose is the CPU one message costs before it goes on the
// wire, column 030 for changing recipients: composed in full through
// go-mail (and signed by go-msgauth), as one-off mails are, or through the
// campaign's mail encoded once; unsigned, and signed with Ed25519 and with
// RSA-2048.
func BenchmarkCompose(b *testing.B) {
	edKey, rsaKey := dkimTestKeys(b)
	pm := realPrepared(b)
	for _, sig := range []struct {
		name string
		opts *DKIMOptions
	}{
		{"none", nil},
		{"ed25519", &DKIMOptions{Domain: "example.org", Selector: "sel1", Key: edKey}},
		{"rsa2048", &DKIMOptions{Domain: "example.org", Selector: "sel1", Key: rsaKey}},
	} {
		dk, err := newDKIMSigner(sig.opts)
		if err != nil {
			b.Fatal(err)
		}
		c := goldenComposer(b, dk)
		c.boundary = ""
		rcpt := func(i int) campaignRecipient {
			return campaignRecipient{Email: fmt.Sprintf("r%d@example.net", i), Name: fmt.Sprintf("Leserin r%d", i),
				MessageID:      campaignMessageID(keyedmac.New([]byte("k")), 30, int64(i), "example.org"),
				UnsubscribeURL: "https://news.example.org/unsubscribe?token=AQ2x3l0bfQ9bLk6Lz3a0lXGz" + strconv.Itoa(i),
				Date:           time.Now()}
		}
		b.Run("path=gomail/dkim="+sig.name, func(b *testing.B) {
			var buf bytes.Buffer
			for i := range b.N {
				r := rcpt(i)
				rm := pm.Personalize(templates.Recipient{Email: r.Email, Name: r.Name, UnsubscribeURL: r.UnsubscribeURL})
				if err := c.compose(envelope{ToEmail: r.Email, ToName: r.Name, Mail: rm, MessageID: r.MessageID,
					UnsubscribeURL: r.UnsubscribeURL, Date: r.Date}, &buf); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(buf.Len()))
		})
		b.Run("path=campaign/dkim="+sig.name, func(b *testing.B) {
			cm, err := c.campaign(pm)
			if err != nil {
				b.Fatal(err)
			}
			w := cm.newWriter()
			var buf bytes.Buffer
			b.ResetTimer()
			for i := range b.N {
				if err := w.write(&buf, rcpt(i)); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(buf.Len()))
		})
	}
}
