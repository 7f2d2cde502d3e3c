// Package storetest provides real PostgreSQL and Redis fixtures for tests of
// every package: an isolated, fully migrated database per call (cloned from a
// template built once per migration set), a rolled-back transaction per test
// on a shared database, and a Redis client with a unique key prefix.
//
// The servers come from TEST_DATABASE_URL (default
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable) and
// TEST_REDIS_URL (default redis://127.0.0.1:6379/0). When they are not
// running, tests fail with a message pointing at scripts/services.sh rather
// than skipping.
package storetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/contextinject/oncallbot/migrations"
	"github.com/contextinject/oncallbot/store"
)

// Defaults for the environment variables naming the test servers.
const (
	DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	DefaultRedisURL    = "redis://127.0.0.1:6379/0"
)

const (
	templatePrefix = "oncallbot_tmpl_"
	testDBPrefix   = "oncallbot_t_"
	setupTimeout   = 2 * time.Minute
	cleanupTimeout = 30 * time.Second
)

// templateLockID serialises template builds across parallel test binaries.
var templateLockID = int64(crc32.ChecksumIEEE([]byte("oncallbot.storetest.template")))

// env is the per-process connection to the test server.
type env struct {
	base     *url.URL
	admin    *pgxpool.Pool
	template string
}

var (
	envMu  sync.Mutex
	envVal *env
	envErr error

	sharedMu  sync.Mutex
	sharedDB  *store.DB
	sharedErr error
)

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// getEnv connects to the test server and makes sure the template for the
// current migrations exists, once per process. Failures are remembered so
// every test reports the same clear error quickly.
func getEnv(t testing.TB) *env {
	t.Helper()
	envMu.Lock()
	defer envMu.Unlock()
	if envVal == nil && envErr == nil {
		envVal, envErr = setupEnv()
	}
	if envErr != nil {
		var unreachable *store.UnreachableError
		if errors.As(envErr, &unreachable) {
			t.Fatalf("storetest: PostgreSQL at %s is unreachable (%s): run scripts/services.sh (or make test), or set TEST_DATABASE_URL",
				unreachable.Addr, unreachable.Reason)
		}
		t.Fatalf("storetest: %v (tests use TEST_DATABASE_URL, default %s)", envErr, DefaultDatabaseURL)
	}
	return envVal
}

func setupEnv() (*env, error) {
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()

	raw := os.Getenv("TEST_DATABASE_URL")
	if raw == "" {
		raw = DefaultDatabaseURL
	}
	base, err := url.Parse(raw)
	if err != nil || (base.Scheme != "postgres" && base.Scheme != "postgresql") {
		return nil, fmt.Errorf("TEST_DATABASE_URL %s is not a postgres:// URL", store.RedactURL(raw))
	}
	adminDB, err := store.Open(ctx, raw, discard())
	if err != nil {
		return nil, err
	}
	e := &env{base: base, admin: adminDB.Pool}
	e.template, err = templateName()
	if err != nil {
		adminDB.Close()
		return nil, err
	}
	if err := e.ensureTemplate(ctx); err != nil {
		adminDB.Close()
		return nil, err
	}
	return e, nil
}

// templateName derives the template database name from everything that
// shapes the schema: our migration files and River's bundled migrations.
func templateName() (string, error) {
	h := sha256.New()
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		return "", fmt.Errorf("list migrations: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		body, err := fs.ReadFile(migrations.FS, name)
		if err != nil {
			return "", fmt.Errorf("read migration %s: %w", name, err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(body))
		h.Write(body)
	}
	migrator, err := rivermigrate.New(riverpgxv5.New(nil), &rivermigrate.Config{Logger: discard()})
	if err != nil {
		return "", fmt.Errorf("list River migrations: %w", err)
	}
	for _, m := range migrator.AllVersions() {
		fmt.Fprintf(h, "river\x00%d\x00%s\x00%d\x00", m.Version, m.Name, len(m.SQLUp))
		h.Write([]byte(m.SQLUp))
	}
	return templatePrefix + hex.EncodeToString(h.Sum(nil))[:16], nil
}

// ensureTemplate builds the template under an advisory lock unless a
// finished one exists. "Finished" is datistemplate, set only after
// migrating, so a build interrupted half-way is rebuilt.
func (e *env) ensureTemplate(ctx context.Context) (err error) {
	conn, err := e.admin.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire admin connection: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", templateLockID); err != nil {
		return fmt.Errorf("lock template build: %w", err)
	}
	defer func() {
		if _, uerr := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", templateLockID); uerr != nil {
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()

	e.sweep(ctx, conn)
	e.pruneTemplates(ctx, conn)

	var ready bool
	err = conn.QueryRow(ctx, "SELECT datistemplate FROM pg_database WHERE datname = $1", e.template).Scan(&ready)
	switch {
	case err == nil && ready:
		return nil
	case err == nil:
		if _, err := conn.Exec(ctx, "DROP DATABASE "+ident(e.template)+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop unfinished template %s: %w", e.template, err)
		}
	case !errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("look up template %s: %w", e.template, err)
	}

	if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident(e.template)); err != nil {
		return fmt.Errorf("create template %s: %w", e.template, err)
	}
	db, err := store.Open(ctx, e.url(e.template), discard())
	if err != nil {
		return fmt.Errorf("open template: %w", err)
	}
	err = db.Migrate(ctx)
	db.Close()
	if err != nil {
		return fmt.Errorf("migrate template %s: %w", e.template, err)
	}
	// No connections allowed: cloning requires none, and nobody should
	// write to the template by accident.
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+ident(e.template)+" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"); err != nil {
		return fmt.Errorf("mark template %s: %w", e.template, err)
	}
	return nil
}

// sweep drops test databases left by test processes on this machine that
// died before their cleanup ran (a timeout, a kill). The creating PID is part
// of the name; a database whose process is gone is dropped. Only for servers
// on loopback, where PIDs refer to this machine.
func (e *env) sweep(ctx context.Context, conn *pgxpool.Conn) {
	if !isLoopback(e.base.Hostname()) {
		return
	}
	rows, err := conn.Query(ctx, "SELECT datname FROM pg_database WHERE datname LIKE $1", testDBPrefix+"%")
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, name := range names {
		pidText, _, ok := strings.Cut(strings.TrimPrefix(name, testDBPrefix), "_")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || pid <= 0 || processAlive(pid) {
			continue
		}
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)")
	}
}

// keptTemplates is how many templates of other migration sets survive, for
// test runs of other checkouts or branches against the same server.
const keptTemplates = 3

// pruneTemplates drops all but the newest keptTemplates templates of other
// migration sets, so a server used for months does not fill up. Newest means
// highest OID, which PostgreSQL assigns in creation order. Nobody connects to
// a template; a clone in progress makes DROP wait until it is done.
func (e *env) pruneTemplates(ctx context.Context, conn *pgxpool.Conn) {
	rows, err := conn.Query(ctx, `
		SELECT datname FROM pg_database
		WHERE datname LIKE $1 AND datname <> $2
		ORDER BY oid DESC
		OFFSET $3`, templatePrefix+"%", e.template, keptTemplates)
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, name := range names {
		if _, err := conn.Exec(ctx, "ALTER DATABASE "+ident(name)+" WITH IS_TEMPLATE false"); err != nil {
			continue
		}
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(name))
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// url returns the test server URL with database name swapped in.
func (e *env) url(database string) string {
	u := *e.base
	u.Path = "/" + database
	u.RawPath = ""
	return u.String()
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}

// newDatabase clones the template into a new database and opens it.
func (e *env) newDatabase(ctx context.Context, name string) (*store.DB, error) {
	if _, err := e.admin.Exec(ctx, "CREATE DATABASE "+ident(name)+" TEMPLATE "+ident(e.template)); err != nil {
		return nil, fmt.Errorf("create test database %s: %w", name, err)
	}
	db, err := store.Open(ctx, e.url(name), discard())
	if err != nil {
		_, _ = e.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)")
		return nil, fmt.Errorf("open test database %s: %w", name, err)
	}
	return db, nil
}

// DB returns a fresh, fully migrated database of its own (ours and River's
// schema), closed and dropped when t ends. Use it where a test commits,
// listens, locks or runs River; otherwise Tx is cheaper.
func DB(t testing.TB) *store.DB {
	t.Helper()
	e := getEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	name := fmt.Sprintf("%s%d_%s", testDBPrefix, os.Getpid(), randomHex(6))
	db, err := e.newDatabase(ctx, name)
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	t.Cleanup(func() {
		db.Close()
		cctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		if _, err := e.admin.Exec(cctx, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)"); err != nil {
			t.Errorf("storetest: drop test database %s: %v", name, err)
		}
	})
	return db
}

// Tx returns a transaction on a database shared by the tests of this test
// binary, rolled back when t ends, so nothing a test writes is seen by
// another. Parallel tests are fine: each has its own transaction.
func Tx(t testing.TB) pgx.Tx {
	t.Helper()
	db := shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		t.Fatalf("storetest: begin transaction: %v", err)
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		if err := tx.Rollback(cctx); err != nil && !errors.Is(err, pgx.ErrTxClosed) {
			t.Errorf("storetest: roll back: %v", err)
		}
	})
	return tx
}

// shared returns this process's shared database. It lives until the process
// exits; the next test run's sweep drops it.
func shared(t testing.TB) *store.DB {
	t.Helper()
	e := getEnv(t)
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if sharedDB == nil && sharedErr == nil {
		ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
		defer cancel()
		sharedDB, sharedErr = e.newDatabase(ctx, fmt.Sprintf("%s%d_shared", testDBPrefix, os.Getpid()))
	}
	if sharedErr != nil {
		t.Fatalf("storetest: %v", sharedErr)
	}
	return sharedDB
}

// URL returns the URL of database on the test server, for tests that need to
// open connections themselves (store.Open against a database that does not
// exist yet, for example). It does not create the database.
func URL(t testing.TB, database string) string {
	t.Helper()
	return getEnv(t).url(database)
}

// Redis returns a client on the test Redis server and a key prefix unique to
// this call. Use only keys starting with the prefix; they are deleted and the
// client closed when t ends.
func Redis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	raw := os.Getenv("TEST_REDIS_URL")
	if raw == "" {
		raw = DefaultRedisURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	rdb, err := store.OpenRedis(ctx, raw, discard())
	if err != nil {
		var unreachable *store.RedisUnreachableError
		if errors.As(err, &unreachable) {
			t.Fatalf("storetest: Redis at %s is unreachable (%s): run scripts/services.sh (or make test), or set TEST_REDIS_URL",
				unreachable.Addr, unreachable.Reason)
		}
		t.Fatalf("storetest: %v (tests use TEST_REDIS_URL, default %s)", err, DefaultRedisURL)
	}
	prefix := "oncallbot:test:" + randomHex(8) + ":"
	t.Cleanup(func() {
		defer rdb.Close()
		cctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		iter := rdb.Scan(cctx, 0, prefix+"*", 200).Iterator()
		var keys []string
		for iter.Next(cctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Errorf("storetest: scan Redis keys %s*: %v", prefix, err)
			return
		}
		for len(keys) > 0 {
			n := min(len(keys), 500)
			if err := rdb.Del(cctx, keys[:n]...).Err(); err != nil {
				t.Errorf("storetest: delete Redis keys %s*: %v", prefix, err)
				return
			}
			keys = keys[n:]
		}
	})
	return rdb, prefix
}
