package store_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/contextinject/oncallbot/store"
	"github.com/contextinject/oncallbot/store/storetest"
)

func BenchmarkMigrateUpToDate(b *testing.B) {
	db := storetest.DB(b)
	ctx := context.Background()
	for b.Loop() {
		if err := db.Migrate(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDedupFirst(b *testing.B) {
	db := storetest.DB(b)
	rdb, prefix := storetest.Redis(b)
	for _, bc := range []struct {
		name string
		d    *store.Dedup
	}{
		{"redis", store.NewDedup(db, rdb, time.Minute, nil, store.WithKeyPrefix(prefix))},
		{"postgresql", store.NewDedup(db, nil, time.Minute, nil)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			i := 0
			for b.Loop() {
				i++
				if _, err := bc.d.First(ctx, bc.name+strconv.Itoa(i), t0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
