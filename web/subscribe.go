package web

import (
	"net/http"

	"newsletter/subscribers"
)

// formView is what index.html gets.
type formView struct {
	Email, Name string
	Errors      map[string]string
}

// handleIndex shows the subscribe form.
func (s *Server) handleIndex(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "index", s.lang(r), "", formView{})
}

// handleSubscribe answers the same whether the address is new, pending,
// confirmed or gone, and whether we queued a mail or not, so the form
// cannot be used to find out who is subscribed.
func (s *Server) handleSubscribe(w http.ResponseWriter, r *http.Request) {
	lang := s.lang(r)
	f, err := parseSubscribeForm(r, s.cfg.MaxBody)
	if err != nil { // a body that cannot be read (field problems come from Validate)
		s.fail(w, r, lang, err)
		return
	}
	if f.Lang != "" && s.pages.Lang(f.Lang) == f.Lang {
		lang = f.Lang
	}
	if f.Website != "" {
		s.metrics.countSubscribe("honeypot")
		s.subscribed(w, r, lang)
		return
	}
	if errs := f.Validate(); errs != nil {
		s.metrics.countSubscribe("invalid")
		s.invalid(w, r, lang, f, errs)
		return
	}
	_, err = s.optin.Subscribe(r.Context(), subscribers.SubscribeRequest{
		Email: f.Email, Name: f.Name, Lang: lang,
		Evidence: subscribers.Evidence{IP: clientIP(r.Context()), UserAgent: r.UserAgent(), ConsentText: s.pages.ConsentText(lang)},
	})
	if err != nil {
		s.fail(w, r, lang, err)
		return
	}
	// queued, active and limited are counted alike: per-outcome counts
	// would tell a metrics reader whether an address is on the list.
	s.metrics.countSubscribe("accepted")
	s.subscribed(w, r, lang)
}

func (s *Server) subscribed(w http.ResponseWriter, r *http.Request, lang string) {
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, jsonAnswer{Status: "ok", Message: s.pages.T(lang, "subscribed_text")})
		return
	}
	s.render(w, r, http.StatusOK, "subscribed", lang, "subscribed_title", nil)
}

// invalid shows the form again with the values and what is wrong (422).
func (s *Server) invalid(w http.ResponseWriter, r *http.Request, lang string, f subscribeForm, errs map[string]*subscribers.InvalidError) {
	msgs := make(map[string]string, len(errs))
	for field, e := range errs {
		msgs[field] = s.fieldMessage(lang, e)
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusUnprocessableEntity, jsonAnswer{Status: "invalid", Message: s.pages.T(lang, "form_error_summary"), Errors: msgs})
		return
	}
	s.render(w, r, http.StatusUnprocessableEntity, "index", lang, "", formView{Email: f.Email, Name: f.Name, Errors: msgs})
}
