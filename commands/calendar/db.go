package calendar

// The SQL of the calendar's own tables (migrations/0050_calendar.sql). It is
// kept in this one file, with parameters only and the store's error
// vocabulary, so it can move into package store unchanged.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/contextinject/oncallbot/store"
)

// lockKey is the transaction-level advisory lock that serialises Check and
// the look-ahead across replicas ("calendar" in ASCII).
const lockKey int64 = 0x63616c656e646172

func lock(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey); err != nil {
		return fmt.Errorf("lock calendar: %w", err)
	}
	return nil
}

// tokenRow is a stored token.
type tokenRow struct {
	ID     int64  `db:"id"`
	UserID string `db:"user_id"`
	Kind   Kind   `db:"kind"`
	Hash   []byte `db:"token_hash"`
}

func insertToken(ctx context.Context, q store.DBTX, user string, kind Kind, selector string, hash []byte, at time.Time) (int64, error) {
	var id int64
	err := q.QueryRow(ctx, `
		INSERT INTO calendar_tokens (user_id, kind, selector, token_hash, created_at)
		VALUES ($1, $2, $3, $4, $5) RETURNING id`, user, string(kind), selector, hash, at).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("insert %s calendar token for %s: %w", kind, user, err)
	}
	return id, nil
}

// activeTokens counts user's tokens of kind that are not revoked.
func activeTokens(ctx context.Context, q store.DBTX, user string, kind Kind) (int, error) {
	var n int
	err := q.QueryRow(ctx, `SELECT count(*) FROM calendar_tokens WHERE user_id = $1 AND kind = $2 AND revoked_at IS NULL`,
		user, string(kind)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count calendar tokens of %s: %w", user, err)
	}
	return n, nil
}

// tokenBySelector returns the active token with selector, or store.ErrNotFound.
func tokenBySelector(ctx context.Context, q store.DBTX, selector string) (tokenRow, error) {
	rows, err := q.Query(ctx, `
		SELECT id, user_id, kind, token_hash FROM calendar_tokens
		WHERE selector = $1 AND revoked_at IS NULL`, selector)
	if err != nil {
		return tokenRow{}, fmt.Errorf("find calendar token: %w", err)
	}
	row, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[tokenRow])
	if errors.Is(err, pgx.ErrNoRows) {
		return tokenRow{}, fmt.Errorf("find calendar token: %w", store.ErrNotFound)
	}
	if err != nil {
		return tokenRow{}, fmt.Errorf("find calendar token: %w", err)
	}
	return row, nil
}

// revokeTokens revokes every active token of user and returns how many.
func revokeTokens(ctx context.Context, q store.DBTX, user string, at time.Time) (int64, error) {
	tag, err := q.Exec(ctx, `UPDATE calendar_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL`, user, at)
	if err != nil {
		return 0, fmt.Errorf("revoke calendar tokens of %s: %w", user, err)
	}
	return tag.RowsAffected(), nil
}

// Snapshot is a person's future shifts as last seen by Check.
type Snapshot struct {
	TakenAt time.Time
	Until   time.Time
	Runs    []SnapRun
}

func loadSnapshots(ctx context.Context, q store.DBTX) (map[string]Snapshot, error) {
	rows, err := q.Query(ctx, `SELECT user_id, taken_at, until, runs FROM calendar_snapshots`)
	if err != nil {
		return nil, fmt.Errorf("load calendar snapshots: %w", err)
	}
	defer rows.Close()
	out := map[string]Snapshot{}
	for rows.Next() {
		var (
			user string
			s    Snapshot
			raw  []byte
		)
		if err := rows.Scan(&user, &s.TakenAt, &s.Until, &raw); err != nil {
			return nil, fmt.Errorf("load calendar snapshots: %w", err)
		}
		if err := json.Unmarshal(raw, &s.Runs); err != nil {
			return nil, fmt.Errorf("decode calendar snapshot of %s: %w", user, err)
		}
		out[user] = s
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load calendar snapshots: %w", err)
	}
	return out, nil
}

func saveSnapshot(ctx context.Context, q store.DBTX, user string, s Snapshot) error {
	runs := s.Runs
	if runs == nil {
		runs = []SnapRun{}
	}
	raw, err := json.Marshal(runs)
	if err != nil {
		return fmt.Errorf("encode calendar snapshot of %s: %w", user, err)
	}
	_, err = q.Exec(ctx, `
		INSERT INTO calendar_snapshots (user_id, taken_at, until, runs) VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id) DO UPDATE SET taken_at = excluded.taken_at, until = excluded.until, runs = excluded.runs`,
		user, s.TakenAt, s.Until, raw)
	if err != nil {
		return fmt.Errorf("save calendar snapshot of %s: %w", user, err)
	}
	return nil
}

func insertNotice(ctx context.Context, q store.DBTX, user, body string, at time.Time) (int64, error) {
	var id int64
	err := q.QueryRow(ctx, `INSERT INTO calendar_notices (user_id, body, created_at) VALUES ($1, $2, $3) RETURNING id`,
		user, body, at).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("insert shift notice for %s: %w", user, err)
	}
	return id, nil
}

// openNotices returns the IDs of notices not yet delivered.
func openNotices(ctx context.Context, q store.DBTX) ([]int64, error) {
	rows, err := q.Query(ctx, `SELECT id FROM calendar_notices WHERE status IN ('pending', 'sending') ORDER BY id LIMIT 500`)
	if err != nil {
		return nil, fmt.Errorf("list shift notices: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("list shift notices: %w", err)
	}
	return ids, nil
}

// claimNotice makes the caller the notice's only sender: it succeeds for a
// pending notice, or one whose sender claimed it before stale and never
// finished (a crash). ok is false when someone else has it or it is done.
func claimNotice(ctx context.Context, q store.DBTX, id int64, at, stale time.Time) (user, body string, ok bool, err error) {
	err = q.QueryRow(ctx, `
		UPDATE calendar_notices SET status = 'sending', claimed_at = $2, attempts = attempts + 1
		WHERE id = $1 AND (status = 'pending' OR (status = 'sending' AND claimed_at < $3))
		RETURNING user_id, body`, id, at, stale).Scan(&user, &body)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, fmt.Errorf("claim shift notice %d: %w", id, err)
	}
	return user, body, true, nil
}

// finishNotice records a delivery attempt: sent, or back to pending (failed
// for good after maxAttempts).
func finishNotice(ctx context.Context, q store.DBTX, id int64, sent bool, at time.Time) error {
	var err error
	if sent {
		_, err = q.Exec(ctx, `UPDATE calendar_notices SET status = 'sent', sent_at = $2 WHERE id = $1`, id, at)
	} else {
		_, err = q.Exec(ctx, `
			UPDATE calendar_notices SET status = CASE WHEN attempts >= $2 THEN 'failed' ELSE 'pending' END
			WHERE id = $1`, id, maxAttempts)
	}
	if err != nil {
		return fmt.Errorf("finish shift notice %d: %w", id, err)
	}
	return nil
}

// lookAheadRow is the look-ahead message of one reminder slot.
type lookAheadRow struct {
	Slot    time.Time `db:"slot"`
	Channel string    `db:"channel"`
	TS      string    `db:"ts"`
	Body    string    `db:"body"`
}

// latestLookAhead returns the look-ahead of the latest slot, or store.ErrNotFound.
func latestLookAhead(ctx context.Context, q store.DBTX) (lookAheadRow, error) {
	rows, err := q.Query(ctx, `SELECT slot, channel, ts, body FROM calendar_lookahead ORDER BY slot DESC LIMIT 1`)
	if err != nil {
		return lookAheadRow{}, fmt.Errorf("latest look-ahead: %w", err)
	}
	row, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[lookAheadRow])
	if errors.Is(err, pgx.ErrNoRows) {
		return lookAheadRow{}, fmt.Errorf("latest look-ahead: %w", store.ErrNotFound)
	}
	if err != nil {
		return lookAheadRow{}, fmt.Errorf("latest look-ahead: %w", err)
	}
	return row, nil
}

// insertLookAhead records that slot's look-ahead is due in channel; false
// when it already was.
func insertLookAhead(ctx context.Context, q store.DBTX, slot time.Time, channel string, at time.Time) (bool, error) {
	tag, err := q.Exec(ctx, `
		INSERT INTO calendar_lookahead (slot, channel, created_at, updated_at) VALUES ($1, $2, $3, $3)
		ON CONFLICT (slot) DO NOTHING`, slot, channel, at)
	if err != nil {
		return false, fmt.Errorf("insert look-ahead %s: %w", slot.UTC().Format(time.RFC3339), err)
	}
	return tag.RowsAffected() == 1, nil
}

func updateLookAhead(ctx context.Context, q store.DBTX, slot time.Time, ts, body string, at time.Time) error {
	_, err := q.Exec(ctx, `UPDATE calendar_lookahead SET ts = $2, body = $3, updated_at = $4 WHERE slot = $1`, slot, ts, body, at)
	if err != nil {
		return fmt.Errorf("update look-ahead %s: %w", slot.UTC().Format(time.RFC3339), err)
	}
	return nil
}
