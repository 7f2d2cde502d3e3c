// Package pgdiag reads the state of a monitored PostgreSQL server for the
// postgres diagnostic: connections by state, waiting locks, the longest
// running queries (text shortened, literals masked) and, for disk-space,
// the database size and largest tables. Every query runs in a READ ONLY
// transaction under a statement timeout; nothing is ever written.
package pgdiag

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Limits of what is reported.
const (
	maxLocks   = 10
	maxQueries = 5
	maxTables  = 5
	maxQuery   = 160 // characters of a query's text
)

// Options choose what Check reads.
type Options struct {
	// Activity reads connections, waiting locks and long-running queries.
	Activity bool
	// Sizes reads the database size and largest tables.
	Sizes bool
	// StatementTimeout bounds each statement; default 2s, and never more
	// than what is left of the context's deadline.
	StatementTimeout time.Duration
}

// Client checks one server. It holds a small lazily-connecting pool.
type Client struct {
	cfg  *pgxpool.Config
	addr string

	mu   sync.Mutex
	pool *pgxpool.Pool
}

// New returns a Client for databaseURL. It does not connect. The error never
// contains the URL.
func New(databaseURL string) (*Client, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, errors.New("the PostgreSQL URL does not parse")
	}
	cfg.MaxConns = 2
	cfg.MinConns = 0
	cfg.MaxConnIdleTime = time.Minute
	cfg.ConnConfig.RuntimeParams["application_name"] = "oncallbot-diagnostics"
	cfg.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	return &Client{cfg: cfg, addr: net.JoinHostPort(cfg.ConnConfig.Host, fmt.Sprint(cfg.ConnConfig.Port))}, nil
}

// Close closes the pool.
func (c *Client) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pool != nil {
		c.pool.Close()
		c.pool = nil
	}
}

func (c *Client) getPool() (*pgxpool.Pool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pool == nil {
		p, err := pgxpool.NewWithConfig(context.Background(), c.cfg)
		if err != nil {
			return nil, &Error{Msg: "cannot set up the PostgreSQL pool", Err: err}
		}
		c.pool = p
	}
	return c.pool, nil
}

// Result is what Check read.
type Result struct {
	Database       string
	Version        string // server_version
	MaxConnections int
	// Connections are the server's client connections by state (active,
	// idle, idle in transaction, …), most first: they count against
	// MaxConnections whatever their database.
	Connections []StateCount
	// WaitingLocks is the number of lock requests not granted in the
	// database; Locks lists at most 10 of them, longest waiting first.
	WaitingLocks int
	Locks        []Lock
	// Queries are the database's longest running non-idle queries, at most 5.
	Queries []Query
	// DatabaseBytes and Tables are filled when Options.Sizes is set.
	DatabaseBytes int64
	Tables        []Table
}

// TotalConnections sums Connections.
func (r Result) TotalConnections() int {
	n := 0
	for _, s := range r.Connections {
		n += s.Count
	}
	return n
}

// StateCount is a number of connections in one state.
type StateCount struct {
	State string
	Count int
}

// Lock is a lock request that is waiting.
type Lock struct {
	PID      int
	Type     string // relation, transactionid, …
	Mode     string // AccessExclusiveLock, …
	Relation string // "" when not a relation lock
	Waiting  time.Duration
	// BlockedBy are the PIDs holding it up.
	BlockedBy []int
}

// Query is one running statement.
type Query struct {
	PID      int
	State    string
	Duration time.Duration
	// Text is the statement shortened to 160 characters with string and
	// number literals replaced by "?", so no values are shown.
	Text string
}

// Table is a relation and its total size (with indexes and TOAST).
type Table struct {
	Name  string
	Bytes int64
}

// Check runs the read-only queries chosen by o.
func (c *Client) Check(ctx context.Context, o Options) (Result, error) {
	var res Result
	pool, err := c.getPool()
	if err != nil {
		return res, err
	}
	timeout := o.StatementTimeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	if timeout < time.Millisecond {
		return res, &Error{Msg: "no time left for the queries", Err: context.DeadlineExceeded}
	}
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return res, c.wrap("connect", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	// SET cannot take parameters; the value is an integer we format.
	if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL statement_timeout = %d", timeout.Milliseconds())); err != nil {
		return res, c.wrap("set statement_timeout", err)
	}
	if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL lock_timeout = %d", timeout.Milliseconds())); err != nil {
		return res, c.wrap("set lock_timeout", err)
	}
	err = tx.QueryRow(ctx, `SELECT current_database(), current_setting('server_version'), current_setting('max_connections')::int`).
		Scan(&res.Database, &res.Version, &res.MaxConnections)
	if err != nil {
		return res, c.wrap("read server settings", err)
	}
	if o.Activity {
		if err := activity(ctx, tx, &res); err != nil {
			return res, c.wrap("read activity", err)
		}
	}
	if o.Sizes {
		if err := sizes(ctx, tx, &res); err != nil {
			return res, c.wrap("read sizes", err)
		}
	}
	return res, nil
}

func activity(ctx context.Context, tx pgx.Tx, res *Result) error {
	rows, err := tx.Query(ctx, `
		SELECT coalesce(state, 'unknown'), count(*)::int
		FROM pg_stat_activity
		WHERE backend_type = 'client backend'
		GROUP BY 1
		ORDER BY 2 DESC, 1`)
	if err != nil {
		return err
	}
	res.Connections, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (StateCount, error) {
		var s StateCount
		err := r.Scan(&s.State, &s.Count)
		return s, err
	})
	if err != nil {
		return err
	}

	if err := tx.QueryRow(ctx, `
		SELECT count(*)::int FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE NOT l.granted AND a.datname = current_database()`).Scan(&res.WaitingLocks); err != nil {
		return err
	}
	rows, err = tx.Query(ctx, `
		SELECT l.pid, l.locktype, l.mode, coalesce(c.relname, ''),
		       coalesce(extract(epoch FROM clock_timestamp() - coalesce(l.waitstart, a.state_change)), 0)::float8,
		       pg_blocking_pids(l.pid)
		FROM pg_locks l
		LEFT JOIN pg_class c ON c.oid = l.relation
		JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE NOT l.granted AND a.datname = current_database()
		ORDER BY 5 DESC, l.pid
		LIMIT $1`, maxLocks)
	if err != nil {
		return err
	}
	res.Locks, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Lock, error) {
		var (
			l    Lock
			secs float64
			pids []int32
		)
		err := r.Scan(&l.PID, &l.Type, &l.Mode, &l.Relation, &secs, &pids)
		l.Waiting = seconds(secs)
		for _, p := range pids {
			l.BlockedBy = append(l.BlockedBy, int(p))
		}
		return l, err
	})
	if err != nil {
		return err
	}

	rows, err = tx.Query(ctx, `
		SELECT pid, coalesce(state, ''), extract(epoch FROM clock_timestamp() - query_start)::float8, coalesce(left(query, 2000), '')
		FROM pg_stat_activity
		WHERE backend_type = 'client backend' AND state IS NOT NULL AND state <> 'idle'
		  AND pid <> pg_backend_pid() AND query_start IS NOT NULL AND datname = current_database()
		ORDER BY query_start
		LIMIT $1`, maxQueries)
	if err != nil {
		return err
	}
	res.Queries, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Query, error) {
		var (
			q    Query
			secs float64
		)
		err := r.Scan(&q.PID, &q.State, &secs, &q.Text)
		q.Duration = seconds(secs)
		q.Text = MaskQuery(q.Text)
		return q, err
	})
	return err
}

func sizes(ctx context.Context, tx pgx.Tx, res *Result) error {
	if err := tx.QueryRow(ctx, `SELECT pg_database_size(current_database())`).Scan(&res.DatabaseBytes); err != nil {
		return err
	}
	// Candidates come from the planner's page counts, which take no lock;
	// the exact size is then read for those not held exclusively by
	// someone (pg_total_relation_size would wait for that lock).
	rows, err := tx.Query(ctx, `
		WITH candidates AS (
			SELECT c.oid, n.nspname || '.' || c.relname AS name
			FROM pg_class c
			JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE c.relkind IN ('r', 'm')
			  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
			  AND NOT EXISTS (SELECT 1 FROM pg_locks l
			                  WHERE l.relation = c.oid AND l.mode = 'AccessExclusiveLock' AND l.granted)
			ORDER BY c.relpages DESC, c.oid
			LIMIT 20
		)
		SELECT name, pg_total_relation_size(oid) FROM candidates
		ORDER BY 2 DESC, 1
		LIMIT $1`, maxTables)
	if err != nil {
		return err
	}
	res.Tables, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Table, error) {
		var t Table
		err := r.Scan(&t.Name, &t.Bytes)
		return t, err
	})
	return err
}

func seconds(s float64) time.Duration {
	if s < 0 {
		return 0
	}
	return time.Duration(s * float64(time.Second)).Round(time.Millisecond)
}

// MaskQuery shortens a statement for display: string, dollar-quoted and
// numeric literals become "?" (a query sent with the simple protocol carries
// its values inline), comments are dropped, white space collapses, and the
// text is cut at 160 characters. Placeholders ($1) and identifiers stay.
func MaskQuery(q string) string {
	var b strings.Builder
	r := []rune(q)
	space := false
	emit := func(s string) {
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteString(s)
	}
	for i := 0; i < len(r); i++ {
		c := r[i]
		switch {
		case unicode.IsSpace(c):
			space = true
		case c == '-' && i+1 < len(r) && r[i+1] == '-': // -- comment
			for i < len(r) && r[i] != '\n' {
				i++
			}
			space = true
		case c == '/' && i+1 < len(r) && r[i+1] == '*': // /* comment */
			end := strings.Index(string(r[i+2:]), "*/")
			if end < 0 {
				i = len(r)
			} else {
				i += 2 + len([]rune(string(r[i+2:])[:end])) + 1
			}
			space = true
		case c == '\'': // 'string', with '' escapes
			for i++; i < len(r); i++ {
				if r[i] != '\'' {
					continue
				}
				if i+1 < len(r) && r[i+1] == '\'' {
					i++
					continue
				}
				break
			}
			emit("?")
		case c == '"': // "quoted identifier"
			j := i + 1
			for j < len(r) && r[j] != '"' {
				j++
			}
			emit(string(r[i:min(j+1, len(r))]))
			i = j
		case c == '$' && i+1 < len(r) && unicode.IsDigit(r[i+1]): // $1 placeholder
			j := i + 1
			for j < len(r) && unicode.IsDigit(r[j]) {
				j++
			}
			emit(string(r[i:j]))
			i = j - 1
		case c == '$': // $$…$$ or $tag$…$tag$
			j := i + 1
			for j < len(r) && (r[j] == '_' || unicode.IsLetter(r[j]) || unicode.IsDigit(r[j])) {
				j++
			}
			if j >= len(r) || r[j] != '$' {
				emit("$")
				continue
			}
			tag := string(r[i : j+1])
			end := strings.Index(string(r[j+1:]), tag)
			if end < 0 {
				i = len(r)
			} else {
				i = j + 1 + len([]rune(string(r[j+1:])[:end])) + len([]rune(tag)) - 1
			}
			emit("?")
		case unicode.IsDigit(c) && !identChar(b.String(), space):
			j := i
			for j < len(r) && (unicode.IsDigit(r[j]) || r[j] == '.' || r[j] == 'e' || r[j] == 'E' ||
				((r[j] == '+' || r[j] == '-') && j > i && (r[j-1] == 'e' || r[j-1] == 'E'))) {
				j++
			}
			emit("?")
			i = j - 1
		default:
			emit(string(c))
		}
		if b.Len() > 4*maxQuery {
			break // enough to show; the rest is cut below
		}
	}
	out := []rune(b.String())
	if len(out) > maxQuery {
		return string(out[:maxQuery-1]) + "…"
	}
	return string(out)
}

// identChar reports whether the text written so far ends inside an
// identifier (so a digit continues it: t1, col_2).
func identChar(sofar string, space bool) bool {
	if space || sofar == "" {
		return false
	}
	last, _ := utf8.DecodeLastRuneInString(sofar)
	return last == '_' || unicode.IsLetter(last) || unicode.IsDigit(last)
}

// Error is a failure whose message is safe to show: the server address and
// PostgreSQL's own error, never the URL or password.
type Error struct {
	Msg string
	Err error
}

// Error returns the message, safe to show.
func (e *Error) Error() string { return e.Msg }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

func (c *Client) wrap(op string, err error) error {
	var (
		pgErr *pgconn.PgError
		dns   *net.DNSError
	)
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "57014":
		return &Error{Msg: op + ": the statement timeout was reached", Err: err}
	case errors.As(err, &pgErr) && (pgErr.Code == "28P01" || pgErr.Code == "28000"):
		return &Error{Msg: op + ": PostgreSQL refused the credentials", Err: err}
	case errors.As(err, &pgErr):
		return &Error{Msg: fmt.Sprintf("%s: PostgreSQL error %s: %s", op, pgErr.Code, shorten(pgErr.Message, 200)), Err: err}
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Msg: op + ": no answer in time", Err: err}
	case errors.Is(err, context.Canceled):
		return &Error{Msg: "cancelled", Err: err}
	case errors.As(err, &dns):
		return &Error{Msg: fmt.Sprintf("%s: PostgreSQL host %s not found (DNS)", op, c.cfg.ConnConfig.Host), Err: err}
	case errors.Is(err, syscall.ECONNREFUSED):
		return &Error{Msg: fmt.Sprintf("%s: PostgreSQL at %s refused the connection", op, c.addr), Err: err}
	}
	return &Error{Msg: fmt.Sprintf("%s: PostgreSQL at %s is unreachable", op, c.addr), Err: err}
}

func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
