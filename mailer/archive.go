package mailer

import (
	"context"
	"fmt"
	"time"

	"newsletter/columns"
	"newsletter/db"
)

// ArchiveColumns returns every column that has a campaign, as it was sent
// (parsed from the source kept with the campaign, so a later edit of the
// file does not change the "view in browser" page), newest first. A
// campaign from before sources were kept is taken from the columns folder.
func ArchiveColumns(ctx context.Context, d *db.DB, dir string, loc *time.Location) ([]*columns.Column, error) {
	rows, err := d.SQL().QueryContext(ctx, `SELECT column_number, file, source FROM campaigns ORDER BY column_number DESC`)
	if err != nil {
		return nil, fmt.Errorf("archive: %w", err)
	}
	type stored struct {
		number int
		file   string
		source []byte
	}
	var camps []stored
	for rows.Next() {
		var s stored
		if err := rows.Scan(&s.number, &s.file, &s.source); err != nil {
			rows.Close()
			return nil, fmt.Errorf("archive: %w", err)
		}
		camps = append(camps, s)
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return nil, fmt.Errorf("archive: %w", err)
	}
	rows.Close()

	var folder []*columns.Column
	folderRead := false
	out := make([]*columns.Column, 0, len(camps))
	for _, s := range camps {
		if s.source != nil {
			col, err := columns.Parse(s.file, s.source, loc)
			if err == nil {
				out = append(out, col)
				continue
			}
		}
		if !folderRead {
			folder, _, _ = columns.Discover(dir, loc)
			folderRead = true
		}
		if col := columns.Find(folder, s.number); col != nil && col.Number == s.number {
			out = append(out, col)
		}
	}
	return out, nil
}
