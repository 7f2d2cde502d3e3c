// Package store is oncallbot's only home for SQL and for the connections to
// PostgreSQL, Redis and River. It imports nothing of ours except the embedded
// migrations.
//
// Helpers take a small DBTX (a pool, a connection or a transaction) so that a
// caller can compose several of them in one transaction with (*DB).InTx.
// Every timestamp is passed in by the caller from an injected clock; SQL never
// calls now(). pgx.ErrNoRows becomes ErrNotFound and unique violations become
// *ConflictError naming the constraint, so upper layers map them to user
// answers without parsing SQL errors.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// connectTimeout bounds the first connection so a missing server is reported
// promptly at start instead of after the kernel's TCP timeout.
const connectTimeout = 3 * time.Second

// PostgreSQL error codes the store interprets.
const (
	codeInvalidCatalogName = "3D000" // database does not exist
	codeDuplicateDatabase  = "42P04"
	codeUniqueViolation    = "23505"
)

// ErrNotFound is returned (wrapped) when a row the caller asked for does not
// exist. Test with errors.Is.
var ErrNotFound = errors.New("not found")

// ErrInvalid is returned (wrapped) when a helper rejects its arguments before
// reaching the database. Test with errors.Is.
var ErrInvalid = errors.New("invalid argument")

// ConflictError reports a unique violation. Constraint is the PostgreSQL
// constraint name (for example "kv_pkey"), which callers map to a user-facing
// field.
type ConflictError struct {
	Constraint string
	Err        error
}

// Error implements error.
func (e *ConflictError) Error() string {
	return fmt.Sprintf("conflict on %s", e.Constraint)
}

// Unwrap returns the underlying driver error.
func (e *ConflictError) Unwrap() error { return e.Err }

// UnreachableError reports that no connection could be made to the PostgreSQL
// server at Addr. Its message is one line, safe to log, without credentials.
type UnreachableError struct {
	// Addr is host:port (or the socket directory) that was dialled.
	Addr string
	// Reason is a short cause such as "connection refused" or "timed out".
	Reason string
	// Err is the underlying dial error.
	Err error
}

// Error implements error.
func (e *UnreachableError) Error() string {
	reason := e.Reason
	if reason == "" {
		reason = "no connection"
	}
	return fmt.Sprintf("PostgreSQL at %s is unreachable (%s): start it with scripts/services.sh or point DATABASE_URL at a running server", e.Addr, reason)
}

// Unwrap returns the underlying dial error.
func (e *UnreachableError) Unwrap() error { return e.Err }

// DBTX is what the query helpers need: satisfied by *pgxpool.Pool, *pgx.Conn
// and pgx.Tx, so helpers compose inside a transaction.
type DBTX interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

var (
	_ DBTX = (*pgxpool.Pool)(nil)
	_ DBTX = (*pgx.Conn)(nil)
	_ DBTX = (pgx.Tx)(nil)
)

// DB is an open PostgreSQL connection pool.
type DB struct {
	// Pool is the underlying pool; pass it as a DBTX to the query helpers.
	Pool *pgxpool.Pool
	log  *slog.Logger
}

// DefaultMaxConns is the pool size unless the URL sets pool_max_conns.
const DefaultMaxConns = 24

// Open connects to databaseURL. When the database named in the URL does not
// exist yet it is created through the server's "postgres" maintenance
// database, so a fresh server needs no manual step. When the server cannot be
// reached the error is an *UnreachableError with a one-line explanation.
func Open(ctx context.Context, databaseURL string, log *slog.Logger) (*DB, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		// pgx's parse errors quote the connection string and only redact
		// passwords on a best-effort basis; never echo it.
		return nil, fmt.Errorf("parse database URL %s: %w: expected postgres://user@host:port/dbname", RedactURL(databaseURL), ErrInvalid)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > connectTimeout {
		cfg.ConnConfig.ConnectTimeout = connectTimeout
	}
	// pgxpool's default is max(4, CPUs) connections: River's producers and
	// leader election, the handler workers and the jobs together need more,
	// or a burst waits on the pool. pool_max_conns in the URL still wins.
	if !strings.Contains(databaseURL, "pool_max_conns") && cfg.MaxConns < DefaultMaxConns {
		cfg.MaxConns = DefaultMaxConns
	}

	pool, err := connect(ctx, cfg)
	if err == nil {
		return &DB{Pool: pool, log: log}, nil
	}
	if !isPgCode(err, codeInvalidCatalogName) {
		return nil, err
	}

	name := cfg.ConnConfig.Database
	if err := createDatabase(ctx, cfg.ConnConfig, name); err != nil {
		return nil, err
	}
	log.InfoContext(ctx, "created database", slog.String("database", name), slog.String("addr", addrOf(cfg.ConnConfig)))
	pool, err = connect(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &DB{Pool: pool, log: log}, nil
}

// connect builds a pool and proves it works with a ping bounded by
// connectTimeout.
func connect(ctx context.Context, cfg *pgxpool.Config) (*pgxpool.Pool, error) {
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("create pool for %s: %w", addrOf(cfg.ConnConfig), err)
	}
	pctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, classifyConnectErr(cfg.ConnConfig, err)
	}
	return pool, nil
}

// createDatabase creates name on the server of base through its "postgres"
// maintenance database. A concurrent creator winning the race is not an error.
func createDatabase(ctx context.Context, base *pgx.ConnConfig, name string) error {
	admin := base.Copy()
	admin.Database = "postgres"
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, admin)
	if err != nil {
		return fmt.Errorf("create database %q: %w", name, classifyConnectErr(admin, err))
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	if err != nil && !isPgCode(err, codeDuplicateDatabase) && !isPgCode(err, codeUniqueViolation) {
		return fmt.Errorf("create database %q: %w", name, err)
	}
	return nil
}

// classifyConnectErr turns dial failures into *UnreachableError and leaves
// server answers (authentication, missing database) as they are.
func classifyConnectErr(cfg *pgx.ConnConfig, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return fmt.Errorf("connect to PostgreSQL at %s: %w", addrOf(cfg), err)
	}
	reason := ""
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		reason = "connection refused"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		reason = "no route to host"
	case errors.Is(err, os.ErrNotExist), errors.Is(err, syscall.ENOENT):
		reason = "no such socket"
	case errors.As(err, &dnsErr):
		reason = "host not found"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		reason = "timed out"
	}
	if reason == "" {
		return fmt.Errorf("connect to PostgreSQL at %s: %w", addrOf(cfg), err)
	}
	return &UnreachableError{Addr: addrOf(cfg), Reason: reason, Err: err}
}

func addrOf(cfg *pgx.ConnConfig) string {
	if strings.HasPrefix(cfg.Host, "/") {
		return cfg.Host
	}
	return net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
}

func isPgCode(err error, code string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == code
}

// RedactURL returns rawURL with any password replaced by "xxxxx", for logs and
// error messages. Strings that do not parse as URLs are replaced entirely,
// since they may be key=value connection strings holding a password.
func RedactURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" {
		return "(unparsable URL)"
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.Pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping PostgreSQL: %w", err)
	}
	return nil
}

// Close closes every connection of the pool, waiting for those in use.
func (db *DB) Close() {
	db.Pool.Close()
}

// InTx runs fn in a transaction, committing when fn returns nil and rolling
// back otherwise. fn's error is returned unchanged.
func (db *DB) InTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, db.Pool, fn)
}

// mapErr translates driver errors into the store's error vocabulary, wrapping
// with what so the message says what was being done.
// MapErr wraps err with what was being done, turning pgx.ErrNoRows into
// ErrNotFound and a unique violation into a *ConflictError naming the
// constraint, so feature packages querying their own tables map errors the
// same way.
func MapErr(what string, err error) error { return mapErr(what, err) }

func mapErr(what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == codeUniqueViolation {
		return fmt.Errorf("%s: %w", what, &ConflictError{Constraint: pgErr.ConstraintName, Err: err})
	}
	return fmt.Errorf("%s: %w", what, err)
}
