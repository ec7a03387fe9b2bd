package subscribers

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strings"
)

// subscribeForm is the subscribe form as posted, fields trimmed.
type subscribeForm struct {
	Email   string `json:"email"`
	Name    string `json:"name"`
	Lang    string `json:"lang"`
	Website string `json:"website"` // the honeypot: people never see it, bots fill it
}

// parseSubscribeForm reads the form from an urlencoded, multipart or JSON
// body (embedded forms may post JSON).
func parseSubscribeForm(r *http.Request) (subscribeForm, error) {
	var f subscribeForm
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		if err := json.NewDecoder(r.Body).Decode(&f); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return f, err
			}
			// Malformed JSON is treated as an empty form: Validate
			// then says what is missing.
			f = subscribeForm{}
		}
	case "multipart/form-data":
		if err := r.ParseMultipartForm(DefaultMaxBody); err != nil {
			return f, badForm(err)
		}
		fallthrough
	default:
		if err := r.ParseForm(); err != nil {
			return f, badForm(err)
		}
		f = subscribeForm{Email: r.PostForm.Get("email"), Name: r.PostForm.Get("name"),
			Lang: r.PostForm.Get("lang"), Website: r.PostForm.Get("website")}
	}
	f.Email, f.Name = strings.TrimSpace(f.Email), strings.TrimSpace(f.Name)
	f.Lang, f.Website = strings.TrimSpace(f.Lang), strings.TrimSpace(f.Website)
	return f, nil
}

// Validate checks the fields with the same rules as the command line and
// returns the problems by field (nil when there are none).
func (f *subscribeForm) Validate() map[string]*InvalidError {
	errs := map[string]*InvalidError{}
	var ie *InvalidError
	if _, _, err := NormalizeEmail(f.Email); errors.As(err, &ie) {
		errs["email"] = ie
	}
	if _, err := NormalizeName(f.Name); errors.As(err, &ie) {
		errs["name"] = ie
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// formView is what index.html gets.
type formView struct {
	Email, Name string
	Errors      map[string]string
}

func (w *Web) handleIndex(rw http.ResponseWriter, r *http.Request) {
	w.render(rw, r, http.StatusOK, "index", w.lang(r), "", formView{})
}

// handleSubscribe answers the same whether the address is new, pending,
// confirmed or gone, and whether we queued a mail or not, so the form
// cannot be used to find out who is subscribed.
func (w *Web) handleSubscribe(rw http.ResponseWriter, r *http.Request) {
	lang := w.lang(r)
	f, err := parseSubscribeForm(r)
	if err != nil {
		var ie *InvalidError
		if errors.As(err, &ie) {
			w.invalid(rw, r, lang, f, map[string]*InvalidError{ie.Field: ie})
			return
		}
		w.fail(rw, r, lang, err)
		return
	}
	if f.Lang != "" && w.pages.Lang(f.Lang) == f.Lang {
		lang = f.Lang
	}
	if f.Website != "" {
		w.metrics.countSubscribe("honeypot")
		w.subscribed(rw, r, lang)
		return
	}
	if errs := f.Validate(); errs != nil {
		w.metrics.countSubscribe("invalid")
		w.invalid(rw, r, lang, f, errs)
		return
	}
	outcome, err := w.optin.Subscribe(r.Context(), SubscribeRequest{
		Email: f.Email, Name: f.Name, Lang: lang,
		Evidence: Evidence{IP: ClientIP(r.Context()), UserAgent: r.UserAgent(), ConsentText: w.pages.ConsentText(lang)},
	})
	if err != nil {
		w.fail(rw, r, lang, err)
		return
	}
	// queued, active and limited are counted alike: per-outcome counts
	// would tell a metrics reader whether an address is on the list.
	_ = outcome
	w.metrics.countSubscribe("accepted")
	w.subscribed(rw, r, lang)
}

func (w *Web) subscribed(rw http.ResponseWriter, r *http.Request, lang string) {
	if wantsJSON(r) {
		writeJSON(rw, http.StatusOK, jsonAnswer{Status: "ok", Message: w.pages.T(lang, "subscribed_text")})
		return
	}
	w.render(rw, r, http.StatusOK, "subscribed", lang, "subscribed_title", nil)
}

// invalid shows the form again with the values and what is wrong (422).
func (w *Web) invalid(rw http.ResponseWriter, r *http.Request, lang string, f subscribeForm, errs map[string]*InvalidError) {
	msgs := make(map[string]string, len(errs))
	for field, e := range errs {
		msgs[field] = w.fieldMessage(lang, e)
	}
	if wantsJSON(r) {
		writeJSON(rw, http.StatusUnprocessableEntity, jsonAnswer{Status: "invalid", Message: w.pages.T(lang, "form_error_summary"), Errors: msgs})
		return
	}
	w.render(rw, r, http.StatusUnprocessableEntity, "index", lang, "", formView{Email: f.Email, Name: f.Name, Errors: msgs})
}
