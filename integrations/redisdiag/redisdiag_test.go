package redisdiag

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/store/storetest"
)

// seed writes n list or sorted-set members under key.
func seed(t *testing.T, rdb *redis.Client, typ, key string, n int) {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < n; i++ {
		switch typ {
		case "list":
			require.NoError(t, rdb.RPush(ctx, key, fmt.Sprint(i+1)).Err())
		case "zset":
			require.NoError(t, rdb.ZAdd(ctx, key, redis.Z{Score: float64(i), Member: fmt.Sprint(i + 1)}).Err())
		}
	}
}

func TestQueuesReadEachVersionLayout(t *testing.T) {
	rdb, prefix := storetest.Redis(t)
	ctx := context.Background()
	p := prefix + "bull"

	// v6 queue, paused: jobs stay in wait, meta.paused=1.
	seed(t, rdb, "list", p+":ingest-document:wait", 612)
	seed(t, rdb, "list", p+":ingest-document:active", 3)
	seed(t, rdb, "zset", p+":ingest-document:delayed", 5)
	seed(t, rdb, "zset", p+":ingest-document:prioritized", 2)
	seed(t, rdb, "zset", p+":ingest-document:failed", 17)
	seed(t, rdb, "zset", p+":ingest-document:completed", 40)
	seed(t, rdb, "zset", p+":ingest-document:marker", 1)
	require.NoError(t, rdb.HSet(ctx, p+":ingest-document:meta", "paused", "1", "version", "bullmq:6.2.0", "opts.maxLenEvents", "10000").Err())

	// v4 queue: a marker "0:<delay>" at the end of wait; paused by RENAME
	// wait→paused in another queue.
	seed(t, rdb, "list", p+":emails:wait", 4)
	require.NoError(t, rdb.RPush(ctx, p+":emails:wait", "0:1500").Err())
	require.NoError(t, rdb.HSet(ctx, p+":emails:meta", "concurrency", "5").Err())
	seed(t, rdb, "list", p+":thumbs:paused", 9)
	require.NoError(t, rdb.HSet(ctx, p+":thumbs:meta", "paused", "1").Err())

	// Legacy Bull: meta-paused string key, priority zset (not counted).
	seed(t, rdb, "list", p+":legacy:wait", 1)
	require.NoError(t, rdb.Set(ctx, p+":legacy:meta-paused", "1", 0).Err())

	// A key of an unexpected type is reported, not misread.
	require.NoError(t, rdb.Set(ctx, p+":odd:failed", "x", 0).Err())

	c := FromClient(rdb)
	qs, err := c.Queues(ctx, p, []string{"ingest-document", "emails", "thumbs", "legacy", "odd", "missing"})
	require.NoError(t, err)
	require.Equal(t, []Queue{
		{Name: "ingest-document", Found: true, Waiting: 612, Active: 3, Delayed: 5, Prioritized: 2, Failed: 17, IsPaused: true, Version: "bullmq:6.2.0"},
		{Name: "emails", Found: true, Waiting: 4},
		{Name: "thumbs", Found: true, Paused: 9, IsPaused: true},
		{Name: "legacy", Found: true, Waiting: 1, IsPaused: true},
		{Name: "odd", Found: true, Notes: []string{"failed is a string, not a list or sorted set"}},
		{Name: "missing"},
	}, qs)
	require.Equal(t, int64(619), qs[0].Backlog())

	// Reading changed nothing: the v4 marker is still there.
	n, err := rdb.LLen(ctx, p+":emails:wait").Result()
	require.NoError(t, err)
	require.Equal(t, int64(5), n)
}

func TestCheckInfoSlowlogLatency(t *testing.T) {
	rdb, prefix := storetest.Redis(t)
	ctx := context.Background()
	// A command with a secret argument lands in the slow log when the
	// threshold is 0; only its name may be reported.
	prev, err := rdb.ConfigGet(ctx, "slowlog-log-slower-than").Result()
	require.NoError(t, err)
	require.NoError(t, rdb.ConfigSet(ctx, "slowlog-log-slower-than", "0").Err())
	t.Cleanup(func() {
		rdb.ConfigSet(context.Background(), "slowlog-log-slower-than", prev["slowlog-log-slower-than"])
	})
	require.NoError(t, rdb.Set(ctx, prefix+"k", "topsecret-value", 0).Err())

	in, err := FromClient(rdb).Check(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, in.Version)
	require.Positive(t, in.UsedMemory)
	require.Positive(t, in.UsedMemoryPeak)
	require.NotEmpty(t, in.MaxMemoryPolicy)
	require.Positive(t, in.ConnectedClients)
	require.Positive(t, in.MaxClients)
	require.Positive(t, in.RTT)
	require.GreaterOrEqual(t, in.RTTMax, in.RTT)
	require.NotEmpty(t, in.Slow)
	require.LessOrEqual(t, len(in.Slow), 10)
	require.NotContains(t, fmt.Sprintf("%+v", in), "topsecret-value")
	for _, s := range in.Slow {
		require.Equal(t, strings.ToUpper(s.Command), s.Command)
		require.NotContains(t, s.Command, " ")
	}
}

func TestErrorsHideTheURL(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	c, err := New("redis://:hunter2pw@" + addr + "/0")
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Check(context.Background())
	require.EqualError(t, err, "Redis at "+addr+" refused the connection")
	_, err = c.Queues(context.Background(), "", []string{"q"})
	require.Error(t, err)
	require.NotContains(t, err.Error(), "hunter2pw")
	_, err = New("http://hunter2pw@x")
	require.EqualError(t, err, "the Redis URL does not parse")
}
