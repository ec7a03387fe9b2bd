package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"newsletter/subscribers"
)

// subscribeForm is the subscribe form as posted, fields trimmed.
type subscribeForm struct {
	Email   string `json:"email"`
	Name    string `json:"name"`
	Lang    string `json:"lang"`
	Website string `json:"website"` // the honeypot: people never see it, bots fill it
}

// parseSubscribeForm reads the form from an urlencoded, multipart or JSON
// body (embedded forms may post JSON). maxBody is Config.MaxBody: the body
// is no larger (see limitBody), so a multipart body stays in memory.
func parseSubscribeForm(r *http.Request, maxBody int64) (subscribeForm, error) {
	var f subscribeForm
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		// The whole body is read, so one over the limit is 413 however
		// it came, even after a complete object.
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return f, badForm(err)
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		if err := dec.Decode(&f); err != nil {
			// Malformed JSON is treated as an empty form: Validate
			// then says what is missing.
			f = subscribeForm{}
		} else if dec.Decode(&struct{}{}) != io.EOF {
			return subscribeForm{}, badForm(errTrailingJSON)
		}
	case "multipart/form-data":
		if err := r.ParseMultipartForm(maxBody); err != nil {
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
func (f *subscribeForm) Validate() map[string]*subscribers.InvalidError {
	errs := map[string]*subscribers.InvalidError{}
	var ie *subscribers.InvalidError
	if _, _, err := subscribers.NormalizeEmail(f.Email); errors.As(err, &ie) {
		errs["email"] = ie
	}
	if _, err := subscribers.NormalizeName(f.Name); errors.As(err, &ie) {
		errs["name"] = ie
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// tokenForm is a POST to /confirm or /unsubscribe. The token is taken as
// sent: it is checked whole by subscribers, and nothing else is in it.
type tokenForm struct {
	Token    string
	OneClick bool // the RFC 8058 body "List-Unsubscribe=One-Click"
}

// parseTokenForm reads the token from the query string or the form body
// (urlencoded or multipart, as RFC 8058 allows both); maxBody as for
// parseSubscribeForm.
func parseTokenForm(r *http.Request, maxBody int64) (tokenForm, error) {
	// ParseMultipartForm would drop ParseForm's error for a body that is
	// not multipart, and with it the one that says the body is too big.
	var err error
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "multipart/form-data" {
		err = r.ParseMultipartForm(maxBody)
	} else {
		err = r.ParseForm()
	}
	// Too big is 413 on every route, even with a token in the URL.
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return tokenForm{}, err
	}
	f := tokenForm{OneClick: strings.EqualFold(r.PostForm.Get("List-Unsubscribe"), "One-Click")}
	// The link's token decides; a body we cannot read must not stop a
	// one-click unsubscribe whose token is in the URL.
	if f.Token = r.URL.Query().Get("token"); f.Token != "" {
		return f, nil
	}
	if err != nil {
		return f, badForm(err)
	}
	f.Token = r.PostForm.Get("token")
	return f, nil
}
