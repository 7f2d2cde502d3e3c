package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// SlotRunning is the status of a claimed slot until FinishSlot records the
// outcome.
const SlotRunning = "running"

// ClaimSlot records that job runs for the scheduled slot, at time at. It
// returns true for exactly one caller per (job, slot) across all processes;
// the others get false and must not run the job.
func ClaimSlot(ctx context.Context, q DBTX, job string, slot, at time.Time) (bool, error) {
	what := fmt.Sprintf("claim %s slot %s", job, slot.UTC().Format(time.RFC3339))
	if job == "" || slot.IsZero() || at.IsZero() {
		return false, fmt.Errorf("claim slot: %w: job, slot and time must be set", ErrInvalid)
	}
	var claimed bool
	err := q.QueryRow(ctx, `
		INSERT INTO cron_runs (job, slot, started_at, status) VALUES ($1, $2, $3, $4)
		ON CONFLICT (job, slot) DO NOTHING
		RETURNING true`, job, slot, at, SlotRunning).Scan(&claimed)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, mapErr(what, err)
	}
	return claimed, nil
}

// FinishSlot records the outcome (such as "ok" or "error") of a claimed slot.
// It returns ErrNotFound when the slot was never claimed.
func FinishSlot(ctx context.Context, q DBTX, job string, slot time.Time, status string, at time.Time) error {
	what := fmt.Sprintf("finish %s slot %s", job, slot.UTC().Format(time.RFC3339))
	if status == "" || at.IsZero() {
		return fmt.Errorf("%s: %w: status and time must be set", what, ErrInvalid)
	}
	tag, err := q.Exec(ctx, `UPDATE cron_runs SET finished_at = $3, status = $4 WHERE job = $1 AND slot = $2`,
		job, slot, at, status)
	if err != nil {
		return mapErr(what, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return nil
}

// LastSlot returns the latest claimed slot of job and its status, or
// ErrNotFound when the job never ran. Schedulers use it to catch up on slots
// missed while no process was running.
func LastSlot(ctx context.Context, q DBTX, job string) (time.Time, string, error) {
	var (
		slot   time.Time
		status string
	)
	err := q.QueryRow(ctx, `SELECT slot, status FROM cron_runs WHERE job = $1 ORDER BY slot DESC LIMIT 1`, job).
		Scan(&slot, &status)
	if err != nil {
		return time.Time{}, "", mapErr(fmt.Sprintf("last %s slot", job), err)
	}
	return slot, status, nil
}
