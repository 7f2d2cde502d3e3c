package storetest_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/store"
	"github.com/contextinject/oncallbot/store/storetest"
)

var t0 = time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)

func TestDBIsIsolatedAndMigrated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := storetest.DB(t), storetest.DB(t)

	var nameA, nameB string
	require.NoError(t, a.Pool.QueryRow(ctx, "SELECT current_database()").Scan(&nameA))
	require.NoError(t, b.Pool.QueryRow(ctx, "SELECT current_database()").Scan(&nameB))
	require.NotEqual(t, nameA, nameB)

	require.NoError(t, store.PutKV(ctx, a.Pool, "k", "only in a", t0))
	var v string
	require.ErrorIs(t, store.GetKV(ctx, b.Pool, "k", &v), store.ErrNotFound)

	var riverTables int
	require.NoError(t, b.Pool.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'river_job'").Scan(&riverTables))
	require.Equal(t, 1, riverTables, "River's schema is migrated too")

	start := time.Now()
	require.NoError(t, b.Migrate(ctx))
	require.Less(t, time.Since(start), 2*time.Second, "already up to date")
}

func TestDBIsDroppedAtCleanup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var name string
	t.Run("inner", func(t *testing.T) {
		db := storetest.DB(t)
		require.NoError(t, db.Pool.QueryRow(ctx, "SELECT current_database()").Scan(&name))
	})
	admin, err := store.Open(ctx, storetest.URL(t, "postgres"), nil)
	require.NoError(t, err)
	defer admin.Close()
	var exists bool
	require.NoError(t, admin.Pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists))
	require.False(t, exists, "database %s dropped", name)
}

func TestTxRollsBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("writer", func(t *testing.T) {
		tx := storetest.Tx(t)
		require.NoError(t, store.PutKV(ctx, tx, "storetest.rollback", 1, t0))
		var v int
		require.NoError(t, store.GetKV(ctx, tx, "storetest.rollback", &v))
	})
	tx := storetest.Tx(t)
	var v int
	require.ErrorIs(t, store.GetKV(ctx, tx, "storetest.rollback", &v), store.ErrNotFound)
}

func TestRedisPrefixIsCleaned(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var prefix string
	t.Run("inner", func(t *testing.T) {
		rdb, p := storetest.Redis(t)
		prefix = p
		for _, k := range []string{"a", "b", "c"} {
			require.NoError(t, rdb.Set(ctx, p+k, 1, time.Minute).Err())
		}
	})
	rdb, other := storetest.Redis(t)
	require.NotEqual(t, prefix, other)
	keys, err := rdb.Keys(ctx, prefix+"*").Result()
	require.NoError(t, err)
	require.Empty(t, keys)
}
