package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"

	"newsletter/db"
)

// backupCmd is `newsletter backup FILE [--force]`.
func backupCmd() command {
	return command{
		name: "backup", summary: "write a consistent copy of the database to FILE, also while serve runs",
		usage:  "FILE [--force]",
		groups: groupShared,
		flags: func(fs *flag.FlagSet) func(context.Context, *Env, []string) error {
			force := fs.Bool("force", false, "replace FILE if it exists")
			return func(ctx context.Context, env *Env, args []string) error {
				if len(args) != 1 {
					return usagef("backup: give one FILE to write the copy to")
				}
				return backupCommand(ctx, env, args[0], *force)
			}
		},
	}
}

func backupCommand(ctx context.Context, env *Env, file string, force bool) error {
	src := env.Cfg.DB
	if db.EngineOf(src) == db.Postgres {
		return errors.New("backup: --db is a PostgreSQL database; back it up with pg_dump or the provider's point-in-time recovery")
	}
	if err := databaseFile(src); err != nil {
		return err
	}
	err := db.Backup(ctx, src, file, force)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s already exists; give --force to replace it", file)
	}
	if err != nil {
		return err
	}
	size := ""
	if fi, err := os.Stat(file); err == nil {
		size = fmt.Sprintf(" (%s)", byteSize(fi.Size()))
	}
	fmt.Fprintf(env.Stdout, "Backed up %s to %s%s.\n", esc(src), esc(file), size)
	return nil
}

// byteSize renders n bytes for people: 812 KB, 46.9 MB.
func byteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%d KB", (n+1023)/1024)
	}
}
