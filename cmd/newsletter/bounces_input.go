package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Where `bounces ingest` reads mail from: one message on standard input (an
// MTA's pipe), one message in a file, every message of an mbox file, or
// every message of a Maildir folder (new/ and cur/, read only: nothing is
// moved or marked, so the MTA or a mail client keeps the folder as it was).

// maxIngestMessage is how much of one message is read into memory; the
// parser looks at the first 4 MiB and review keeps the first 256 KiB, so a
// longer message is cut, not refused.
const maxIngestMessage = 32 << 20

// ingestInput is one place mail is read from.
type ingestInput struct {
	source string // pipe, file, mbox or maildir: stored with each event
	// each calls fn for every message, in order; name is "" for the only
	// message of stdin or a file, "message N" in an mbox, the file's path
	// below the folder in a Maildir. An error from fn stops the walk.
	each func(fn func(name string, raw []byte) error) error
}

// openIngestInput looks at what arg names ("" or "-": standard input).
func openIngestInput(arg string, stdin io.Reader) (*ingestInput, func(), error) {
	if arg == "" || arg == "-" {
		return &ingestInput{source: "pipe", each: func(fn func(string, []byte) error) error {
			raw, err := readMessage(bufio.NewReader(stdin))
			if err != nil {
				return fmt.Errorf("read standard input: %w", err)
			}
			return fn("", raw)
		}}, func() {}, nil
	}
	fi, err := os.Stat(arg)
	if err != nil {
		return nil, nil, err
	}
	if fi.IsDir() {
		in, err := maildirInput(arg)
		return in, func() {}, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s is neither a file nor a Maildir folder", arg)
	}
	f, err := os.Open(arg)
	if err != nil {
		return nil, nil, err
	}
	br := bufio.NewReader(f)
	head, _ := br.Peek(5)
	if string(head) == "From " {
		return &ingestInput{source: "mbox", each: func(fn func(string, []byte) error) error {
			return eachMboxMessage(br, fn)
		}}, func() { f.Close() }, nil
	}
	return &ingestInput{source: "file", each: func(fn func(string, []byte) error) error {
		raw, err := readMessage(br)
		if err != nil {
			return fmt.Errorf("read %s: %w", arg, err)
		}
		return fn("", raw)
	}}, func() { f.Close() }, nil
}

// readMessage reads one message, up to maxIngestMessage (the rest is read
// and dropped, so a pipe's writer is not cut off). A leading mbox "From "
// line, which Postfix's pipe (flag F) and Exim's pipe transport put before
// the message, is dropped.
func readMessage(br *bufio.Reader) ([]byte, error) {
	if head, _ := br.Peek(5); string(head) == "From " {
		if _, err := br.ReadSlice('\n'); err != nil && !errors.Is(err, bufio.ErrBufferFull) && err != io.EOF {
			return nil, err
		}
	}
	raw, err := io.ReadAll(io.LimitReader(br, maxIngestMessage))
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		return nil, err
	}
	return raw, nil
}

// eachMboxMessage splits an mbox: a line starting with "From " at the start
// or after an empty line begins a message; ">From " lines (mboxrd quoting)
// lose one ">". Each message is cut at maxIngestMessage.
func eachMboxMessage(br *bufio.Reader, fn func(string, []byte) error) error {
	var msg bytes.Buffer
	n := 0
	started, prevEmpty := false, true
	flush := func() error {
		if !started {
			return nil
		}
		b := msg.Bytes()
		// The empty line before the next "From " belongs to the separator.
		b = bytes.TrimSuffix(b, []byte("\n"))
		b = bytes.TrimSuffix(b, []byte("\r"))
		n++
		err := fn(fmt.Sprintf("message %d", n), append([]byte(nil), b...))
		msg.Reset()
		return err
	}
	lineStart, inSep := true, false
	for {
		// A line longer than the reader's buffer comes in pieces; only the
		// first piece of a line may start a separator or be quoted.
		piece, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			err = nil
		}
		if len(piece) > 0 {
			complete := piece[len(piece)-1] == '\n'
			if lineStart {
				inSep = prevEmpty && bytes.HasPrefix(piece, []byte("From "))
				if inSep {
					if ferr := flush(); ferr != nil {
						return ferr
					}
					started = true
				} else if q := bytes.TrimLeft(piece, ">"); len(q) < len(piece) && bytes.HasPrefix(q, []byte("From ")) {
					piece = piece[1:]
				}
				prevEmpty = complete && len(bytes.TrimRight(piece, "\r\n")) == 0
			} else {
				prevEmpty = false
			}
			if started && !inSep && msg.Len()+len(piece) <= maxIngestMessage {
				msg.Write(piece)
			}
			lineStart = complete
		}
		if err == io.EOF {
			return flush()
		}
		if err != nil {
			return fmt.Errorf("read mbox: %w", err)
		}
	}
}

// maildirInput reads the messages in a Maildir's new/ and cur/, in name
// order (delivery order, as Maildir names start with the time).
func maildirInput(dir string) (*ingestInput, error) {
	var subs []string
	for _, s := range []string{"new", "cur"} {
		if fi, err := os.Stat(filepath.Join(dir, s)); err == nil && fi.IsDir() {
			subs = append(subs, s)
		}
	}
	if len(subs) == 0 {
		return nil, fmt.Errorf("%s is not a Maildir folder (it has neither new/ nor cur/)", dir)
	}
	return &ingestInput{source: "maildir", each: func(fn func(string, []byte) error) error {
		for _, s := range subs {
			entries, err := os.ReadDir(filepath.Join(dir, s))
			if err != nil {
				return err
			}
			names := make([]string, 0, len(entries))
			for _, e := range entries {
				// Only regular files: a symlink in a mail folder is not mail.
				if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
					names = append(names, e.Name())
				}
			}
			sort.Strings(names)
			for _, name := range names {
				raw, err := readFileCapped(filepath.Join(dir, s, name))
				if errors.Is(err, fs.ErrNotExist) {
					continue // moved by the MTA or a mail client meanwhile
				}
				if err != nil {
					return err
				}
				if err := fn(s+"/"+name, raw); err != nil {
					return err
				}
			}
		}
		return nil
	}}, nil
}

func readFileCapped(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxIngestMessage))
}
