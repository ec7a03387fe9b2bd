//go:build stubs

package main

import (
	"context"
	"errors"
)

// Temporary stand-ins while the other packages are being written.

type sendOptions struct {
	Column int
	To     string
	DryRun bool
}

func sendCommand(ctx context.Context, env *Env, o sendOptions) error { return errors.New("not yet") }
func columnsCommand(ctx context.Context, env *Env) error             { return errors.New("not yet") }
func serveCommand(ctx context.Context, env *Env) error               { return errors.New("not yet") }
func previewCommand(ctx context.Context, env *Env, args []string, text, html bool, out string) error {
	return errors.New("not yet")
}
