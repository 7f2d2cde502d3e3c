package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisTimeout bounds dialling, reading and writing when the URL does not
// say otherwise: Redis is an accelerator here, and a slow one must not hold
// up Slack's 3-second acknowledgement.
const redisTimeout = time.Second

// RedisUnreachableError reports that Redis did not answer at start. Its
// message is one line meant to be logged as a single warning; the bot then
// runs on PostgreSQL alone.
type RedisUnreachableError struct {
	// Addr is host:port of the server.
	Addr string
	// Reason is a short cause such as "connection refused".
	Reason string
	// Err is the underlying error.
	Err error
}

// Error implements error.
func (e *RedisUnreachableError) Error() string {
	return fmt.Sprintf("Redis at %s unreachable (%s): continuing on PostgreSQL alone", e.Addr, e.Reason)
}

// Unwrap returns the underlying error.
func (e *RedisUnreachableError) Unwrap() error { return e.Err }

// OpenRedis parses redisURL (redis://[:password@]host:port/db), applies
// short default timeouts and pings the server with a 1 s limit. On failure it
// returns a nil client and an error (a *RedisUnreachableError when the server
// does not answer) without credentials in its text.
func OpenRedis(ctx context.Context, redisURL string, log *slog.Logger) (*redis.Client, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		// go-redis errors may quote the URL; never echo it.
		return nil, fmt.Errorf("parse Redis URL %s: %w: expected redis://[:password@]host:port/db", RedactURL(redisURL), ErrInvalid)
	}
	if opts.DialTimeout == 0 {
		opts.DialTimeout = redisTimeout
	}
	if opts.ReadTimeout == 0 {
		opts.ReadTimeout = redisTimeout
	}
	if opts.WriteTimeout == 0 {
		opts.WriteTimeout = redisTimeout
	}
	// One dial attempt per command: Dedup has its own back-off, and a
	// retry loop per call would hold up the hot path during an outage.
	if opts.DialerRetries == 0 {
		opts.DialerRetries = 1
	}
	// Let callers bound single commands with their context.
	opts.ContextTimeoutEnabled = true

	client := redis.NewClient(opts)
	pctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	if err := client.Ping(pctx).Err(); err != nil {
		_ = client.Close()
		return nil, &RedisUnreachableError{Addr: opts.Addr, Reason: redisReason(err), Err: err}
	}
	log.DebugContext(ctx, "connected to Redis", slog.String("addr", opts.Addr), slog.Int("db", opts.DB))
	return client, nil
}

// RedisLogger adapts an slog.Logger to go-redis's process-wide logger, which
// otherwise prints every failed dial to stderr. Install it once in main,
// before any client exists (redis.SetLogger is not synchronised):
//
//	redis.SetLogger(store.NewRedisLogger(log))
//
// Its lines go out at debug level: an outage is reported by Dedup's single
// warning, not once per dial.
type RedisLogger struct {
	log *slog.Logger
}

// NewRedisLogger returns a RedisLogger writing to log.
func NewRedisLogger(log *slog.Logger) *RedisLogger {
	return &RedisLogger{log: log}
}

// Printf implements go-redis's logging interface.
func (l *RedisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, fmt.Sprintf(format, v...), slog.String("component", "go-redis"))
}

// redisReason names the cause of a Redis failure in a few words.
func redisReason(err error) string {
	var netErr net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "no route to host"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timed out"
	case isRedisAuthErr(err):
		return "authentication failed"
	default:
		return "no answer"
	}
}

func isRedisAuthErr(err error) bool {
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return false
	}
	msg := rerr.Error()
	return len(msg) >= 7 && (msg[:7] == "NOAUTH " || msg[:7] == "WRONGPA")
}
