package store_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/store"
	"github.com/contextinject/oncallbot/store/storetest"
)

func pgRows(t *testing.T, db *store.DB, key string) int {
	t.Helper()
	var n int
	require.NoError(t, db.Pool.QueryRow(context.Background(), "SELECT count(*) FROM processed_envelopes WHERE key = $1", key).Scan(&n))
	return n
}

func TestDedupRedis(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	db := storetest.DB(t)
	rdb, prefix := storetest.Redis(t)
	d := store.NewDedup(db, rdb, time.Minute, nil, store.WithKeyPrefix(prefix))

	first, err := d.First(ctx, "Env1", t0)
	require.NoError(t, err)
	require.True(t, first)
	first, err = d.First(ctx, "Env1", t0.Add(time.Second))
	require.NoError(t, err)
	require.False(t, first)
	first, err = d.First(ctx, "Env2", t0)
	require.NoError(t, err)
	require.True(t, first)

	ttl, err := rdb.TTL(ctx, prefix+"Env1").Result()
	require.NoError(t, err)
	require.Greater(t, ttl, 50*time.Second)
	require.LessOrEqual(t, ttl, time.Minute)
	require.Equal(t, 1, pgRows(t, db, "Env1"), "PostgreSQL records every new key")

	// A second process shares the answer.
	other := store.NewDedup(db, rdb, time.Minute, nil, store.WithKeyPrefix(prefix))
	first, err = other.First(ctx, "Env1", t0)
	require.NoError(t, err)
	require.False(t, first)

	_, err = d.First(ctx, "", t0)
	require.ErrorIs(t, err, store.ErrInvalid)
}

func TestDedupPostgreSQLOnly(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	db := storetest.DB(t)
	log, logs := newCapture()
	d := store.NewDedup(db, nil, time.Minute, log)

	first, err := d.First(ctx, "Env1", t0)
	require.NoError(t, err)
	require.True(t, first)
	first, err = d.First(ctx, "Env1", t0)
	require.NoError(t, err)
	require.False(t, first)
	first, err = d.First(ctx, "Env2", t0.Add(time.Hour))
	require.NoError(t, err)
	require.True(t, first)
	require.Empty(t, logs.drain(slog.LevelWarn), "no Redis configured is not an outage")

	n, err := d.Prune(ctx, t0.Add(time.Minute))
	require.NoError(t, err)
	require.Equal(t, int64(1), n)
	require.Zero(t, pgRows(t, db, "Env1"))
	require.Equal(t, 1, pgRows(t, db, "Env2"))
}

func TestDedupFallsBackWhenRedisIsDown(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	db := storetest.DB(t)
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialerRetries: 1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = dead.Close() })
	log, logs := newCapture()
	d := store.NewDedup(db, dead, time.Minute, log, store.WithRedisRetry(0))

	for i := range 3 {
		key := fmt.Sprintf("Env%d", i)
		first, err := d.First(ctx, key, t0)
		require.NoError(t, err)
		require.True(t, first)
		first, err = d.First(ctx, key, t0)
		require.NoError(t, err)
		require.False(t, first)
		require.Equal(t, 1, pgRows(t, db, key))
	}
	warnings := logs.drain(slog.LevelWarn)
	require.Len(t, warnings, 1, "one warning per outage, not per call: %v", warnings)
	require.Contains(t, warnings[0], "PostgreSQL")
}

// switchableDialer lets a test take Redis down and bring it back.
type switchableDialer struct {
	down atomic.Bool
}

func (s *switchableDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if s.down.Load() {
		return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

func TestDedupAcrossARedisOutage(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	db := storetest.DB(t)
	_, prefix := storetest.Redis(t) // for its prefix and the cleanup of our keys
	sw := &switchableDialer{}
	sw.down.Store(true)
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", Dialer: sw.dial, MaxRetries: -1, DialerRetries: 1})
	t.Cleanup(func() { _ = rdb.Close() })
	log, logs := newCapture()
	const ttl = time.Minute
	d := store.NewDedup(db, rdb, ttl, log, store.WithKeyPrefix(prefix), store.WithRedisRetry(5*time.Second))

	// Outage: answers come from PostgreSQL.
	first, err := d.First(ctx, "DuringOutage", t0)
	require.NoError(t, err)
	require.True(t, first)
	require.Equal(t, 1, pgRows(t, db, "DuringOutage"))
	require.Len(t, logs.drain(slog.LevelWarn), 1)

	// Redis is back, but Dedup waits out the retry delay on PostgreSQL
	// instead of paying a failed Redis call each time.
	sw.down.Store(false)
	first, err = d.First(ctx, "StillWaiting", t0.Add(time.Second))
	require.NoError(t, err)
	require.True(t, first)
	require.Equal(t, 1, pgRows(t, db, "StillWaiting"))

	// After the delay Redis answers; the recovery is logged once.
	now := t0.Add(10 * time.Second)
	first, err = d.First(ctx, "AfterOutage", now)
	require.NoError(t, err)
	require.True(t, first)
	require.Equal(t, []string{"Redis answers again: de-duplicating on Redis and PostgreSQL"}, logs.drain(slog.LevelInfo))

	// A redelivery of an envelope seen only by PostgreSQL during the outage
	// is caught: Redis has not seen it, PostgreSQL has.
	first, err = d.First(ctx, "DuringOutage", now.Add(time.Second))
	require.NoError(t, err)
	require.False(t, first)
	require.Empty(t, logs.drain(slog.LevelWarn))
}

// TestDedupSplitBrain is two replicas of which one cannot reach Redis: the
// envelope is still accepted once.
func TestDedupSplitBrain(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	db := storetest.DB(t)
	rdb, prefix := storetest.Redis(t)
	healthy := store.NewDedup(db, rdb, time.Minute, nil, store.WithKeyPrefix(prefix))
	sw := &switchableDialer{}
	sw.down.Store(true)
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", Dialer: sw.dial, MaxRetries: -1, DialerRetries: 1})
	t.Cleanup(func() { _ = dead.Close() })
	cut := store.NewDedup(db, dead, time.Minute, nil, store.WithKeyPrefix(prefix))

	first, err := cut.First(ctx, "Env9", t0)
	require.NoError(t, err)
	require.True(t, first)
	first, err = healthy.First(ctx, "Env9", t0)
	require.NoError(t, err)
	require.False(t, first, "the replica on Redis must not accept what the other took on PostgreSQL")
}

func TestDedupCancelledContextIsNotAnOutage(t *testing.T) {
	t.Parallel()
	db := storetest.DB(t)
	rdb, prefix := storetest.Redis(t)
	log, logs := newCapture()
	d := store.NewDedup(db, rdb, time.Minute, log, store.WithKeyPrefix(prefix))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := d.First(ctx, "Env1", t0)
	require.True(t, errors.Is(err, context.Canceled), "got %v", err)
	require.Empty(t, logs.drain(slog.LevelWarn))
}

func TestOpenRedis(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	rdb, err := store.OpenRedis(ctx, storetest.DefaultRedisURL, nil)
	require.NoError(t, err)
	require.NoError(t, rdb.Ping(ctx).Err())
	require.NoError(t, rdb.Close())

	const secret = "s3cret-pw"
	rdb, err = store.OpenRedis(ctx, "redis://:"+secret+"@127.0.0.1:1/0", nil)
	require.Nil(t, rdb)
	var unreachable *store.RedisUnreachableError
	require.ErrorAs(t, err, &unreachable)
	require.Equal(t, "Redis at 127.0.0.1:1 unreachable (connection refused): continuing on PostgreSQL alone", err.Error())

	rdb, err = store.OpenRedis(ctx, "rediss://:"+secret+"@127.0.0.1:notaport/x", nil)
	require.Nil(t, rdb)
	require.ErrorIs(t, err, store.ErrInvalid)
	require.NotContains(t, err.Error(), secret)
}

func TestRedisLogger(t *testing.T) {
	t.Parallel()
	log, logs := newCapture()
	store.NewRedisLogger(log).Printf(context.Background(), "failed to dial after %d attempts", 1)
	select {
	case r := <-logs.records:
		require.Equal(t, slog.LevelDebug, r.Level, "dial failures are not warnings")
		require.Equal(t, "failed to dial after 1 attempts", r.Message)
	default:
		t.Fatal("nothing logged")
	}
}
