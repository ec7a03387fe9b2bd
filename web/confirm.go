package web

import (
	"net/http"

	"newsletter/subscribers"
)

// tokenView is what confirm.html and unsubscribe.html get.
type tokenView struct{ Token string }

// handleConfirmPage shows one button. It changes nothing, so link scanners
// that fetch every URL in a mail confirm nobody.
func (s *Server) handleConfirmPage(w http.ResponseWriter, r *http.Request) {
	tok := r.URL.Query().Get("token")
	lang, err := s.optin.CheckConfirmToken(r.Context(), tok)
	if err != nil {
		s.fail(w, r, s.lang(r), err)
		return
	}
	s.render(w, r, http.StatusOK, "confirm", lang, "confirm_title", tokenView{Token: tok})
}

// handleConfirm activates the subscription. The evidence stores the
// sentence of the confirm page in the language it was shown in.
func (s *Server) handleConfirm(w http.ResponseWriter, r *http.Request) {
	lang := s.lang(r)
	f, err := parseTokenForm(r, s.cfg.MaxBody)
	if err != nil {
		s.fail(w, r, lang, err)
		return
	}
	if lang, err = s.optin.CheckConfirmToken(r.Context(), f.Token); err != nil {
		s.fail(w, r, s.lang(r), err)
		return
	}
	_, err = s.optin.Confirm(r.Context(), f.Token, subscribers.Evidence{
		IP: clientIP(r.Context()), UserAgent: r.UserAgent(), ConsentText: s.pages.ConfirmConsentText(lang),
	})
	if err != nil {
		s.fail(w, r, lang, err)
		return
	}
	s.render(w, r, http.StatusOK, "confirmed", lang, "confirmed_title", nil)
}
