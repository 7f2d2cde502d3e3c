package handoff

// The handoff tables' queries (migrations/0040_handoffs.sql). They follow
// the store package's conventions — parameters only, a DBTX so they compose
// in a transaction, times from the injected clock, pgx.ErrNoRows as
// store.ErrNotFound and unique violations as *store.ConflictError — and can
// move into store/ as they are.

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/contextinject/oncallbot/store"
)

// record is one weekly handoff (a row of handoffs).
type record struct {
	Boundary     time.Time  `db:"boundary"`
	Outgoing     string     `db:"outgoing"`
	Incoming     string     `db:"incoming"`
	RemindedAt   *time.Time `db:"reminded_at"`
	Fields       []byte     `db:"fields"`
	Message      string     `db:"message"`
	PostedBy     string     `db:"posted_by"`
	PostedAt     *time.Time `db:"posted_at"`
	Channel      string     `db:"channel"`
	TS           string     `db:"ts"`
	ReadyChannel string     `db:"ready_channel"`
	ReadyTS      string     `db:"ready_ts"`
	ReadyBy      string     `db:"ready_by"`
	ReadyAt      *time.Time `db:"ready_at"`
	CreatedAt    time.Time  `db:"created_at"`
	UpdatedAt    time.Time  `db:"updated_at"`
}

const recordColumns = `boundary, outgoing, incoming, reminded_at, fields, message, posted_by, posted_at, channel, ts,
	ready_channel, ready_ts, ready_by, ready_at, created_at, updated_at`

func dbErr(what string, err error) error { return store.MapErr(what, err) }

// ensureRecord creates the handoff of boundary unless it exists.
func ensureRecord(ctx context.Context, q store.DBTX, b time.Time, outgoing, incoming string, now time.Time) error {
	_, err := q.Exec(ctx, `
		INSERT INTO handoffs (boundary, outgoing, incoming, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $4)
		ON CONFLICT (boundary) DO NOTHING`, b, outgoing, incoming, now)
	return dbErr("create handoff", err)
}

func getRecord(ctx context.Context, q store.DBTX, b time.Time) (record, error) {
	rows, err := q.Query(ctx, `SELECT `+recordColumns+` FROM handoffs WHERE boundary = $1`, b)
	if err != nil {
		return record{}, dbErr("read handoff", err)
	}
	r, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[record])
	return r, dbErr("read handoff", err)
}

func markReminded(ctx context.Context, q store.DBTX, b, now time.Time) error {
	_, err := q.Exec(ctx, `UPDATE handoffs SET reminded_at = $2, updated_at = $2 WHERE boundary = $1`, b, now)
	return dbErr("mark handoff reminded", err)
}

// claimPost marks the handoff posted by user; false when it already was.
func claimPost(ctx context.Context, q store.DBTX, b time.Time, user, outgoing, incoming string, f Fields, message string, now time.Time) (bool, error) {
	raw, err := json.Marshal(f)
	if err != nil {
		return false, fmt.Errorf("encode handoff fields: %w", err)
	}
	tag, err := q.Exec(ctx, `
		UPDATE handoffs SET posted_by = $2, posted_at = $3, outgoing = $4, incoming = $5, fields = $6, message = $7, updated_at = $3
		WHERE boundary = $1 AND posted_at IS NULL`, b, user, now, outgoing, incoming, raw, message)
	if err != nil {
		return false, dbErr("claim handoff post", err)
	}
	return tag.RowsAffected() == 1, nil
}

// unclaimPost undoes claimPost when Slack refused the post, keeping the text
// as a draft for the next attempt.
func unclaimPost(ctx context.Context, q store.DBTX, b, now time.Time) error {
	_, err := q.Exec(ctx, `UPDATE handoffs SET posted_by = '', posted_at = NULL, updated_at = $2 WHERE boundary = $1 AND ts = ''`, b, now)
	return dbErr("undo handoff post", err)
}

func setPosted(ctx context.Context, q store.DBTX, b time.Time, channel, ts string, now time.Time) error {
	_, err := q.Exec(ctx, `UPDATE handoffs SET channel = $2, ts = $3, updated_at = $4 WHERE boundary = $1`, b, channel, ts, now)
	return dbErr("record handoff post", err)
}

func setReadyDM(ctx context.Context, q store.DBTX, b time.Time, channel, ts string, now time.Time) error {
	_, err := q.Exec(ctx, `UPDATE handoffs SET ready_channel = $2, ready_ts = $3, updated_at = $4 WHERE boundary = $1`, b, channel, ts, now)
	return dbErr("record ready request", err)
}

// claimReady records the incoming primary's Ready; false when already given.
func claimReady(ctx context.Context, q store.DBTX, b time.Time, user string, now time.Time) (bool, error) {
	tag, err := q.Exec(ctx, `
		UPDATE handoffs SET ready_by = $2, ready_at = $3, updated_at = $3
		WHERE boundary = $1 AND ready_at IS NULL AND posted_at IS NOT NULL`, b, user, now)
	if err != nil {
		return false, dbErr("record ready", err)
	}
	return tag.RowsAffected() == 1, nil
}

// emergency is one emergency handoff (a row of emergency_handoffs).
type emergency struct {
	ID            int64      `db:"id"`
	ShiftStart    time.Time  `db:"shift_start"`
	ShiftEnd      time.Time  `db:"shift_end"`
	RequestedBy   string     `db:"requested_by"`
	Reason        string     `db:"reason"`
	FromPrimary   string     `db:"from_primary"`
	NewPrimary    string     `db:"new_primary"`
	Volunteer     string     `db:"volunteer"`
	VolunteeredAt *time.Time `db:"volunteered_at"`
	Channel       string     `db:"channel"`
	TS            string     `db:"ts"`
	CreatedAt     time.Time  `db:"created_at"`
}

// emergencyOnce is the constraint allowing one emergency handoff per
// departing primary and shift.
const emergencyOnce = "emergency_handoffs_once"

func insertEmergency(ctx context.Context, q store.DBTX, e emergency) (int64, error) {
	var id int64
	err := q.QueryRow(ctx, `
		INSERT INTO emergency_handoffs (shift_start, shift_end, requested_by, reason, from_primary, new_primary, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
		e.ShiftStart, e.ShiftEnd, e.RequestedBy, e.Reason, e.FromPrimary, e.NewPrimary, e.CreatedAt).Scan(&id)
	return id, dbErr("create emergency handoff", err)
}

func getEmergency(ctx context.Context, q store.DBTX, id int64) (emergency, error) {
	rows, err := q.Query(ctx, `
		SELECT id, shift_start, shift_end, requested_by, reason, from_primary, new_primary, volunteer, volunteered_at, channel, ts, created_at
		FROM emergency_handoffs WHERE id = $1`, id)
	if err != nil {
		return emergency{}, dbErr("read emergency handoff", err)
	}
	e, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[emergency])
	return e, dbErr("read emergency handoff", err)
}

func setEmergencyMessage(ctx context.Context, q store.DBTX, id int64, channel, ts string) error {
	_, err := q.Exec(ctx, `UPDATE emergency_handoffs SET channel = $2, ts = $3 WHERE id = $1`, id, channel, ts)
	return dbErr("record emergency message", err)
}

// claimVolunteer makes user the new secondary; false when someone was first.
func claimVolunteer(ctx context.Context, q store.DBTX, id int64, user string, now time.Time) (bool, error) {
	tag, err := q.Exec(ctx, `
		UPDATE emergency_handoffs SET volunteer = $2, volunteered_at = $3
		WHERE id = $1 AND volunteer = ''`, id, user, now)
	if err != nil {
		return false, dbErr("claim secondary", err)
	}
	return tag.RowsAffected() == 1, nil
}
