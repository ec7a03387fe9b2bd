package subscribers

import (
	"context"
	"database/sql"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"newsletter/db"
)

// ImportOptions control an import.
type ImportOptions struct {
	Source      string // file name, recorded in the evidence
	Confirmed   bool   // rows without a status column become active (needs ConsentNote)
	ConsentNote string // how the people on the list consented; required for active rows
	Lang        string // default language for rows without one
	BatchSize   int    // rows per transaction; 0 = 1000
}

// ImportProblem is a row that was not imported, and why. Email and Reason
// quote the row, so they are made safe to print: control characters
// escaped as EscapeText does (one problem is one line of a report, and
// the row cannot steer the terminal), each clipped to about
// maxProblemText characters.
type ImportProblem struct {
	Line   int
	Email  string
	Reason string
}

// maxProblemText bounds each field of an ImportProblem: a row with a
// one-megabyte field is reported, not echoed.
const maxProblemText = 200

// ImportResult counts what an import did.
type ImportResult struct {
	Added          int
	AddedPending   int // of Added: pending rows, which get no confirmation mail
	Unchanged      int // already on the list: re-importing changes nothing
	Rejected       int
	IgnoredColumns []string
}

// exportHeader is the CSV layout of Export; Import reads it back.
var exportHeader = []string{"email", "name", "status", "subscribed_at", "confirmed_at", "lang"}

type importRow struct {
	line                   int
	email, key, name, lang string
	status                 Status
	subscribedAt           string
	confirmedAt            string
}

// Import reads CSV with a header row (email required; name, status,
// subscribed_at, confirmed_at, lang optional) and adds the rows in batched
// transactions, so memory stays flat for any size. Bad rows go to problem
// with their line number and are skipped; good rows are kept. Addresses
// already on the list are left alone.
func (s *Store) Import(ctx context.Context, r io.Reader, opts ImportOptions, problem func(ImportProblem)) (ImportResult, error) {
	var res ImportResult
	if opts.Confirmed && strings.TrimSpace(opts.ConsentNote) == "" {
		return res, errNoConsentNote()
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 1000
	}
	if opts.Lang == "" {
		opts.Lang = "de"
	}
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return res, errors.New("the CSV file is empty: it needs a header row with an email column")
	}
	if err != nil {
		return res, fmt.Errorf("CSV header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		switch h {
		case "email", "name", "status", "subscribed_at", "confirmed_at", "lang":
			if _, dup := col[h]; dup {
				return res, fmt.Errorf("CSV header: column %q appears twice", h)
			}
			col[h] = i
		default:
			res.IgnoredColumns = append(res.IgnoredColumns, ClipText(h, maxProblemText))
		}
	}
	if _, ok := col["email"]; !ok {
		return res, errors.New("CSV header: no email column (the first row must name the columns, e.g. email,name)")
	}
	field := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return fromCSVCell(strings.TrimSpace(rec[i]))
		}
		return ""
	}
	reject := func(line int, email, reason string) {
		res.Rejected++
		if problem != nil {
			problem(ImportProblem{Line: line, Email: ClipText(email, maxProblemText), Reason: ClipText(reason, maxProblemText)})
		}
	}
	batch := make([]importRow, 0, opts.BatchSize)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		added, pending, unchanged, err := s.importBatch(ctx, batch, opts, reject)
		if err != nil {
			return err
		}
		res.Added += added
		res.AddedPending += pending
		res.Unchanged += unchanged
		batch = batch[:0]
		return nil
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) && (errors.Is(pe.Err, csv.ErrQuote) || errors.Is(pe.Err, csv.ErrBareQuote)) {
				// A stray quote spoils this record (and, unterminated, the
				// rest of the file): report it and keep what came before.
				reject(pe.StartLine, "", "unreadable CSV from here on: "+pe.Err.Error())
				continue
			}
			return res, fmt.Errorf("read CSV: %w", err)
		}
		// Only a record read without error has field positions.
		line, _ := cr.FieldPos(0)
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		raw := field(rec, "email")
		row, reason := parseImportRow(line, raw, field(rec, "name"), field(rec, "status"), field(rec, "subscribed_at"), field(rec, "confirmed_at"), field(rec, "lang"), opts)
		if reason != "" {
			reject(line, raw, reason)
			continue
		}
		batch = append(batch, row)
		if len(batch) == opts.BatchSize {
			if err := flush(); err != nil {
				return res, err
			}
		}
	}
	return res, flush()
}

func parseImportRow(line int, rawEmail, rawName, rawStatus, rawSubscribed, rawConfirmed, rawLang string, opts ImportOptions) (importRow, string) {
	row := importRow{line: line}
	var err error
	if row.email, row.key, err = NormalizeEmail(rawEmail); err != nil {
		return row, err.Error()
	}
	if row.name, err = NormalizeName(rawName); err != nil {
		return row, err.Error()
	}
	switch {
	case rawStatus != "":
		if row.status, err = ParseStatus(strings.ToLower(rawStatus)); err != nil {
			return row, err.Error()
		}
	case opts.Confirmed:
		row.status = StatusActive
	default:
		row.status = StatusPending
	}
	if row.status == StatusActive && strings.TrimSpace(opts.ConsentNote) == "" {
		return row, "status active needs a consent note (how these people consented)"
	}
	for _, p := range []struct {
		in  string
		out *string
		nm  string
	}{{rawSubscribed, &row.subscribedAt, "subscribed_at"}, {rawConfirmed, &row.confirmedAt, "confirmed_at"}} {
		if p.in == "" {
			continue
		}
		t, err := parseImportTime(p.in)
		if err != nil {
			return row, fmt.Sprintf("%s %q is not a date (want RFC 3339 or YYYY-MM-DD)", p.nm, p.in)
		}
		*p.out = db.FormatTime(t)
	}
	row.lang = opts.Lang
	if rawLang != "" {
		if rawLang != "de" && rawLang != "en" {
			return row, fmt.Sprintf("lang %q is not de or en", rawLang)
		}
		row.lang = rawLang
	}
	return row, ""
}

func parseImportTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, db.TimeFormat, "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New("bad time")
}

// importBatch writes one batch in one transaction.
func (s *Store) importBatch(ctx context.Context, rows []importRow, opts ImportOptions, reject func(int, string, string)) (added, pending, unchanged int, err error) {
	var rejected []importRow
	err = s.db.InTx(ctx, func(tx *db.Tx) error {
		added, pending, unchanged, rejected = 0, 0, 0, rejected[:0]
		supp, err := tx.PrepareContext(ctx, `SELECT COUNT(*) FROM suppressions WHERE hash = ?`)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		defer supp.Close()
		ins, err := tx.PrepareContext(ctx, `INSERT INTO subscribers (email, email_key, name, status, lang, created_at, updated_at, confirmed_at, unsubscribed_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (email_key) DO NOTHING RETURNING id`)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		defer ins.Close()
		ev, err := tx.PrepareContext(ctx, `INSERT INTO consent_events (subscriber_id, kind, at, consent_text_id, detail) VALUES (?, ?, ?, ?, ?)`)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		defer ev.Close()
		textID, err := consentTextID(ctx, tx, strings.TrimSpace(opts.ConsentNote))
		if err != nil {
			return err
		}
		now := tx.NowText()
		// Most lists have no erased addresses: skip the per-row lookup then.
		var anySuppressed bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM suppressions)`).Scan(&anySuppressed); err != nil {
			return fmt.Errorf("import: %w", err)
		}
		for _, r := range rows {
			if anySuppressed {
				var n int
				if err := supp.QueryRowContext(ctx, s.suppressionHash(r.key)).Scan(&n); err != nil {
					return fmt.Errorf("import: %w", err)
				}
				if n > 0 {
					rejected = append(rejected, r)
					continue
				}
			}
			created := r.subscribedAt
			if created == "" {
				created = now
			}
			var confirmed, unsub any
			switch r.status {
			case StatusActive:
				confirmed = r.confirmedAt
				if r.confirmedAt == "" {
					confirmed = created
				}
			case StatusUnsubscribed:
				unsub = now
			}
			if confirmed == nil && r.confirmedAt != "" {
				confirmed = r.confirmedAt
			}
			var id int64
			err := ins.QueryRowContext(ctx, r.email, r.key, r.name, r.status, r.lang, created, now, confirmed, unsub).Scan(&id)
			if errors.Is(err, sql.ErrNoRows) {
				unchanged++
				continue
			}
			if err != nil {
				return fmt.Errorf("import line %d: %w", r.line, err)
			}
			detail := fmt.Sprintf("imported from %s line %d as %s", orDash(opts.Source), r.line, r.status)
			var tid any
			if r.status == StatusActive && textID.Valid {
				tid = textID.Int64
			}
			if _, err := ev.ExecContext(ctx, id, EventImported, now, tid, detail); err != nil {
				return fmt.Errorf("import line %d: %w", r.line, err)
			}
			added++
			if r.status == StatusPending {
				pending++
			}
		}
		return nil
	})
	if err != nil {
		return 0, 0, 0, err
	}
	for _, r := range rejected {
		reject(r.line, r.email, "this address was erased at the person's request (suppression list); not re-imported")
	}
	return added, pending, unchanged, nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Export writes every subscriber as CSV in the layout Import reads back.
func (s *Store) Export(ctx context.Context, w io.Writer) error {
	return s.ExportFilter(ctx, w, Filter{})
}

// ExportFilter is Export of the subscribers f selects. Names and addresses
// came from a web form: a cell that a spreadsheet would run as a formula
// is neutralised (see toCSVCell).
func (s *Store) ExportFilter(ctx context.Context, w io.Writer, f Filter) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(exportHeader); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	rec := make([]string, len(exportHeader))
	err := s.List(ctx, f, func(sub *Subscriber) error {
		rec[0], rec[1], rec[2] = toCSVCell(sub.Email), toCSVCell(sub.Name), string(sub.Status)
		rec[3], rec[4], rec[5] = rfc3339(sub.CreatedAt), rfc3339(sub.ConfirmedAt), sub.Lang
		return cw.Write(rec)
	})
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// formulaStart is what makes a spreadsheet take a cell for a formula (or,
// TAB and CR, hide where one starts): OWASP "CSV injection".
const formulaStart = "=+-@\t\r"

// toCSVCell prefixes a cell that starts like a formula with ', which
// spreadsheets take as "text follows" and do not show. A cell that starts
// with ' followed by such a character or another ' gets one too, so that
// fromCSVCell, taking off exactly one, gives every value back unchanged.
func toCSVCell(s string) string {
	if s == "" {
		return s
	}
	if strings.IndexByte(formulaStart, s[0]) >= 0 || s[0] == '\'' && len(s) > 1 && strings.IndexByte(formulaStart+"'", s[1]) >= 0 {
		return "'" + s
	}
	return s
}

// fromCSVCell undoes toCSVCell: a leading ' before a formula character or
// another ' is taken off. Any other leading ' ("'t Hart") is the value's own.
func fromCSVCell(s string) string {
	if len(s) > 1 && s[0] == '\'' && strings.IndexByte(formulaStart+"'", s[1]) >= 0 {
		return s[1:]
	}
	return s
}
