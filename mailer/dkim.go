package mailer

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/emersion/go-msgauth/dkim"
)

// DKIMOptions configures signing. Key or KeyFile gives the private key.
type DKIMOptions struct {
	Domain   string
	Selector string
	KeyFile  string        // PEM: PKCS#8 (RSA or Ed25519) or PKCS#1 RSA
	Key      crypto.Signer // instead of KeyFile
}

// dkimHeaders are signed in every mail. Headers a mail lacks (List-* in
// confirmation mails) are signed as absent, so nobody can add them later.
var dkimHeaders = []string{
	"From", "To", "Subject", "Date", "Message-ID",
	"List-Unsubscribe", "List-Unsubscribe-Post", "List-Id",
	"MIME-Version", "Content-Type",
}

// dkimSigner signs finished messages. go-mail's own DKIM support breaks on
// long header lists in v0.8.1, so we sign the bytes go-mail wrote with
// go-msgauth and send those.
type dkimSigner struct {
	opts dkim.SignOptions
}

func newDKIMSigner(o *DKIMOptions) (*dkimSigner, error) {
	if o == nil {
		return nil, nil
	}
	var missing []string
	if o.Domain == "" {
		missing = append(missing, "a domain")
	}
	if o.Selector == "" {
		missing = append(missing, "a selector")
	}
	if o.Key == nil && o.KeyFile == "" {
		missing = append(missing, "a key")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("DKIM signing needs %s", strings.Join(missing, " and "))
	}
	key := o.Key
	if key == nil {
		var err error
		if key, err = loadDKIMKey(o.KeyFile); err != nil {
			return nil, err
		}
	}
	s := &dkimSigner{opts: dkim.SignOptions{
		Domain:                 strings.ToLower(o.Domain),
		Selector:               o.Selector,
		Signer:                 key,
		Hash:                   crypto.SHA256,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
		HeaderKeys:             dkimHeaders,
	}}
	// Sign once now so a broken key fails at start-up, not per message.
	var out bytes.Buffer
	if err := s.sign(&out, []byte("From: a@b.example\r\n\r\nx\r\n")); err != nil {
		return nil, fmt.Errorf("DKIM key: %w", err)
	}
	return s, nil
}

// loadDKIMKey reads a PEM private key. The error never quotes the file.
func loadDKIMKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read DKIM key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("DKIM key %s: no PEM block found", path)
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		switch k := k.(type) {
		case *rsa.PrivateKey:
			return k, nil
		case ed25519.PrivateKey:
			return k, nil
		default:
			return nil, fmt.Errorf("DKIM key %s: %T is not supported (want RSA or Ed25519)", path, k)
		}
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	return nil, fmt.Errorf("DKIM key %s: not a PKCS#8 or PKCS#1 private key", path)
}

// sign writes the DKIM-Signature header followed by msg to w.
func (s *dkimSigner) sign(w io.Writer, msg []byte) error {
	opts := s.opts
	if err := dkim.Sign(w, bytes.NewReader(msg), &opts); err != nil {
		return fmt.Errorf("DKIM sign: %w", err)
	}
	return nil
}
