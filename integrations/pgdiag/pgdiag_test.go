package pgdiag

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/store/storetest"
)

func TestMaskQuery(t *testing.T) {
	tests := []struct{ in, want string }{
		{"SELECT * FROM users WHERE email = 'a@b.c' AND id = 42", "SELECT * FROM users WHERE email = ? AND id = ?"},
		{"select 'it''s', E'x', 1.5e-3, -7", "select ?, E?, ?, -?"},
		{"SELECT $1::int, col_2, t1.x FROM t1 WHERE a = $12", "SELECT $1::int, col_2, t1.x FROM t1 WHERE a = $12"},
		{"DO $$ BEGIN PERFORM 'secret'; END $$", "DO ?"},
		{"SELECT $fn$ body 'x' $fn$, 3", "SELECT ?, ?"},
		{"SELECT 1 -- password 'hunter2'\n FROM t", "SELECT ? FROM t"},
		{"SELECT /* token abc */ \"Weird Col\" FROM \"T\"", "SELECT \"Weird Col\" FROM \"T\""},
		{"SELECT   a,\n\t b", "SELECT a, b"},
		{"SELECT 'unterminated", "SELECT ?"},
		{strings.Repeat("x", 500), strings.Repeat("x", 159) + "…"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, MaskQuery(tt.in), tt.in)
	}
}

func TestCheckSeesConnectionsLocksQueriesAndSizes(t *testing.T) {
	url := storetest.FreshURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	connect := func() *pgx.Conn {
		c, err := pgx.Connect(ctx, url)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close(context.Background()) })
		return c
	}
	setup := connect()
	_, err := setup.Exec(ctx, `CREATE TABLE chunks (id bigint PRIMARY KEY, body text);
		INSERT INTO chunks SELECT g, repeat('x', 500) FROM generate_series(1, 2000) g;
		ANALYZE chunks;
		CREATE TABLE small (id int)`)
	require.NoError(t, err)

	// holder keeps an exclusive lock in an open transaction (idle in transaction).
	holder := connect()
	var holderPID int
	require.NoError(t, holder.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&holderPID))
	htx, err := holder.Begin(ctx)
	require.NoError(t, err)
	_, err = htx.Exec(ctx, "LOCK TABLE small IN ACCESS EXCLUSIVE MODE")
	require.NoError(t, err)

	// waiter blocks on that lock; sleeper runs a long query with a literal.
	waiter, sleeper := connect(), connect()
	var waiterPID int
	require.NoError(t, waiter.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&waiterPID))
	wctx, wcancel := context.WithCancel(ctx)
	sctx, scancel := context.WithCancel(ctx)
	waited, slept := make(chan error, 1), make(chan error, 1)
	go func() { _, err := waiter.Exec(wctx, "SELECT count(*) FROM small"); waited <- err }()
	go func() { _, err := sleeper.Exec(sctx, "SELECT pg_sleep(30), 'customer-secret'"); slept <- err }()
	// Runs before the connections close (cleanups run last-in first-out).
	t.Cleanup(func() {
		wcancel()
		scancel()
		<-waited
		<-slept
	})

	c, err := New(url)
	require.NoError(t, err)
	defer c.Close()

	// Wait (bounded) until the waiter is blocked and the sleeper is running.
	var res Result
	deadline := time.Now().Add(10 * time.Second)
	for {
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		res, err = c.Check(cctx, Options{Activity: true, Sizes: true})
		ccancel()
		require.NoError(t, err)
		if res.WaitingLocks >= 1 && len(res.Queries) >= 3 {
			break
		}
		require.True(t, time.Now().Before(deadline), "the lock wait never showed: %+v", res)
		select {
		case err := <-waited:
			t.Fatalf("the blocked query ended early: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}

	require.True(t, strings.Contains(url, "/"+res.Database+"?") || strings.HasSuffix(url, "/"+res.Database), "%s in %s", res.Database, url)
	require.Positive(t, res.MaxConnections)
	require.NotEmpty(t, res.Version)
	states := map[string]int{}
	for _, s := range res.Connections {
		states[s.State] = s.Count
	}
	require.GreaterOrEqual(t, states["active"], 2, "waiter and sleeper")
	require.GreaterOrEqual(t, states["idle in transaction"], 1, "holder")
	require.GreaterOrEqual(t, res.TotalConnections(), 4)

	require.Equal(t, 1, res.WaitingLocks)
	require.Len(t, res.Locks, 1)
	l := res.Locks[0]
	require.Equal(t, waiterPID, l.PID)
	require.Equal(t, "relation", l.Type)
	require.Equal(t, "AccessShareLock", l.Mode)
	require.Equal(t, "small", l.Relation)
	require.Equal(t, []int{holderPID}, l.BlockedBy)

	var texts []string
	for _, q := range res.Queries {
		texts = append(texts, q.Text)
		if q.PID == holderPID {
			require.Equal(t, "idle in transaction", q.State, "the lock holder shows as idle in transaction")
		}
	}
	require.True(t, slices.Contains(texts, "SELECT pg_sleep(?), ?"), "%q", texts)
	require.True(t, slices.Contains(texts, "SELECT count(*) FROM small"), "%q", texts)
	require.NotContains(t, fmt.Sprintf("%+v", res), "customer-secret")

	require.Positive(t, res.DatabaseBytes)
	require.NotEmpty(t, res.Tables)
	require.Equal(t, "public.chunks", res.Tables[0].Name)
	require.Greater(t, res.Tables[0].Bytes, int64(500*1000))

	// Release: the holder commits and the waiter gets its answer.
	require.NoError(t, htx.Commit(ctx))
	require.NoError(t, <-waited)
	waited <- nil // for the cleanup
}

func TestCheckOnlyWhatWasAsked(t *testing.T) {
	c, err := New(storetest.FreshURL(t))
	require.NoError(t, err)
	defer c.Close()
	res, err := c.Check(context.Background(), Options{})
	require.NoError(t, err)
	require.Empty(t, res.Connections)
	require.Zero(t, res.DatabaseBytes)
}

func TestErrorsHideTheURL(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	c, err := New("postgres://watcher:s3cretpw@" + addr + "/app?sslmode=disable")
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Check(context.Background(), Options{Activity: true})
	require.EqualError(t, err, "connect: PostgreSQL at "+addr+" refused the connection")
	require.NotContains(t, err.Error(), "s3cretpw")

	_, err = New("postgres://watcher:s3cretpw@host:notaport/db")
	require.EqualError(t, err, "the PostgreSQL URL does not parse")

	// A deadline already spent is reported, not hung on.
	c2, err := New(storetest.FreshURL(t))
	require.NoError(t, err)
	defer c2.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	_, err = c2.Check(ctx, Options{Activity: true})
	require.Error(t, err)
}
