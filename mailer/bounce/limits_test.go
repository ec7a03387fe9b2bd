package bounce

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// countingReader counts what Parse takes from it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// A report with a huge returned message is read only up to MaxSize, and
// what comes first (the delivery-status) is still understood.
func TestParseReadsAtMostMaxSize(t *testing.T) {
	head, err := os.ReadFile(filepath.Join("testdata", "postfix_user_unknown.eml"))
	if err != nil {
		t.Fatal(err)
	}
	big := append(append([]byte{}, head[:bytes.LastIndex(head, []byte("--4ZkQ2l6Y1Wz1xR7"))]...),
		bytes.Repeat([]byte("padding line of the returned message\n"), 300000)...)
	r := &countingReader{r: bytes.NewReader(big)}
	p := Parser{MaxSize: 1 << 20}
	rep, err := p.Parse(r)
	if err != nil {
		t.Fatal(err)
	}
	if r.n > p.MaxSize+1 {
		t.Errorf("read %d bytes, want at most %d", r.n, p.MaxSize+1)
	}
	if !rep.Truncated {
		t.Error("Truncated = false for a message over the limit")
	}
	if got := eventLines(rep); len(got) != 1 || got[0] != "hard 5.1.1 anna.schmidt@example.net" {
		t.Errorf("events = %q", got)
	}
}

func TestParseManyParts(t *testing.T) {
	var b strings.Builder
	b.WriteString("From: MAILER-DAEMON@x.example\nContent-Type: multipart/mixed; boundary=b\n\n")
	for i := 0; i < 20000; i++ {
		fmt.Fprintf(&b, "--b\nContent-Type: text/plain\n\npart %d\n", i)
	}
	b.WriteString("--b--\n")
	m := Parser{}.readForTest(t, b.String())
	if m.parts > defaultMaxParts {
		t.Errorf("looked at %d parts, want at most %d", m.parts, defaultMaxParts)
	}
}

func TestParseDeepNesting(t *testing.T) {
	var b strings.Builder
	b.WriteString("From: MAILER-DAEMON@x.example\nContent-Type: multipart/mixed; boundary=b0\n\n")
	const depth = 500
	for i := 0; i < depth; i++ {
		fmt.Fprintf(&b, "--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n", i, i+1)
	}
	rep, err := Parse(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rep.Problem, "nested too deep") {
		t.Errorf("Problem = %q, want it to say the nesting is too deep", rep.Problem)
	}
}

var errBroken = errors.New("connection reset")

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errBroken }

// A failing reader is an error (the caller may try again); bad mail is not.
func TestParseReadError(t *testing.T) {
	if _, err := Parse(failingReader{}); !errors.Is(err, errBroken) {
		t.Errorf("err = %v, want %v", err, errBroken)
	}
}

func (p Parser) readForTest(t *testing.T, s string) *message {
	t.Helper()
	rep := &Report{}
	m := p.read([]byte(s), rep)
	if m == nil {
		t.Fatalf("unreadable: %s", rep.Problem)
	}
	return m
}
