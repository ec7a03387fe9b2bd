package main

import (
	"errors"
	"strings"

	"newsletter/subscribers"
)

// finishProof checks the author's safety net: every --proof-to address
// valid, --proof-before positive.
func (cfg *Config) finishProof() error {
	cfg.ProofTo = nil
	seen := map[string]bool{}
	for _, a := range strings.Split(cfg.ProofToText, ",") {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		email, key, err := subscribers.NormalizeEmail(a)
		if err != nil {
			var ie *subscribers.InvalidError
			if errors.As(err, &ie) {
				return usagef("--proof-to: %q is not a valid address: it %s", a, ie.Msg)
			}
			return usagef("--proof-to: %q is not a valid address", a)
		}
		if !seen[key] {
			seen[key] = true
			cfg.ProofTo = append(cfg.ProofTo, email)
		}
	}
	if cfg.ProofBefore <= 0 {
		return usagef("--proof-before: must be positive, got %s", cfg.ProofBefore)
	}
	return nil
}
