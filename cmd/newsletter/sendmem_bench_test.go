package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"newsletter/internal/testkit"
)

// BenchmarkSendMemory measures the resident memory of the product itself:
// the `newsletter` binary, built from this package, runs `send` as its own
// process to the in-test SMTP server (which discards what it receives),
// with the sample column 030 (~11 KB a mail), 4 connections, on a SQLite
// file seeded through the import. It reports the process's peak RSS (the
// kernel's high-water mark VmHWM of the process, read every 20 ms until it
// exits), the highest RSS sampled in the first and in the second half of
// the run (equal halves: flat), the file-backed and anonymous parts at
// their highest, and messages per second (of the whole process: start-up
// and snapshot included). 100 000 subscribers always; 1 000 000 (several
// minutes) only with NEWSLETTER_BENCH_1M=1:
//
//	go test -run '^$' -bench SendMemory -benchtime 1x -timeout 1h ./cmd/newsletter/
//
// Linux only (it reads /proc/PID/status). Not wait4's ru_maxrss: Go starts
// a child with vfork, and the kernel counts the memory the child shared
// until its exec, the parent's (this test process with the seeded list),
// into the child's maximum.
func BenchmarkSendMemory(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("reads /proc/PID/status")
	}
	sizes := []int{100_000}
	if os.Getenv("NEWSLETTER_BENCH_1M") == "1" {
		sizes = append(sizes, 1_000_000)
	}
	bin := buildNewsletter(b)
	for _, n := range sizes {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			var peak, half1, half2, file, anon uint64
			var send time.Duration
			for range b.N {
				b.StopTimer()
				f := newSendFixtureAt(b, n, testkit.NewEmptyDBName(b))
				f.useSampleColumn(b)
				f.srv.Discard = true
				b.StartTimer()
				m := measureSend(b, bin, f)
				b.StopTimer()
				if got := f.srv.Count(); got != n {
					b.Fatalf("the server got %d of %d messages", got, n)
				}
				peak, send = max(peak, m.peak), send+m.wall
				half1, half2 = max(half1, m.halves[0]), max(half2, m.halves[1])
				file, anon = max(file, m.file), max(anon, m.anon)
			}
			b.ReportMetric(float64(n*b.N)/send.Seconds(), "msgs/s")
			b.ReportMetric(mb(peak), "peak-rss-MB")
			b.ReportMetric(mb(half1), "rss-1st-half-MB")
			b.ReportMetric(mb(half2), "rss-2nd-half-MB")
			b.ReportMetric(mb(file), "rss-file-MB")
			b.ReportMetric(mb(anon), "rss-anon-MB")
		})
	}
}

func mb(n uint64) float64 { return float64(n) / 1e6 }

// buildNewsletter builds this package's binary as `make build` does.
func buildNewsletter(b *testing.B) string {
	b.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		b.Skip("needs the go command to build the binary")
	}
	bin := filepath.Join(b.TempDir(), "newsletter")
	if out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// useSampleColumn replaces the fixture's short column with the real sample.
func (f *sendFixture) useSampleColumn(tb testing.TB) {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "templates", "testdata", "030-heisse-ki-luft.txt"))
	if err != nil {
		tb.Fatal(err)
	}
	entries, err := os.ReadDir(f.columns)
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range entries {
		if err := os.Remove(filepath.Join(f.columns, e.Name())); err != nil {
			tb.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(f.columns, "030-heisse-ki-luft.txt"), data, 0o644); err != nil {
		tb.Fatal(err)
	}
}

// sendMemory is one `send` process's memory and time.
type sendMemory struct {
	peak       uint64    // the last VmHWM read before the exit
	halves     [2]uint64 // highest sampled VmRSS per half of the run
	file, anon uint64    // highest sampled RssFile and RssAnon
	wall       time.Duration
}

// measureSend runs `bin send` configured for f and samples its memory.
func measureSend(b *testing.B, bin string, f *sendFixture) sendMemory {
	b.Helper()
	cmd := exec.Command(bin, "send")
	cmd.Env = os.Environ()
	for k, v := range f.env() {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	type sample struct {
		at                   time.Duration
		hwm, rss, file, anon uint64
	}
	var samples []sample
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			s, err := readStatus(cmd.Process.Pid)
			if err == nil {
				samples = append(samples, sample{time.Since(t0), s["VmHWM:"], s["VmRSS:"], s["RssFile:"], s["RssAnon:"]})
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	err := cmd.Wait()
	wall := time.Since(t0)
	close(done)
	wg.Wait()
	if err != nil {
		b.Fatalf("send: %v\n%s", err, out.String())
	}
	logTrouble(b, []*bytes.Buffer{&out})
	m := sendMemory{wall: wall}
	for _, s := range samples {
		if s.at > wall {
			break // read after the exit: the pid may be another process's
		}
		h := 0
		if s.at > wall/2 {
			h = 1
		}
		m.peak, m.halves[h] = max(m.peak, s.hwm), max(m.halves[h], s.rss)
		m.file, m.anon = max(m.file, s.file), max(m.anon, s.anon)
	}
	return m
}

// readStatus reads the sizes (in bytes) of /proc/PID/status.
func readStatus(pid int) (map[string]uint64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	sizes := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 3 && f[2] == "kB" {
			if v, err := strconv.ParseUint(f[1], 10, 64); err == nil {
				sizes[f[0]] = v * 1024
			}
		}
	}
	return sizes, nil
}
