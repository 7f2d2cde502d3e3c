package store

import (
	"context"
	"fmt"
	"hash/crc32"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/contextinject/oncallbot/migrations"
)

// migrateLockID is the session advisory lock that serialises whole migration
// runs (ours then River's) across processes: replicas starting together and
// parallel test binaries building a template.
var migrateLockID = int64(crc32.ChecksumIEEE([]byte("oncallbot.migrate")))

// Migrate applies pending oncallbot migrations (goose, from migrations.FS) and
// then River's, under a PostgreSQL advisory lock so concurrent starters
// migrate once. When everything is applied it costs a few queries.
func (db *DB) Migrate(ctx context.Context) error {
	start := time.Now()
	conn, err := db.Pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: acquire connection: %w", err)
	}
	defer conn.Release()
	// pg_advisory_lock blocks until granted; ctx cancellation interrupts it.
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrateLockID); err != nil {
		return fmt.Errorf("migrate: take advisory lock: %w", err)
	}
	defer func() {
		// Unlock even when ctx is done, so the session does not keep the lock
		// after the connection returns to the pool.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, "SELECT pg_advisory_unlock($1)", migrateLockID); err != nil {
			db.log.WarnContext(ctx, "release migration lock", slog.Any("error", err))
			// Drop the connection: closing the session releases its locks.
			_ = conn.Conn().Close(uctx)
		}
	}()

	if err := db.migrateGoose(ctx); err != nil {
		return err
	}
	if err := db.migrateRiver(ctx); err != nil {
		return err
	}
	db.log.DebugContext(ctx, "migrations up to date", slog.Duration("took", time.Since(start)))
	return nil
}

func (db *DB) migrateGoose(ctx context.Context) error {
	sqlDB := stdlib.OpenDBFromPool(db.Pool)
	defer sqlDB.Close()

	// The outer lock already serialises oncallbot's own runs; goose's session
	// lock additionally keeps a hand-run goose CLI out while we migrate.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
	if err != nil {
		return fmt.Errorf("migrate: goose locker: %w", err)
	}
	provider, err := goose.NewProvider(goose.DialectPostgres, sqlDB, migrations.FS,
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return fmt.Errorf("migrate: goose provider: %w", err)
	}
	results, err := provider.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate: apply oncallbot migrations: %w", err)
	}
	for _, r := range results {
		db.log.InfoContext(ctx, "applied migration",
			slog.String("file", r.Source.Path),
			slog.Duration("took", r.Duration))
	}
	return nil
}

func (db *DB) migrateRiver(ctx context.Context) error {
	migrator, err := rivermigrate.New(riverpgxv5.New(db.Pool), &rivermigrate.Config{Logger: db.log})
	if err != nil {
		return fmt.Errorf("migrate: river migrator: %w", err)
	}
	res, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return fmt.Errorf("migrate: apply River migrations: %w", err)
	}
	for _, v := range res.Versions {
		db.log.InfoContext(ctx, "applied River migration",
			slog.Int("version", v.Version),
			slog.String("name", v.Name))
	}
	return nil
}
