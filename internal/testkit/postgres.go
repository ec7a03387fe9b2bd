package testkit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the admin connection that creates the test databases

	"newsletter/db"
)

// EngineEnv names the environment variable that picks the engine the
// database tests run on: "postgres" runs them on a throw-away PostgreSQL
// cluster, anything else (the default) on SQLite files.
const EngineEnv = "NEWSLETTER_TEST_ENGINE"

// TestEngine is the engine OpenDB opens, chosen by EngineEnv.
func TestEngine() db.Engine {
	if os.Getenv(EngineEnv) == "postgres" {
		return db.Postgres
	}
	return db.SQLite
}

// SQLiteOnly skips a test when the tests run on PostgreSQL: it checks
// something only the SQLite file has (its bytes, its mode, its WAL, the
// backup of it). why says what, for the skip message.
func SQLiteOnly(tb testing.TB, why string) {
	tb.Helper()
	if TestEngine() != db.SQLite {
		tb.Skipf("SQLite only: %s", why)
	}
}

// Main runs the package's tests and then stops the PostgreSQL cluster,
// if a test started one. A package whose tests may run on PostgreSQL
// calls it from TestMain: os.Exit(testkit.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	StopPostgres()
	return code
}

// PostgresURL creates a fresh database on the test cluster (started on the
// first call: one cluster per test binary) and returns its URL; the
// database is dropped when the test ends. Its tables already exist
// (migrated once into the template every test database is copied from)
// unless empty is set. Without the PostgreSQL server binaries the test is
// skipped, saying so.
func PostgresURL(tb testing.TB, empty bool) string {
	tb.Helper()
	c, err := cluster()
	if err != nil {
		if errors.Is(err, errNoPostgres) {
			tb.Skipf("PostgreSQL tests need the server binaries (initdb, postgres; Debian: apt-get install postgresql): %v", err)
		}
		tb.Fatalf("test PostgreSQL: %v", err)
	}
	name, err := c.createDatabase(empty)
	if err != nil {
		tb.Fatalf("test PostgreSQL: %v", err)
	}
	tb.Cleanup(func() {
		if _, err := c.admin.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`); err != nil {
			tb.Errorf("drop test database %s: %v", name, err)
		}
	})
	return c.url(name)
}

var errNoPostgres = errors.New("PostgreSQL server binaries not found")

// pgCluster is one throw-away PostgreSQL server: initdb into a temporary
// folder, listening on 127.0.0.1 only, on a free port, without fsync (a
// test database needs no durability).
type pgCluster struct {
	dir    string
	port   int
	proc   *exec.Cmd
	exited chan error // the server's Wait, called once, by startServer
	admin  *sql.DB
	n      atomic.Int64
	// strategy makes CREATE DATABASE copy the template's files (PostgreSQL
	// 15 and later): several times faster than the default, which writes
	// every block to the WAL.
	strategy string

	tmplOnce sync.Once
	tmplErr  error
}

var (
	clusterOnce sync.Once
	theCluster  *pgCluster
	clusterErr  error
)

func cluster() (*pgCluster, error) {
	clusterOnce.Do(func() { theCluster, clusterErr = startCluster() })
	return theCluster, clusterErr
}

// StopPostgres stops the test cluster and removes its folder, if one was
// started (Main calls it).
func StopPostgres() {
	if theCluster == nil {
		return
	}
	c := theCluster
	theCluster = nil
	c.admin.Close()
	c.stop()
}

func (c *pgCluster) url(dbname string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, dbname)
}

// createDatabase makes a new database, a copy of the migrated template
// (or of template0 when empty).
func (c *pgCluster) createDatabase(empty bool) (string, error) {
	tmpl := "template0"
	if !empty {
		c.tmplOnce.Do(func() { c.tmplErr = c.makeTemplate() })
		if c.tmplErr != nil {
			return "", c.tmplErr
		}
		tmpl = "newsletter_template"
	}
	name := fmt.Sprintf("t%d", c.n.Add(1))
	if _, err := c.admin.Exec(`CREATE DATABASE ` + name + ` TEMPLATE ` + tmpl + c.strategy); err != nil {
		return "", fmt.Errorf("create database: %w", err)
	}
	return name, nil
}

// makeTemplate migrates the database every test database is copied from,
// so a test pays for a copy, not for the migrations.
func (c *pgCluster) makeTemplate() error {
	if _, err := c.admin.Exec(`CREATE DATABASE newsletter_template TEMPLATE template0`); err != nil {
		return fmt.Errorf("create template database: %w", err)
	}
	d, err := db.Open(context.Background(), c.url("newsletter_template"))
	if err != nil {
		return fmt.Errorf("migrate template database: %w", err)
	}
	return d.Close()
}

// pgBinary finds a PostgreSQL server program on PATH or in Debian's
// versioned folder.
func pgBinary(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(matches) > 0 {
		return matches[len(matches)-1], nil
	}
	return "", fmt.Errorf("%w: %s is neither on PATH nor in /usr/lib/postgresql/*/bin", errNoPostgres, name)
}

// startCluster creates and starts the cluster. PostgreSQL refuses to run
// as root; a root test process (CI) runs initdb and the server as the
// "postgres" user Debian's package creates, owner of the cluster folder.
func startCluster() (*pgCluster, error) {
	initdb, err := pgBinary("initdb")
	if err != nil {
		return nil, err
	}
	postgres, err := pgBinary("postgres")
	if err != nil {
		return nil, err
	}
	cred, err := serverCredential()
	if err != nil {
		return nil, err
	}
	// The server's user must reach the folder: as root, not under a TMPDIR
	// a test may have pointed into a private folder, but in /tmp.
	base := ""
	if cred != nil {
		base = "/tmp"
	}
	sweepClusters(base)
	dir, err := os.MkdirTemp(base, "newsletter-pg-")
	if err != nil {
		return nil, err
	}
	c := &pgCluster{dir: dir}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	cmd := exec.Command(initdb, "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	// Another test binary may take the free port between our look and the
	// server's bind: try a few.
	for try := 0; ; try++ {
		err = c.startServer(postgres, data, cred)
		if err == nil || try == 4 {
			break
		}
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return c, nil
}

func (c *pgCluster) startServer(postgres, data string, cred *syscall.Credential) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	c.port = port
	logFile, err := os.Create(filepath.Join(c.dir, "server.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(postgres, "-D", data, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=400", "-c", "shared_buffers=64MB")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Should the test binary die without Main's clean-up, the server
	// shuts down with it (SIGQUIT: immediate shutdown).
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	admin, err := sql.Open("pgx", c.url("postgres"))
	if err != nil {
		cmd.Process.Kill()
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err = admin.Ping()
		if err == nil {
			break
		}
		select {
		case werr := <-exited:
			admin.Close()
			log, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
			return fmt.Errorf("postgres exited (%v):\n%s", werr, log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			admin.Close()
			cmd.Process.Kill()
			<-exited
			return fmt.Errorf("postgres did not answer on port %d: %w", port, err)
		}
	}
	c.proc, c.exited, c.admin = cmd, exited, admin
	var version int
	if err := admin.QueryRow(`SELECT current_setting('server_version_num')::int`).Scan(&version); err == nil && version >= 150000 {
		c.strategy = " STRATEGY FILE_COPY"
	}
	return nil
}

// stop shuts the server down (fast shutdown) and removes the cluster.
func (c *pgCluster) stop() {
	if c.proc != nil && c.proc.Process != nil {
		c.proc.Process.Signal(syscall.SIGINT)
		select {
		case <-c.exited:
		case <-time.After(20 * time.Second):
			c.proc.Process.Kill()
			<-c.exited
		}
	}
	os.RemoveAll(c.dir)
}

// sweepClusters removes the clusters of test binaries that died without
// Main's clean-up (their server went with them: Pdeathsig): a server that
// ran (postmaster.opts) and runs no more (no postmaster.pid). A cluster
// another test binary is still creating has neither; one it runs has both.
func sweepClusters(base string) {
	if base == "" {
		base = os.TempDir()
	}
	dirs, _ := filepath.Glob(filepath.Join(base, "newsletter-pg-*"))
	for _, dir := range dirs {
		data := filepath.Join(dir, "data")
		if _, err := os.Stat(filepath.Join(data, "postmaster.opts")); err != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(data, "postmaster.pid")); errors.Is(err, os.ErrNotExist) {
			os.RemoveAll(dir)
		}
	}
}

// serverCredential is whom initdb and the server run as: nil (this
// process's user) unless that is root.
func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, and there is no \"postgres\" user to run the server as (PostgreSQL refuses root; Debian's postgresql package creates it): %w", err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// freePort returns a TCP port on 127.0.0.1 free at the moment.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
