package web

import (
	"context"
	"fmt"
	"net/http"

	"newsletter/mailer"
)

// Holds is the hold from the proof mail; *mailer.Holds is one.
type Holds interface {
	// CheckToken says, changing nothing, which column tok would hold:
	// mailer.ErrBadHoldToken, or mailer.ErrAlreadySent once it is sent.
	CheckToken(ctx context.Context, tok string) (mailer.HoldTarget, error)
	// HoldByToken holds that column.
	HoldByToken(ctx context.Context, tok string) (mailer.HoldTarget, error)
}

var _ Holds = (*mailer.Holds)(nil)

// holdView is what hold.html and held.html get.
type holdView struct {
	Token     string
	Number    string // "031"
	Title     string // the proofed column's title line; "" if unknown
	HeldWords string // "by admin at …" when held already
}

func newHoldView(tok string, t mailer.HoldTarget) holdView {
	return holdView{Token: tok, Number: fmt.Sprintf("%03d", t.Number), Title: t.Title, HeldWords: t.HeldWords}
}

// handleHoldPage shows the column a proof's hold link names and one
// button. It changes nothing: mail scanners open every link of a mail.
func (s *Server) handleHoldPage(w http.ResponseWriter, r *http.Request) {
	lang := s.lang(r)
	if s.holds == nil {
		s.fail(w, r, lang, errPageNotFound)
		return
	}
	tok := r.URL.Query().Get("token")
	t, err := s.holds.CheckToken(r.Context(), tok)
	if err != nil {
		s.fail(w, r, lang, err)
		return
	}
	s.render(w, r, http.StatusOK, "hold", lang, "hold_button", newHoldView(tok, t))
}

// handleHold holds the column: no run sends it until `newsletter release`.
// Pressing twice is harmless; the first hold's reason stays.
func (s *Server) handleHold(w http.ResponseWriter, r *http.Request) {
	lang := s.lang(r)
	if s.holds == nil {
		s.fail(w, r, lang, errPageNotFound)
		return
	}
	f, err := parseTokenForm(r, s.cfg.MaxBody)
	if err != nil {
		s.fail(w, r, lang, err)
		return
	}
	t, err := s.holds.HoldByToken(r.Context(), f.Token)
	if err != nil {
		s.fail(w, r, lang, err)
		return
	}
	s.log.InfoContext(r.Context(), "column held from the proof mail", "column", t.Number, "held", t.HeldWords)
	s.render(w, r, http.StatusOK, "held", lang, "held_title", newHoldView("", t))
}
