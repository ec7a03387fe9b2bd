package mailer

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"newsletter/db"
)

// HoldBy says who held a column.
type HoldBy string

// Who may hold a column: the admin on the command line (`newsletter hold`)
// or whoever pressed the button behind the hold link of a proof mail.
const (
	HeldByAdmin HoldBy = "admin"
	HeldByProof HoldBy = "proof"
)

// Hold is a column on hold.
type Hold struct {
	Number int
	By     HoldBy
	At     time.Time
}

// Words says by whom and since when, in loc: "by admin at 2026-03-16
// 06:55 CET" or "from the proof mail at …". columns.History.Held takes
// them; "held " before them is the reason a run gives.
func (h Hold) Words(loc *time.Location) string {
	at := h.At.In(loc).Format("2006-01-02 15:04 MST")
	if h.By == HeldByProof {
		return "from the proof mail at " + at
	}
	return "by admin at " + at
}

// ErrHeld is what a column on hold gets from everything that would send it.
var ErrHeld = errors.New("column is held")

// HeldError is ErrHeld for one column, with the reason.
type HeldError struct {
	Hold
	loc *time.Location
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("column %03d is held %s", e.Number, e.Words(e.loc))
}

// Is makes errors.Is(err, ErrHeld) true.
func (e *HeldError) Is(target error) bool { return target == ErrHeld }

// ErrBadHoldToken is a hold link that is malformed, forged or meant for
// something else.
var ErrBadHoldToken = errors.New("the hold link is invalid")

// Holds is the hold state of the columns (table holds, migration 0006) and
// the hold links of the proof mails. The "new" rule reads it through
// columns.History.Held; campaign runs look at it on every claim and lease
// renewal, so holding a campaign that is sending stops it within one
// lease/claim cycle.
type Holds struct {
	db  *db.DB
	key []byte
	loc *time.Location
}

// NewHolds returns the hold state in d. key is the installation secret (it
// keys the hold links); loc is the time zone the reasons are written in.
func NewHolds(d *db.DB, key []byte, loc *time.Location) *Holds {
	if loc == nil {
		loc = time.UTC
	}
	return &Holds{db: d, key: key, loc: loc}
}

// Hold puts column number on hold. A column already held stays held as it
// was (the first hold's reason is kept) and added is false. A column whose
// campaign is finished cannot be held: ErrAlreadySent. Whether a column of
// that number exists is the caller's business (the command line checks the
// folder; a hold link names a column a proof was made of).
func (hs *Holds) Hold(ctx context.Context, number int, by HoldBy) (h Hold, added bool, err error) {
	err = hs.db.InTx(ctx, func(tx *db.Tx) error {
		if err := notSent(ctx, tx, number, hs.loc); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO holds (column_number, held_by, held_at) VALUES (?, ?, ?)
			ON CONFLICT (column_number) DO NOTHING`, number, string(by), tx.NowText())
		if err != nil {
			return fmt.Errorf("hold column %03d: %w", number, err)
		}
		n, _ := res.RowsAffected()
		added = n > 0
		h, _, err = findHold(ctx, tx, number)
		return err
	})
	return h, added, err
}

// notSent refuses a column whose campaign is finished.
func notSent(ctx context.Context, q querier, number int, loc *time.Location) error {
	var finished string
	err := q.QueryRowContext(ctx, `SELECT COALESCE(finished_at, '') FROM campaigns WHERE column_number = ?`, number).Scan(&finished)
	switch {
	case errors.Is(err, sql.ErrNoRows) || (err == nil && finished == ""):
		return nil
	case err != nil:
		return fmt.Errorf("column %03d: %w", number, err)
	}
	at, err := db.ParseTime(finished)
	if err != nil {
		return err
	}
	return fmt.Errorf("column %03d: %w on %s", number, ErrAlreadySent, at.In(loc).Format("2006-01-02 15:04 MST"))
}

// Release lets column number go again: the next run sends it (or resumes
// its campaign). It returns the hold it lifted; held is false when the
// column was not held.
func (hs *Holds) Release(ctx context.Context, number int) (h Hold, held bool, err error) {
	err = hs.db.InTx(ctx, func(tx *db.Tx) error {
		if h, held, err = findHold(ctx, tx, number); err != nil || !held {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM holds WHERE column_number = ?`, number); err != nil {
			return fmt.Errorf("release column %03d: %w", number, err)
		}
		return nil
	})
	return h, held, err
}

// Find returns column number's hold; ok is false when it is not held.
func (hs *Holds) Find(ctx context.Context, number int) (h Hold, ok bool, err error) {
	return findHold(ctx, hs.db.SQL(), number)
}

type querier interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

func findHold(ctx context.Context, q querier, number int) (Hold, bool, error) {
	h := Hold{Number: number}
	var by, at string
	err := q.QueryRowContext(ctx, `SELECT held_by, held_at FROM holds WHERE column_number = ?`, number).Scan(&by, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return Hold{}, false, nil
	}
	if err != nil {
		return Hold{}, false, fmt.Errorf("read hold of column %03d: %w", number, err)
	}
	h.By = HoldBy(by)
	if h.At, err = db.ParseTime(at); err != nil {
		return Hold{}, false, err
	}
	return h, true, nil
}

// List returns every hold by column number.
func (hs *Holds) List(ctx context.Context) (map[int]Hold, error) {
	rows, err := hs.db.SQL().QueryContext(ctx, `SELECT column_number, held_by, held_at FROM holds`)
	if err != nil {
		return nil, fmt.Errorf("read holds: %w", err)
	}
	defer rows.Close()
	out := map[int]Hold{}
	for rows.Next() {
		var h Hold
		var by, at string
		if err := rows.Scan(&h.Number, &by, &at); err != nil {
			return nil, fmt.Errorf("read holds: %w", err)
		}
		h.By = HoldBy(by)
		if h.At, err = db.ParseTime(at); err != nil {
			return nil, err
		}
		out[h.Number] = h
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read holds: %w", err)
	}
	return out, nil
}

// Words returns every hold in the words of Hold.Words: what
// columns.History.Held takes.
func (hs *Holds) Words(ctx context.Context) (map[int]string, error) {
	holds, err := hs.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[int]string, len(holds))
	for n, h := range holds {
		out[n] = h.Words(hs.loc)
	}
	return out, nil
}

// Check returns a *HeldError when column number is held, else nil (or the
// error reading the hold).
func (hs *Holds) Check(ctx context.Context, number int) error {
	h, ok, err := hs.Find(ctx, number)
	if err != nil || !ok {
		return err
	}
	return &HeldError{Hold: h, loc: hs.loc}
}

// heldError is the HeldError of column number as it is held now; a hold
// lifted in between still gives one, without a reason.
func (hs *Holds) heldError(ctx context.Context, number int) *HeldError {
	h, ok, err := hs.Find(ctx, number)
	if err != nil || !ok {
		h = Hold{Number: number, By: HeldByAdmin}
	}
	return &HeldError{Hold: h, loc: hs.loc}
}

// Hold links. A proof mail carries a link that holds its column:
// NUMBER.HASH.MAC, where HASH is the content hash of the proofed source and
// MAC an HMAC-SHA256 with the installation secret over the purpose, the
// number and the hash, truncated to 128 bits. It is good for that column
// and that purpose only, needs no database row to verify, and dies once
// the column has been sent.

const holdPurpose = "hold-from-proof"

// contentHashLen is the length of a ContentHash: 128 bits in hex.
const contentHashLen = 32

// ContentHash names content by 128 bits of its SHA-256, in hex: a
// column's (a proof is sent once per column and content, an edit of the
// file makes a new one, and its hold link names the content it showed),
// and a report's raw bytes when it has no Message-ID to be known by.
func ContentHash(src []byte) string {
	sum := sha256.Sum256(src)
	return hex.EncodeToString(sum[:contentHashLen/2])
}

func (hs *Holds) holdMAC(number int, hash string) []byte {
	m := hmac.New(sha256.New, hs.key)
	m.Write([]byte(holdPurpose + "\x00" + strconv.Itoa(number) + "\x00" + hash))
	return m.Sum(nil)[:16]
}

// Token is the hold link's token for the proof of column number with
// content hash (ContentHash of its source).
func (hs *Holds) Token(number int, hash string) string {
	return strconv.Itoa(number) + "." + hash + "." + base64.RawURLEncoding.EncodeToString(hs.holdMAC(number, hash))
}

// parseToken returns the column number and content hash a token was made
// for, or ErrBadHoldToken.
func (hs *Holds) parseToken(tok string) (int, string, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || len(parts[0]) > 9 || len(parts[1]) != contentHashLen {
		return 0, "", ErrBadHoldToken
	}
	number, err := strconv.Atoi(parts[0])
	if err != nil || number <= 0 || strconv.Itoa(number) != parts[0] {
		return 0, "", ErrBadHoldToken
	}
	mac, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(mac, hs.holdMAC(number, parts[1])) {
		return 0, "", ErrBadHoldToken
	}
	return number, parts[1], nil
}

// HoldTarget is the column a hold link names, as the hold page shows it.
type HoldTarget struct {
	Number int
	Title  string // the title line of the proofed column; "" if unknown
	// Held is set when the column is held already, with the reason in
	// Hold.Words.
	Held *Hold
	// HeldWords is Held.Words in the installation's time zone.
	HeldWords string
}

// CheckToken says, changing nothing, which column tok would hold: the GET
// of the hold page must not hold anything (link scanners open every link
// of a mail). ErrBadHoldToken for a token that is not a hold link;
// ErrAlreadySent once the column's campaign is finished.
func (hs *Holds) CheckToken(ctx context.Context, tok string) (HoldTarget, error) {
	number, hash, err := hs.parseToken(tok)
	if err != nil {
		return HoldTarget{}, err
	}
	var t HoldTarget
	if err := hs.target(ctx, hs.db.SQL(), number, hash, &t); err != nil {
		return HoldTarget{}, err
	}
	switch err := notSent(ctx, hs.db.SQL(), number, hs.loc); {
	case errors.Is(err, ErrAlreadySent):
		return t, err
	case err != nil:
		return HoldTarget{}, fmt.Errorf("check hold link: %w", err)
	}
	return t, nil
}

// HoldByToken holds the column tok names (HeldByProof), unless it is held
// already; see CheckToken for the errors.
func (hs *Holds) HoldByToken(ctx context.Context, tok string) (HoldTarget, error) {
	number, hash, err := hs.parseToken(tok)
	if err != nil {
		return HoldTarget{}, err
	}
	h, _, err := hs.Hold(ctx, number, HeldByProof)
	if err != nil {
		return HoldTarget{}, err
	}
	t := HoldTarget{Number: number, Held: &h, HeldWords: h.Words(hs.loc)}
	if err := hs.target(ctx, hs.db.SQL(), number, hash, &t); err != nil {
		return HoldTarget{}, err
	}
	return t, nil
}

// target fills in the title of the proof and the hold, if any.
func (hs *Holds) target(ctx context.Context, q querier, number int, hash string, t *HoldTarget) error {
	t.Number = number
	err := q.QueryRowContext(ctx, `SELECT title FROM proofs WHERE column_number = ? AND content_hash = ?`, number, hash).Scan(&t.Title)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("read proof of column %03d: %w", number, err)
	}
	if t.Held == nil {
		h, ok, err := findHold(ctx, q, number)
		if err != nil {
			return err
		}
		if ok {
			t.Held, t.HeldWords = &h, h.Words(hs.loc)
		}
	}
	return nil
}

// heldTx reports, inside a claim or lease renewal, whether the campaign's
// column is on hold.
func heldTx(ctx context.Context, tx *db.Tx, campaignID int64) (bool, error) {
	var n int
	err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM holds h JOIN campaigns c ON c.column_number = h.column_number
		WHERE c.id = ?`, campaignID).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("read hold: %w", err)
	}
	return n > 0, nil
}

// errCampaignHeld stops a claim or a lease renewal of a held campaign.
var errCampaignHeld = errors.New("campaign held")
