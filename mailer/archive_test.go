package mailer

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"newsletter/subscribers"
)

// The archive shows a column as it was sent, even after the author edited
// or deleted the file.
func TestArchiveShowsWhatWasSent(t *testing.T) {
	e := newTestEnv(t)
	e.addSubscribers("a", 1, subscribers.StatusActive) // a campaign needs a recipient
	e.start(30)
	e.writeColumn(30, "Nachträglich geändert")
	e.writeColumn(31, "Noch nicht gesendet")

	ctx := context.Background()
	cols, err := NewArchive(e.campaigns(), time.UTC, nil).Sent(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cols) != 1 || cols[0].Number != 30 || cols[0].Title != "Heiße KI-Luft" {
		t.Fatalf("archive %+v, want only 030 with its sent title", cols)
	}
	if err := os.Remove(filepath.Join(e.dir, "030-kolumne.txt")); err != nil {
		t.Fatal(err)
	}
	cols, err = NewArchive(e.campaigns(), time.UTC, nil).Sent(ctx)
	if err != nil || len(cols) != 1 || cols[0].Title != "Heiße KI-Luft" {
		t.Fatalf("after deleting the file: %+v, %v", cols, err)
	}
}

// A sent column never changes, so the archive parses it once: later calls
// get the very same column; a new campaign shows up at once, newest first.
func TestArchiveParsesEachCampaignOnce(t *testing.T) {
	e := newTestEnv(t)
	e.addSubscribers("a", 1, subscribers.StatusActive) // a campaign needs a recipient
	e.start(30)
	ctx := context.Background()
	a := NewArchive(e.campaigns(), time.UTC, nil)
	first, err := a.Sent(ctx)
	if err != nil || len(first) != 1 {
		t.Fatalf("%+v, %v", first, err)
	}
	e.start(31)
	// A stored source that does not parse is left out; the others stay.
	c := e.start(32)
	if _, err := e.db.SQL().Exec(`UPDATE campaigns SET source = ? WHERE id = ?`, []byte("kaputt\n"), c.ID); err != nil {
		t.Fatal(err)
	}
	again, err := a.Sent(ctx)
	if err != nil || len(again) != 2 || again[0].Number != 31 || again[1] != first[0] {
		t.Fatalf("second call: %+v, %v; want 031, then the same 030 as before", again, err)
	}
}
