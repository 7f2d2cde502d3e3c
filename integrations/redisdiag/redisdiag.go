// Package redisdiag reads a monitored Redis for the redis and queue
// diagnostics: memory and clients (INFO), the slow log (command names and
// durations only, never arguments), round-trip latency, and BullMQ queue
// depths read with the command that fits each key's type (LLEN for lists,
// ZCARD for sorted sets), across BullMQ v3–v6 and legacy Bull layouts
// (reference/integrations.md §6). It only reads.
package redisdiag

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultPrefix is BullMQ's default key prefix.
const DefaultPrefix = "bull"

// pings is how many PINGs measure the round trip.
const pings = 3

// Client reads one Redis.
type Client struct {
	rdb  *redis.Client
	addr string
	own  bool
}

// New returns a Client for a redis:// or rediss:// URL. It does not connect;
// the error never contains the URL.
func New(rawURL string) (*Client, error) {
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, errors.New("the Redis URL does not parse")
	}
	opt.MaxRetries = 0
	opt.PoolSize = 2
	// One dial attempt: a diagnostic should say promptly that Redis is down.
	opt.DialerRetries = 1
	opt.ClientName = "oncallbot-diagnostics"
	// Diagnostics are occasional: do not keep connections open between them.
	opt.ConnMaxIdleTime = time.Minute
	return &Client{rdb: redis.NewClient(opt), addr: opt.Addr, own: true}, nil
}

// FromClient wraps an existing client (tests use storetest.Redis).
func FromClient(rdb *redis.Client) *Client {
	return &Client{rdb: rdb, addr: rdb.Options().Addr}
}

// Close closes a client made by New.
func (c *Client) Close() error {
	if c.own {
		return c.rdb.Close()
	}
	return nil
}

// Info is the server's state.
type Info struct {
	Version          string
	UsedMemory       int64
	UsedMemoryPeak   int64
	MaxMemory        int64 // 0: no limit
	MaxMemoryPolicy  string
	Fragmentation    float64
	ConnectedClients int64
	BlockedClients   int64
	MaxClients       int64
	// RTT is the mean of three PINGs; RTTMax the slowest.
	RTT    time.Duration
	RTTMax time.Duration
	// Slow holds up to 10 slow log entries, newest first.
	Slow []SlowEntry
}

// SlowEntry is one slow log entry: the command's name only, because its
// arguments may hold data or secrets (AUTH).
type SlowEntry struct {
	ID       int64
	At       time.Time
	Duration time.Duration
	Command  string
}

// Check reads INFO memory and clients, SLOWLOG GET 10 and the round trip.
func (c *Client) Check(ctx context.Context) (Info, error) {
	var in Info
	var total time.Duration
	for i := 0; i < pings; i++ {
		start := time.Now()
		if err := c.rdb.Ping(ctx).Err(); err != nil {
			return in, c.wrap("PING", err)
		}
		d := time.Since(start)
		total += d
		in.RTTMax = max(in.RTTMax, d)
	}
	in.RTT = total / pings

	raw, err := c.rdb.Info(ctx, "server", "memory", "clients").Result()
	if err != nil {
		return in, c.wrap("INFO", err)
	}
	f := parseInfo(raw)
	in.Version = f["redis_version"]
	in.UsedMemory = atoi(f["used_memory"])
	in.UsedMemoryPeak = atoi(f["used_memory_peak"])
	in.MaxMemory = atoi(f["maxmemory"])
	in.MaxMemoryPolicy = f["maxmemory_policy"]
	in.Fragmentation, _ = strconv.ParseFloat(f["mem_fragmentation_ratio"], 64)
	in.ConnectedClients = atoi(f["connected_clients"])
	in.BlockedClients = atoi(f["blocked_clients"])
	in.MaxClients = atoi(f["maxclients"])

	slow, err := c.rdb.SlowLogGet(ctx, 10).Result()
	if err != nil {
		return in, c.wrap("SLOWLOG GET", err)
	}
	for _, s := range slow {
		cmd := ""
		if len(s.Args) > 0 {
			cmd = strings.ToUpper(s.Args[0])
		}
		in.Slow = append(in.Slow, SlowEntry{ID: s.ID, At: s.Time, Duration: s.Duration, Command: cmd})
	}
	return in, nil
}

// parseInfo reads INFO's "key:value" lines.
func parseInfo(raw string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(raw, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			out[k] = v
		}
	}
	return out
}

func atoi(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// Queue is the depth of one BullMQ queue.
type Queue struct {
	Name string
	// Found is false when no key of the queue exists (wrong name, another
	// prefix, or a non-Redis backend).
	Found           bool
	Waiting         int64 // jobs in wait (a v4 marker entry excluded)
	Paused          int64 // jobs in the paused list (v3–v5)
	Active          int64
	Delayed         int64
	Prioritized     int64
	WaitingChildren int64
	Failed          int64
	// IsPaused is true when the queue is paused: meta.paused (v4+), or the
	// legacy Bull meta-paused key.
	IsPaused bool
	// Version is meta.version ("bullmq:5.20.0") when BullMQ wrote it.
	Version string
	// Notes report keys of an unexpected type (not counted).
	Notes []string
}

// Backlog is every job waiting to run: waiting, paused, prioritized and
// delayed.
func (q Queue) Backlog() int64 { return q.Waiting + q.Paused + q.Prioritized + q.Delayed }

// counted are the keys read, with the Queue field each adds to.
var counted = []string{"wait", "paused", "active", "delayed", "prioritized", "waiting-children", "failed"}

// Queues reads the depth of each named queue under prefix ("bull").
func (c *Client) Queues(ctx context.Context, prefix string, names []string) ([]Queue, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	out := make([]Queue, 0, len(names))
	for _, name := range names {
		q, err := c.queue(ctx, prefix+":"+name+":", name)
		if err != nil {
			return out, err
		}
		out = append(out, q)
	}
	return out, nil
}

func (c *Client) queue(ctx context.Context, base, name string) (Queue, error) {
	q := Queue{Name: name}
	// First the types, so each key is read with the command that fits it.
	pipe := c.rdb.Pipeline()
	types := make([]*redis.StatusCmd, len(counted))
	for i, k := range counted {
		types[i] = pipe.Type(ctx, base+k)
	}
	metaType := pipe.Type(ctx, base+"meta")
	legacyPaused := pipe.Exists(ctx, base+"meta-paused")
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return q, c.wrap("TYPE", err)
	}

	pipe = c.rdb.Pipeline()
	counts := make([]*redis.IntCmd, len(counted))
	var waitLast *redis.StringCmd
	for i, k := range counted {
		key := base + k
		switch t := types[i].Val(); t {
		case "none":
		case "list":
			q.Found = true
			counts[i] = pipe.LLen(ctx, key)
			if k == "wait" {
				waitLast = pipe.LIndex(ctx, key, -1)
			}
		case "zset":
			q.Found = true
			counts[i] = pipe.ZCard(ctx, key)
		case "set":
			q.Found = true
			counts[i] = pipe.SCard(ctx, key)
		default:
			q.Found = true
			q.Notes = append(q.Notes, fmt.Sprintf("%s is a %s, not a list or sorted set", k, t))
		}
	}
	var paused, version *redis.StringCmd
	switch t := metaType.Val(); t {
	case "hash":
		q.Found = true
		paused = pipe.HGet(ctx, base+"meta", "paused")
		version = pipe.HGet(ctx, base+"meta", "version")
	case "none":
	default:
		q.Notes = append(q.Notes, fmt.Sprintf("meta is a %s, not a hash", t))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return q, c.wrap("LLEN/ZCARD", err)
	}
	val := func(i int) int64 {
		if counts[i] == nil {
			return 0
		}
		return counts[i].Val()
	}
	q.Waiting, q.Paused, q.Active = val(0), val(1), val(2)
	q.Delayed, q.Prioritized, q.WaitingChildren, q.Failed = val(3), val(4), val(5), val(6)
	// Up to v4 the wait list may end with a marker "0:<delay>" that is not
	// a job (getCounts-1.lua subtracts it; we only read).
	if waitLast != nil && strings.HasPrefix(waitLast.Val(), "0:") && q.Waiting > 0 {
		q.Waiting--
	}
	if paused != nil {
		q.IsPaused = paused.Val() == "1"
		q.Version = version.Val()
	}
	if legacyPaused.Val() > 0 {
		q.Found = true
		q.IsPaused = true
	}
	return q, nil
}

// Error is a failure whose message is safe to show: the address and the
// command, never the URL or password.
type Error struct {
	Msg string
	Err error
}

// Error returns the message, safe to show.
func (e *Error) Error() string { return e.Msg }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

func (c *Client) wrap(op string, err error) error {
	var dns *net.DNSError
	msg := err.Error()
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Msg: op + ": Redis did not answer in time", Err: err}
	case errors.Is(err, context.Canceled):
		return &Error{Msg: "cancelled", Err: err}
	case errors.As(err, &dns):
		return &Error{Msg: "Redis host not found (DNS)", Err: err}
	case errors.Is(err, syscall.ECONNREFUSED):
		return &Error{Msg: fmt.Sprintf("Redis at %s refused the connection", c.addr), Err: err}
	case strings.HasPrefix(msg, "NOAUTH"), strings.HasPrefix(msg, "WRONGPASS"):
		return &Error{Msg: "Redis refused the credentials", Err: err}
	case strings.HasPrefix(msg, "NOPERM"):
		return &Error{Msg: op + ": the Redis user may not run this command", Err: err}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &Error{Msg: op + ": Redis did not answer in time", Err: err}
	}
	return &Error{Msg: fmt.Sprintf("%s: Redis at %s failed", op, c.addr), Err: err}
}
