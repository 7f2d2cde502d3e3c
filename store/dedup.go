package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// Dedup defaults.
const (
	// DefaultDedupTTL is how long a key is remembered in Redis when NewDedup
	// gets no positive TTL. Slack redelivers unacknowledged envelopes within
	// minutes.
	DefaultDedupTTL = time.Hour
	// DefaultDedupKeyPrefix namespaces de-duplication keys in Redis.
	DefaultDedupKeyPrefix = "oncallbot:env:"
	// defaultRedisRetry is how long Dedup stays on PostgreSQL after a Redis
	// failure before trying Redis again.
	defaultRedisRetry = 5 * time.Second
	// dedupRedisTimeout bounds one Redis command on the hot path.
	dedupRedisTimeout = 300 * time.Millisecond
)

// Dedup answers "is this the first time we see this key?" for Slack envelope
// IDs and other at-least-once deliveries, across processes and replicas.
//
// Redis filters: SET key 1 NX EX ttl answers a repeat in one round trip
// without touching PostgreSQL. PostgreSQL decides: a key Redis has not seen
// is then claimed with INSERT … ON CONFLICT DO NOTHING into
// processed_envelopes, and only the inserter gets "first". Redis alone is not
// enough with several replicas: a replica whose Redis call failed or timed
// out records the key in PostgreSQL only, and another replica asking Redis
// would accept the same envelope again (the two-replica burst test caught
// exactly that). The extra round trip comes after the ack, so it costs
// answer time, not ack time. While Redis fails, calls go to PostgreSQL alone
// for a few seconds instead of paying a Redis timeout each, with one warning
// per outage.
type Dedup struct {
	db         *DB
	rdb        *redis.Client
	ttl        time.Duration
	log        *slog.Logger
	prefix     string
	retryAfter time.Duration

	mu sync.Mutex
	// down is true from a Redis failure until Redis answers again.
	down bool
	// retryAt is when Redis may be tried again while down.
	retryAt time.Time
}

// DedupOption adjusts a Dedup built by NewDedup.
type DedupOption func(*Dedup)

// WithKeyPrefix replaces DefaultDedupKeyPrefix; tests use it to isolate keys.
func WithKeyPrefix(prefix string) DedupOption {
	return func(d *Dedup) { d.prefix = prefix }
}

// WithRedisRetry sets how long Dedup stays on PostgreSQL after a Redis failure
// before trying Redis again (default 5 s).
func WithRedisRetry(after time.Duration) DedupOption {
	return func(d *Dedup) {
		if after >= 0 {
			d.retryAfter = after
		}
	}
}

// NewDedup returns a Dedup over db and, when rdb is not nil, Redis. Keys are
// remembered in Redis for ttl (DefaultDedupTTL when ttl <= 0) and in
// PostgreSQL until Prune.
func NewDedup(db *DB, rdb *redis.Client, ttl time.Duration, log *slog.Logger, opts ...DedupOption) *Dedup {
	if ttl <= 0 {
		ttl = DefaultDedupTTL
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Dedup{
		db:         db,
		rdb:        rdb,
		ttl:        ttl,
		log:        log,
		prefix:     DefaultDedupKeyPrefix,
		retryAfter: defaultRedisRetry,
	}
	for _, opt := range opts {
		opt(d)
	}
	return d
}

// First reports whether key is seen for the first time, recording it. now is
// the caller's clock; it stamps the PostgreSQL row and paces Redis retries.
func (d *Dedup) First(ctx context.Context, key string, now time.Time) (bool, error) {
	if key == "" {
		return false, fmt.Errorf("dedup: %w: key is empty", ErrInvalid)
	}
	if d.rdb == nil || !d.redisAllowed(now) {
		return d.firstPG(ctx, key, now)
	}

	rctx, cancel := context.WithTimeout(ctx, dedupRedisTimeout)
	first, err := d.rdb.SetNX(rctx, d.prefix+key, 1, d.ttl).Result()
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return false, fmt.Errorf("dedup %q: %w", key, ctx.Err())
		}
		d.redisFailed(ctx, now, err)
		return d.firstPG(ctx, key, now)
	}
	d.redisOK(ctx)
	if !first {
		return false, nil
	}
	return d.firstPG(ctx, key, now)
}

func (d *Dedup) firstPG(ctx context.Context, key string, now time.Time) (bool, error) {
	var first bool
	err := d.db.Pool.QueryRow(ctx, `
		INSERT INTO processed_envelopes (key, at) VALUES ($1, $2)
		ON CONFLICT (key) DO NOTHING
		RETURNING true`, key, now).Scan(&first)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, mapErr(fmt.Sprintf("dedup %q", key), err)
	}
	return first, nil
}

// redisAllowed says whether Redis should be asked at now.
func (d *Dedup) redisAllowed(now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.down && now.Before(d.retryAt) {
		return false
	}
	return true
}

// redisFailed records a failure, warning once per outage.
func (d *Dedup) redisFailed(ctx context.Context, now time.Time, err error) {
	d.mu.Lock()
	first := !d.down
	d.down = true
	d.retryAt = now.Add(d.retryAfter)
	d.mu.Unlock()
	if first {
		d.log.WarnContext(ctx, "Redis failed: de-duplicating on PostgreSQL until it answers again",
			slog.String("reason", redisReason(err)), slog.Any("error", err))
	}
}

// redisOK records that Redis answered, logging the end of an outage.
func (d *Dedup) redisOK(ctx context.Context) {
	d.mu.Lock()
	recovered := d.down
	d.down = false
	d.mu.Unlock()
	if recovered {
		d.log.InfoContext(ctx, "Redis answers again: de-duplicating on Redis and PostgreSQL")
	}
}

// Prune deletes PostgreSQL de-duplication rows recorded before before and
// returns how many went. Run it periodically with before = now - TTL.
func (d *Dedup) Prune(ctx context.Context, before time.Time) (int64, error) {
	tag, err := d.db.Pool.Exec(ctx, `DELETE FROM processed_envelopes WHERE at < $1`, before)
	if err != nil {
		return 0, mapErr("prune processed envelopes", err)
	}
	return tag.RowsAffected(), nil
}
