//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rawControl reports the first character in s that would act on a
// terminal (ESC, CR, U+202E) and was not escaped.
func rawControl(s string) (rune, bool) {
	for _, r := range s {
		switch r {
		case 0x1b, '\r', 0x202e, 0x9b:
			return r, true
		}
	}
	return 0, false
}

// TestColumnsEscapeNamesAndTitles is the acceptance test of issue 9: a
// file name with ESC and CR (skipped: not a column) and one with U+202E,
// and a title with U+202E, reach `columns`' stdout and stderr escaped.
func TestColumnsEscapeNamesAndTitles(t *testing.T) {
	f := newSendFixture(t, 1)
	f.writeColumn(t, 32, "Eve \u202e evE", "")
	if err := os.WriteFile(filepath.Join(f.columns, "059-\x1b[31mred\rx.txt"), []byte("no heading\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.columns, "060-a\u202etxt.txt"), []byte("KNIEPUNKT 060: Sechzig\n\nEin Absatz.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := f.run(t, "columns")
	if code != 0 {
		t.Fatalf("columns: code %d\n%s%s", code, out, errOut)
	}
	if r, raw := rawControl(out); raw {
		t.Errorf("columns: stdout has %U raw:\n%q", r, out)
	}
	if r, raw := rawControl(errOut); raw {
		t.Errorf("columns: stderr has %U raw:\n%q", r, errOut)
	}
	if !strings.Contains(errOut, `059-\x1b[31mred\rx.txt`) {
		t.Errorf("columns: stderr does not name the file escaped:\n%q", errOut)
	}
	if !strings.Contains(out, `Eve \u202e evE`) {
		t.Errorf("columns: the title is not shown escaped:\n%q", out)
	}

	out, errOut, _ = f.run(t, "preview", "32")
	out, _, _ = strings.Cut(out, "----- text/plain") // the header lines; the parts are the mail itself
	if r, raw := rawControl(out + errOut); raw {
		t.Errorf("preview: %U raw:\n%q\n%q", r, out, errOut)
	}
	if !strings.Contains(out, `Subject: KNIEPUNKT 032: Eve \u202e evE`) {
		t.Errorf("preview: the subject is not escaped:\n%.300q", out)
	}

	out, errOut, _ = f.run(t, "send", "--dry-run")
	if r, raw := rawControl(out + errOut); raw {
		t.Errorf("send --dry-run: %U raw:\n%q\n%q", r, out, errOut)
	}
}

// A feed item's title with U+202E reaches `columns` escaped, and its link
// (the FILE column) too.
func TestColumnsEscapeFeedTitle(t *testing.T) {
	feed := newBlogFeed(t)
	feed.set(func(b *blogFeed) {
		b.items = []string{`<item><title>KNIEPUNKT 007: Eve ` + "\u202e" + ` evE</title><link>https://blog.example.org/a` + "\u202e" + `b</link><pubDate>Mon, 02 Mar 2026 07:00:00 +0000</pubDate><description>Ein Absatz.</description></item>`}
	})
	_, env := newFeedFixture(t, 1, feed.URL)
	out, errOut, code := runWith(env, "", "columns")
	if code != 0 {
		t.Fatalf("columns: code %d\n%s%s", code, out, errOut)
	}
	if r, raw := rawControl(out + errOut); raw {
		t.Errorf("columns: %U raw:\n%q\n%q", r, out, errOut)
	}
	if !strings.Contains(columnsRow(out, "007"), `Eve \u202e evE`) {
		t.Errorf("columns: the feed title is not shown escaped:\n%q", out)
	}
}

// An error that quotes a file name (a missing --columns folder named with
// ESC and CR) is printed escaped: the one-line contract of userMessage
// holds for what the error quotes, too.
func TestErrorMessagesEscaped(t *testing.T) {
	f := newSendFixture(t, 1)
	env := f.env()
	env["NEWSLETTER_COLUMNS"] = filepath.Join(f.dir, "no\x1b[2Jsuch\u202e")
	out, errOut, code := runWith(env, "", "send", "--dry-run")
	if code == 0 {
		t.Fatalf("send with a missing folder: code 0\n%s", out)
	}
	if r, raw := rawControl(errOut); raw {
		t.Errorf("stderr has %U raw:\n%q", r, errOut)
	}
	if !strings.Contains(errOut, `no\x1b[2Jsuch\u202e`) {
		t.Errorf("stderr does not name the folder escaped:\n%q", errOut)
	}
}
