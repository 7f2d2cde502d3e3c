package monitoring

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/contextinject/oncallbot/store"
)

// row is a monitoring_alerts row (migrations/0060_monitoring.sql).
type row struct {
	GroupKey        string
	Channel         string
	TS              string
	State           State
	Version         int64
	RenderedVersion int64
}

const selectRow = `SELECT group_key, channel, ts, state, version, rendered_version FROM monitoring_alerts `

func scanRow(r pgx.Row) (row, error) {
	var (
		out row
		raw []byte
	)
	if err := r.Scan(&out.GroupKey, &out.Channel, &out.TS, &raw, &out.Version, &out.RenderedVersion); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return row{}, store.ErrNotFound
		}
		return row{}, err
	}
	if err := json.Unmarshal(raw, &out.State); err != nil {
		return row{}, fmt.Errorf("decode alert group state: %w", err)
	}
	return out, nil
}

// lockGroup reads and locks the group's row; store.ErrNotFound when it has none.
func lockGroup(ctx context.Context, tx pgx.Tx, key string) (row, error) {
	r, err := scanRow(tx.QueryRow(ctx, selectRow+`WHERE group_key = $1 FOR UPDATE`, key))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return row{}, fmt.Errorf("read alert group: %w", err)
	}
	return r, err
}

// lockMessage reads and locks the group posted as message ts in channel.
func lockMessage(ctx context.Context, tx pgx.Tx, channel, ts string) (row, error) {
	r, err := scanRow(tx.QueryRow(ctx, selectRow+`WHERE channel = $1 AND ts = $2 AND ts <> '' FOR UPDATE`, channel, ts))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return row{}, fmt.Errorf("read alert group of message %s: %w", ts, err)
	}
	return r, err
}

// insertGroup creates a group's row; a concurrent creator makes it a
// conflict, and the caller retries against the existing row.
func insertGroup(ctx context.Context, tx pgx.Tx, key, channel string, s State, now time.Time) (bool, error) {
	raw, err := json.Marshal(s)
	if err != nil {
		return false, fmt.Errorf("encode alert group state: %w", err)
	}
	tag, err := tx.Exec(ctx, `
		INSERT INTO monitoring_alerts (group_key, channel, state, version, rendered_version, created_at, updated_at)
		VALUES ($1, $2, $3, 1, 0, $4, $4)
		ON CONFLICT (group_key) DO NOTHING`, key, channel, raw, now)
	if err != nil {
		return false, fmt.Errorf("insert alert group: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// saveState stores a new state of a locked group and bumps its version.
func saveState(ctx context.Context, tx pgx.Tx, key string, s State, now time.Time) error {
	raw, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode alert group state: %w", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE monitoring_alerts SET state = $2, version = version + 1, updated_at = $3 WHERE group_key = $1`, key, raw, now); err != nil {
		return fmt.Errorf("update alert group: %w", err)
	}
	return nil
}

// markRendered records that the message ts shows version.
func markRendered(ctx context.Context, tx pgx.Tx, key, ts string, version int64, now time.Time) error {
	if _, err := tx.Exec(ctx, `UPDATE monitoring_alerts SET ts = $2, rendered_version = $3, updated_at = $4 WHERE group_key = $1`, key, ts, version, now); err != nil {
		return fmt.Errorf("record alert message: %w", err)
	}
	return nil
}
