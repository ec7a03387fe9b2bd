//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// openPTY opens a pseudo-terminal: the program writes to tty (a terminal
// for isTerminal), the test reads what it shows from ptmx.
func openPTY(t *testing.T) (ptmx, tty *os.File) {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, ptmx.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		ptmx.Close()
		t.Skipf("unlockpt: %v", e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, ptmx.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		ptmx.Close()
		t.Skipf("ptsname: %v", e)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		ptmx.Close()
		t.Skipf("open pts: %v", err)
	}
	t.Cleanup(func() { tty.Close(); ptmx.Close() })
	return ptmx, tty
}

// runOnTerminal runs `newsletter ARGS…` with stdout on a pseudo-terminal
// and returns what the terminal got (its CR LF line ends made LF).
func runOnTerminal(t *testing.T, env map[string]string, args ...string) (string, int) {
	t.Helper()
	ptmx, tty := openPTY(t)
	got := make(chan []byte)
	go func() {
		var b bytes.Buffer
		io.Copy(&b, ptmx) // ends with EIO once the tty side is closed
		got <- b.Bytes()
	}()
	var errb bytes.Buffer
	code := run(context.Background(), append([]string{"newsletter"}, args...), func(k string) string { return env[k] },
		strings.NewReader(""), tty, &errb)
	tty.Close()
	out := strings.ReplaceAll(string(<-got), "\r\n", "\n")
	if code != 0 {
		t.Fatalf("%v: code %d\n%s", args, code, errb.String())
	}
	return out, code
}

// On a terminal `subscribers export` and `list --format csv` escape every
// cell (the acceptance test saw "Eve <U+202E> evE" raw); to a pipe they
// write the exact data, so the export still round-trips.
func TestCSVOnTerminalEscaped(t *testing.T) {
	c := newCLI(t)
	seedOutsideText(t, c)
	for _, args := range [][]string{{"subscribers", "export"}, {"subscribers", "list", "--format", "csv"}} {
		out, _ := runOnTerminal(t, c.env, append(args, "--db", c.db)...)
		if r, bad := dangerous(out); bad {
			t.Errorf("%v on a terminal: %U raw:\n%q", args, r, out)
		}
		if !strings.Contains(out, `Eve \u202egnp.exe`) {
			t.Errorf("%v on a terminal: the name is not shown escaped:\n%q", args, out)
		}
		if _, err := csv.NewReader(strings.NewReader(out)).ReadAll(); err != nil {
			t.Errorf("%v on a terminal: not CSV: %v\n%s", args, err, out)
		}

		piped, errOut, code := c.run("", args...)
		if code != 0 {
			t.Fatalf("%v: %d %s", args, code, errOut)
		}
		if !strings.Contains(piped, "Eve \u202egnp.exe") {
			t.Errorf("%v to a pipe: the exact name is not there:\n%q", args, piped)
		}
	}
}
