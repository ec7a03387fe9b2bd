package subscribers

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Limits from RFC 5321 §4.5.3.1.
const (
	maxLocalLen  = 64
	maxDomainLen = 253
	maxEmailLen  = 254
)

// InvalidError says which input was wrong and why, in words a user can act on.
type InvalidError struct {
	Field string
	Msg   string
	is    error // the sentinel it also is, if any (ErrNoConsentNote)
}

func (e *InvalidError) Error() string { return e.Field + ": " + e.Msg }

func (e *InvalidError) Unwrap() error { return e.is }

func invalid(field, format string, args ...any) error {
	return &InvalidError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// idnaProfile turns an internationalised domain into its ASCII (punycode)
// form, the form SMTP servers accept without SMTPUTF8.
var idnaProfile = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.Transitional(false))

// NormalizeEmail validates an address typed by a person and returns it in the
// form we store and send to (trimmed, domain lower-cased and in ASCII), plus
// the key used for uniqueness (the whole address lower-cased).
//
// It is deliberately stricter than RFC 5322: display names, comments, quoted
// local parts and lists are refused, because a newsletter address is typed
// into one field and anything else is a mistake or a header-injection attempt.
func NormalizeEmail(raw string) (email, key string, err error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", "", invalid("email", "is empty")
	}
	if !utf8.ValidString(s) {
		return "", "", invalid("email", "is not valid UTF-8")
	}
	if strings.ContainsAny(s, "\r\n") {
		return "", "", invalid("email", "must not contain line breaks")
	}
	// Display names ("Eve <eve@example.org>") and lists are the commonest
	// mistake: say so before complaining about the space they contain.
	if i := strings.IndexAny(s, `<>"(),;:[]\`); i >= 0 {
		return "", "", invalid("email", "must be a bare address like name@example.org, without %q", s[i:i+1])
	}
	for _, r := range s {
		switch {
		case unicode.IsControl(r):
			return "", "", invalid("email", "must not contain control characters")
		case unicode.IsSpace(r):
			return "", "", invalid("email", "must not contain spaces")
		}
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return "", "", invalid("email", "has no @")
	}
	local, domain := s[:at], s[at+1:]
	if strings.Contains(local, "@") {
		return "", "", invalid("email", "has more than one @")
	}
	if local == "" {
		return "", "", invalid("email", "has nothing before the @")
	}
	if domain == "" {
		return "", "", invalid("email", "has no domain after the @")
	}
	if len(local) > maxLocalLen {
		return "", "", invalid("email", "has more than %d characters before the @", maxLocalLen)
	}
	for _, r := range local {
		if r > unicode.MaxASCII {
			return "", "", invalid("email", "has non-ASCII letters before the @, which mail servers often refuse")
		}
	}
	if strings.HasPrefix(local, ".") || strings.HasSuffix(local, ".") || strings.Contains(local, "..") {
		return "", "", invalid("email", "has a misplaced dot before the @")
	}
	ascii, err := idnaProfile.ToASCII(strings.ToLower(domain))
	if err != nil {
		return "", "", invalid("email", "has an invalid domain %q", domain)
	}
	ascii = strings.TrimSuffix(ascii, ".")
	if len(ascii) > maxDomainLen {
		return "", "", invalid("email", "has a domain longer than %d characters", maxDomainLen)
	}
	labels := strings.Split(ascii, ".")
	if len(labels) < 2 {
		return "", "", invalid("email", "has a domain %q without a dot (like example.org)", domain)
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || strings.HasPrefix(l, "-") || strings.HasSuffix(l, "-") {
			return "", "", invalid("email", "has an invalid domain %q", domain)
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return "", "", invalid("email", "has an invalid domain %q", domain)
			}
		}
	}
	email = local + "@" + ascii
	if len(email) > maxEmailLen {
		return "", "", invalid("email", "is longer than %d characters", maxEmailLen)
	}
	return email, strings.ToLower(email), nil
}

// NormalizeName trims a display name and refuses characters that could break
// a mail header.
func NormalizeName(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if !utf8.ValidString(s) {
		return "", invalid("name", "is not valid UTF-8")
	}
	if utf8.RuneCountInString(s) > 100 {
		return "", invalid("name", "is longer than 100 characters")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "", invalid("name", "must not contain line breaks or control characters")
		}
	}
	return s, nil
}

// MailboxKey names the mailbox an address delivers to, for counting only:
// the address lower-cased, a `+tag` dropped from the local part, and for
// Gmail (gmail.com and its old name googlemail.com) the dots dropped too,
// so target+1@…, target+2@… and t.arget@gmail.com are one mailbox. Some
// providers ignore more (hyphen tags); counting them apart only errs
// towards more mail, as before. email must be normalised (NormalizeEmail).
func MailboxKey(email string) string {
	s := strings.ToLower(email)
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return s
	}
	local, domain := s[:at], s[at+1:]
	if i := strings.IndexByte(local, '+'); i > 0 {
		local = local[:i]
	}
	if domain == "gmail.com" || domain == "googlemail.com" {
		domain = "gmail.com"
		if l := strings.ReplaceAll(local, ".", ""); l != "" {
			local = l
		}
	}
	return local + "@" + domain
}
