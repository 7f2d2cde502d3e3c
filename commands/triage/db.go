package triage

// The triage tables' queries. They sit beside the module rather than in
// store/ because no other package reads these tables; every helper takes a
// store.DBTX so that it composes in a transaction, and timestamps come from
// the caller's clock.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/contextinject/oncallbot/commands/playbook"
	"github.com/contextinject/oncallbot/store"
)

// definition is the snapshot of a playbook kept with a run.
type definition struct {
	Name          string          `json:"name"`
	Title         string          `json:"title"`
	Alert         string          `json:"alert"`
	EscalateAfter time.Duration   `json:"escalate_after"`
	Steps         []playbook.Step `json:"steps"`
}

func snapshot(p playbook.Playbook) definition {
	return definition{Name: p.Name, Title: p.DisplayTitle(), Alert: p.Alert, EscalateAfter: p.EscalateAfter, Steps: p.Steps}
}

// run is one triage run with its steps.
type run struct {
	IncidentID  int64
	IncidentKey string
	Def         definition
	Channel     string
	ThreadTS    string
	StartedBy   string
	StartedAt   time.Time
	EscalatedAt *time.Time
	Steps       []stepRow
}

// stepRow is the state of one step.
type stepRow struct {
	Step      int
	MessageTS string
	Results   []string
	ResultsAt *time.Time
	DoneBy    string
	DoneAt    *time.Time
}

// Done counts the steps marked done.
func (r run) Done() int {
	n := 0
	for _, s := range r.Steps {
		if s.DoneAt != nil {
			n++
		}
	}
	return n
}

// insertRun records a new run and its steps; created is false when the
// incident already has one (nothing is changed then).
func insertRun(ctx context.Context, q store.DBTX, r run) (created bool, err error) {
	def, err := json.Marshal(r.Def)
	if err != nil {
		return false, fmt.Errorf("encode playbook snapshot: %w", err)
	}
	tag, err := q.Exec(ctx, `
		INSERT INTO triage_runs (incident_id, incident_key, playbook, definition, channel, thread_ts, started_by, started_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (incident_id) DO NOTHING`,
		r.IncidentID, r.IncidentKey, r.Def.Name, def, r.Channel, r.ThreadTS, r.StartedBy, r.StartedAt)
	if err != nil {
		return false, fmt.Errorf("insert triage run %d: %w", r.IncidentID, err)
	}
	if tag.RowsAffected() == 0 {
		return false, nil
	}
	_, err = q.Exec(ctx, `
		INSERT INTO triage_steps (incident_id, step)
		SELECT $1, s FROM generate_series(0, $2 - 1) AS s`, r.IncidentID, len(r.Def.Steps))
	if err != nil {
		return false, fmt.Errorf("insert triage steps of %d: %w", r.IncidentID, err)
	}
	return true, nil
}

// loadRun reads a run and its steps; store.ErrNotFound when there is none.
// forUpdate locks the run's row until the transaction ends.
func loadRun(ctx context.Context, q store.DBTX, incidentID int64, forUpdate bool) (run, error) {
	var (
		r   run
		def []byte
	)
	lock := ""
	if forUpdate {
		lock = " FOR UPDATE"
	}
	err := q.QueryRow(ctx, `
		SELECT incident_id, incident_key, definition, channel, thread_ts, started_by, started_at, escalated_at
		FROM triage_runs WHERE incident_id = $1`+lock, incidentID).
		Scan(&r.IncidentID, &r.IncidentKey, &def, &r.Channel, &r.ThreadTS, &r.StartedBy, &r.StartedAt, &r.EscalatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return run{}, fmt.Errorf("triage run of incident %d: %w", incidentID, store.ErrNotFound)
	}
	if err != nil {
		return run{}, fmt.Errorf("read triage run %d: %w", incidentID, err)
	}
	if err := json.Unmarshal(def, &r.Def); err != nil {
		return run{}, fmt.Errorf("decode playbook snapshot of %d: %w", incidentID, err)
	}
	rows, err := q.Query(ctx, `
		SELECT step, message_ts, results, results_at, done_by, done_at
		FROM triage_steps WHERE incident_id = $1 ORDER BY step`, incidentID)
	if err != nil {
		return run{}, fmt.Errorf("read triage steps of %d: %w", incidentID, err)
	}
	r.Steps, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (stepRow, error) {
		var s stepRow
		err := row.Scan(&s.Step, &s.MessageTS, &s.Results, &s.ResultsAt, &s.DoneBy, &s.DoneAt)
		return s, err
	})
	if err != nil {
		return run{}, fmt.Errorf("read triage steps of %d: %w", incidentID, err)
	}
	if len(r.Steps) != len(r.Def.Steps) {
		return run{}, fmt.Errorf("triage run %d has %d step rows for %d steps", incidentID, len(r.Steps), len(r.Def.Steps))
	}
	return r, nil
}

// setMessage records a step's thread message unless one is recorded.
func setMessage(ctx context.Context, q store.DBTX, incidentID int64, step int, ts string) error {
	_, err := q.Exec(ctx, `
		UPDATE triage_steps SET message_ts = $3
		WHERE incident_id = $1 AND step = $2 AND message_ts = ''`, incidentID, step, ts)
	if err != nil {
		return fmt.Errorf("record message of step %d of %d: %w", step, incidentID, err)
	}
	return nil
}

// setResults records a step's latest diagnostic results.
func setResults(ctx context.Context, q store.DBTX, incidentID int64, step int, results []string, at time.Time) error {
	_, err := q.Exec(ctx, `
		UPDATE triage_steps SET results = $3, results_at = $4
		WHERE incident_id = $1 AND step = $2`, incidentID, step, results, at)
	if err != nil {
		return fmt.Errorf("record results of step %d of %d: %w", step, incidentID, err)
	}
	return nil
}

// markDone marks a step done by user unless it is done already: the first
// click wins. done is false when someone was first (by is then them).
func markDone(ctx context.Context, q store.DBTX, incidentID int64, step int, user string, at time.Time) (done bool, by string, err error) {
	err = q.QueryRow(ctx, `
		UPDATE triage_steps SET done_by = $3, done_at = $4
		WHERE incident_id = $1 AND step = $2 AND done_at IS NULL
		RETURNING done_by`, incidentID, step, user, at).Scan(&by)
	if err == nil {
		return true, by, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return false, "", fmt.Errorf("mark step %d of %d done: %w", step, incidentID, err)
	}
	err = q.QueryRow(ctx, `SELECT done_by FROM triage_steps WHERE incident_id = $1 AND step = $2`, incidentID, step).Scan(&by)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, "", fmt.Errorf("step %d of incident %d: %w", step, incidentID, store.ErrNotFound)
	}
	if err != nil {
		return false, "", fmt.Errorf("read step %d of %d: %w", step, incidentID, err)
	}
	return false, by, nil
}

// markEscalated records the escalation unless it is recorded already.
func markEscalated(ctx context.Context, q store.DBTX, incidentID int64, at time.Time) (bool, error) {
	tag, err := q.Exec(ctx, `
		UPDATE triage_runs SET escalated_at = $2
		WHERE incident_id = $1 AND escalated_at IS NULL`, incidentID, at)
	if err != nil {
		return false, fmt.Errorf("mark triage run %d escalated: %w", incidentID, err)
	}
	return tag.RowsAffected() == 1, nil
}
