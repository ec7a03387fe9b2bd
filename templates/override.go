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
// it (with bare, also DIR/name, as the pages and the column mail have
// always taken it), else the embedded sub/name of fsys, and where it came
// from. what names the template in errors ("welcome mail template").
func readOverridable(fsys embed.FS, dir, sub, name, what string, bare bool) (src []byte, origin string, err error) {
	if dir != "" {
		candidates := []string{filepath.Join(dir, sub, name)}
		if bare {
			candidates = append(candidates, filepath.Join(dir, name))
		}
		for _, p := range candidates {
			b, err := os.ReadFile(p)
			if err == nil {
				return b, p, nil
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return nil, p, fmt.Errorf("%s override: %w", what, err)
			}
		}
	}
	b, err := fsys.ReadFile(sub + "/" + name)
	if err != nil {
		return nil, sub + "/" + name, fmt.Errorf("embedded %s %s: %w", what, name, err)
	}
	return b, sub + "/" + name, nil
}
