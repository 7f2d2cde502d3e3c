package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// GetKV decodes the JSON value stored under key into dst (a pointer). It
// returns ErrNotFound when the key has never been set.
func GetKV(ctx context.Context, q DBTX, key string, dst any) error {
	what := fmt.Sprintf("get setting %q", key)
	var raw []byte
	if err := q.QueryRow(ctx, `SELECT value FROM kv WHERE key = $1`, key).Scan(&raw); err != nil {
		return mapErr(what, err)
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return fmt.Errorf("%s: decode: %w", what, err)
	}
	return nil
}

// PutKV stores v, encoded as JSON, under key, replacing any previous value.
func PutKV(ctx context.Context, q DBTX, key string, v any, at time.Time) error {
	what := fmt.Sprintf("put setting %q", key)
	if key == "" {
		return fmt.Errorf("put setting: %w: key is empty", ErrInvalid)
	}
	if at.IsZero() {
		return fmt.Errorf("%s: %w: time is not set", what, ErrInvalid)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%s: encode: %w", what, err)
	}
	_, err = q.Exec(ctx, `
		INSERT INTO kv (key, value, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		key, raw, at)
	return mapErr(what, err)
}
