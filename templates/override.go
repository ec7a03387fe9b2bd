package templates

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// readOverridable returns DIR/sub/name when the override folder dir has
// it, else the embedded sub/name of fsys, and where it came from. what
// names the template in errors ("welcome mail template").
func readOverridable(fsys embed.FS, dir, sub, name, what string) (src, origin string, err error) {
	if dir != "" {
		p := filepath.Join(dir, sub, name)
		b, err := os.ReadFile(p)
		if err == nil {
			return string(b), p, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", p, fmt.Errorf("%s override: %w", what, err)
		}
	}
	b, err := fsys.ReadFile(sub + "/" + name)
	if err != nil {
		return "", sub + "/" + name, fmt.Errorf("embedded %s %s: %w", what, name, err)
	}
	return string(b), sub + "/" + name, nil
}
