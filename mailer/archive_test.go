package mailer

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The archive shows a column as it was sent, even after the author edited
// or deleted the file.
func TestArchiveColumnsShowWhatWasSent(t *testing.T) {
	e := newTestEnv(t)
	e.start(30)
	e.writeColumn(30, "Nachträglich geändert")
	e.writeColumn(31, "Noch nicht gesendet")

	cols, err := ArchiveColumns(context.Background(), e.db, e.dir, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	if len(cols) != 1 || cols[0].Number != 30 || cols[0].Title != "Heiße KI-Luft" {
		t.Fatalf("archive %+v, want only 030 with its sent title", cols)
	}
	if err := os.Remove(filepath.Join(e.dir, "030-kolumne.txt")); err != nil {
		t.Fatal(err)
	}
	cols, err = ArchiveColumns(context.Background(), e.db, e.dir, time.UTC)
	if err != nil || len(cols) != 1 || cols[0].Title != "Heiße KI-Luft" {
		t.Fatalf("after deleting the file: %+v, %v", cols, err)
	}
}
