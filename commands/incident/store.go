package incident

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/contextinject/oncallbot/commands/severity"
	"github.com/contextinject/oncallbot/store"
)

// This file holds the package's SQL (tables of migrations/0010_incidents.sql).
// Every helper takes a store.DBTX so it composes inside a transaction, and
// every instant is passed in from the injected clock.

const incidentColumns = `id, severity, title, status, owner, playbook, source, source_ref, pd_id, opened_by,
	channel, ts, created_at, acked_at, acked_by, acked_via, resolved_at, resolved_by, clock_start,
	ack_due, investigate_due, first_update_due, resolve_due, first_update_at, last_activity_at,
	impact, latest_update, root_cause, resolution, notes, paging, paged,
	esc_round, esc_loop, esc_step, esc_due, esc_state, check_seq`

type incidentRow struct {
	ID             int64             `db:"id"`
	Severity       string            `db:"severity"`
	Title          string            `db:"title"`
	Status         string            `db:"status"`
	Owner          string            `db:"owner"`
	Playbook       string            `db:"playbook"`
	Source         string            `db:"source"`
	SourceRef      string            `db:"source_ref"`
	PDID           string            `db:"pd_id"`
	OpenedBy       string            `db:"opened_by"`
	Channel        string            `db:"channel"`
	TS             string            `db:"ts"`
	CreatedAt      time.Time         `db:"created_at"`
	AckedAt        *time.Time        `db:"acked_at"`
	AckedBy        string            `db:"acked_by"`
	AckedVia       string            `db:"acked_via"`
	ResolvedAt     *time.Time        `db:"resolved_at"`
	ResolvedBy     string            `db:"resolved_by"`
	ClockStart     time.Time         `db:"clock_start"`
	AckDue         *time.Time        `db:"ack_due"`
	InvestigateDue *time.Time        `db:"investigate_due"`
	FirstUpdateDue *time.Time        `db:"first_update_due"`
	ResolveDue     *time.Time        `db:"resolve_due"`
	FirstUpdateAt  *time.Time        `db:"first_update_at"`
	LastActivityAt time.Time         `db:"last_activity_at"`
	Impact         string            `db:"impact"`
	LatestUpdate   string            `db:"latest_update"`
	RootCause      string            `db:"root_cause"`
	Resolution     string            `db:"resolution"`
	Notes          map[string]string `db:"notes"`
	Paging         string            `db:"paging"`
	Paged          []string          `db:"paged"`
	EscRound       int               `db:"esc_round"`
	EscLoop        int               `db:"esc_loop"`
	EscStep        int               `db:"esc_step"`
	EscDue         *time.Time        `db:"esc_due"`
	EscState       string            `db:"esc_state"`
	CheckSeq       int               `db:"check_seq"`
}

func val(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

func ptr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func (r incidentRow) incident() *Incident {
	notes := r.Notes
	if notes == nil {
		notes = map[string]string{}
	}
	return &Incident{
		ID: r.ID, Key: KeyOf(r.ID), Severity: r.Severity, Title: r.Title, Status: r.Status, Owner: r.Owner,
		Playbook: r.Playbook, Source: r.Source, SourceRef: r.SourceRef, OpenedBy: r.OpenedBy,
		Channel: r.Channel, TS: r.TS, CreatedAt: r.CreatedAt.UTC(), AckedAt: val(r.AckedAt), AckedBy: r.AckedBy,
		AckedVia: r.AckedVia, ResolvedAt: val(r.ResolvedAt), ResolvedBy: r.ResolvedBy,
		Deadlines: severity.Deadlines{
			Acknowledge: val(r.AckDue), Investigate: val(r.InvestigateDue), FirstUpdate: val(r.FirstUpdateDue),
			Resolve: val(r.ResolveDue), ClockStart: r.ClockStart.UTC(),
		},
		FirstUpdateAt: val(r.FirstUpdateAt), LastActivityAt: r.LastActivityAt.UTC(),
		Impact: r.Impact, LatestUpdate: r.LatestUpdate, RootCause: r.RootCause, Resolution: r.Resolution,
		Notes: notes, Paging: r.Paging, PagerDutyID: r.PDID, Paged: r.Paged,
		Esc:      Position{Round: r.EscRound, Loop: r.EscLoop, Step: r.EscStep, Due: val(r.EscDue), State: r.EscState},
		checkSeq: r.CheckSeq,
	}
}

func mapErr(what string, err error) error { return store.MapErr(what, err) }

func queryIncidents(ctx context.Context, q store.DBTX, what, where string, args ...any) ([]*Incident, error) {
	rows, err := q.Query(ctx, `SELECT `+incidentColumns+` FROM incidents `+where, args...)
	if err != nil {
		return nil, mapErr(what, err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByName[incidentRow])
	if err != nil {
		return nil, mapErr(what, err)
	}
	out := make([]*Incident, 0, len(list))
	for _, r := range list {
		out = append(out, r.incident())
	}
	return out, nil
}

func queryOne(ctx context.Context, q store.DBTX, what, where string, args ...any) (*Incident, error) {
	list, err := queryIncidents(ctx, q, what, where, args...)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return list[0], nil
}

// getIncident reads incident id; forUpdate locks its row until the
// transaction ends, which serialises every change of one incident.
func getIncident(ctx context.Context, q store.DBTX, id int64, forUpdate bool) (*Incident, error) {
	lock := ""
	if forUpdate {
		lock = " FOR UPDATE"
	}
	return queryOne(ctx, q, fmt.Sprintf("get incident %d", id), `WHERE id = $1`+lock, id)
}

// openBySource finds the open incident with source and ref.
func openBySource(ctx context.Context, q store.DBTX, source, ref string) (*Incident, error) {
	return queryOne(ctx, q, "find open incident by source", `WHERE source = $1 AND source_ref = $2 AND status <> 'resolved'`, source, ref)
}

// byPagerDuty finds the incident linked to PagerDuty incident pdID, or whose
// PagerDuty incident key is key (incidents the bot raised in PagerDuty).
func byPagerDuty(ctx context.Context, q store.DBTX, pdID string, ownID int64) (*Incident, error) {
	return queryOne(ctx, q, "find incident by pagerduty id",
		`WHERE (pd_id = $1 AND $1 <> '') OR (source = 'pagerduty' AND source_ref = $1 AND $1 <> '') OR id = $2
		 ORDER BY id DESC LIMIT 1`, pdID, ownID)
}

func listOpen(ctx context.Context, q store.DBTX) ([]*Incident, error) {
	return queryIncidents(ctx, q, "list open incidents", `WHERE status <> 'resolved' ORDER BY created_at, id LIMIT 500`)
}

func listBetween(ctx context.Context, q store.DBTX, from, to time.Time) ([]*Incident, error) {
	return queryIncidents(ctx, q, "list incidents", `WHERE created_at >= $1 AND created_at < $2 ORDER BY created_at, id LIMIT 1000`, from, to)
}

// insertIncident stores inc and sets its ID and Key.
func insertIncident(ctx context.Context, q store.DBTX, inc *Incident) error {
	notes, err := json.Marshal(inc.Notes)
	if err != nil {
		return fmt.Errorf("encode notes: %w", err)
	}
	d := inc.Deadlines
	err = q.QueryRow(ctx, `
		INSERT INTO incidents (severity, title, status, owner, playbook, source, source_ref, pd_id, opened_by, channel,
			created_at, clock_start, ack_due, investigate_due, first_update_due, resolve_due, last_activity_at,
			notes, paging, esc_state, esc_due)
		VALUES ($1, $2, 'triggered', '', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $9, $15, $16, $17, $18)
		RETURNING id`,
		inc.Severity, inc.Title, inc.Playbook, inc.Source, inc.SourceRef, inc.PagerDutyID, inc.OpenedBy, inc.Channel,
		inc.CreatedAt, d.ClockStart, ptr(d.Acknowledge), ptr(d.Investigate), ptr(d.FirstUpdate), ptr(d.Resolve),
		notes, inc.Paging, inc.Esc.State, ptr(inc.Esc.Due)).Scan(&inc.ID)
	if err != nil {
		return mapErr("insert incident", err)
	}
	inc.Key = KeyOf(inc.ID)
	inc.Status = StatusTriggered
	inc.LastActivityAt = inc.CreatedAt
	return nil
}

func exec(ctx context.Context, q store.DBTX, what, sql string, args ...any) (int64, error) {
	tag, err := q.Exec(ctx, sql, args...)
	if err != nil {
		return 0, mapErr(what, err)
	}
	return tag.RowsAffected(), nil
}

// claimPage records that step (round, loop, step) fired; false when it
// already had, which makes a second replica or a redelivered job a no-op.
func claimPage(ctx context.Context, q store.DBTX, id int64, round, loop, step int, at time.Time, recipients []string, actor string) (bool, error) {
	if recipients == nil {
		recipients = []string{}
	}
	n, err := exec(ctx, q, "claim page", `
		INSERT INTO incident_pages (incident_id, round, loop, step, fired_at, recipients, actor)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`, id, round, loop, step, at, recipients, actor)
	return n == 1, err
}

// claimReminder records that reminder kind fired; false when it already had.
func claimReminder(ctx context.Context, q store.DBTX, id int64, kind string, at time.Time) (bool, error) {
	n, err := exec(ctx, q, "claim reminder", `
		INSERT INTO incident_reminders (incident_id, kind, fired_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, id, kind, at)
	return n == 1, err
}

// page is one fired escalation step.
type page struct {
	Round      int       `db:"round"`
	Loop       int       `db:"loop"`
	Step       int       `db:"step"`
	FiredAt    time.Time `db:"fired_at"`
	Recipients []string  `db:"recipients"`
	Actor      string    `db:"actor"`
}

func listPages(ctx context.Context, q store.DBTX, id int64) ([]page, error) {
	rows, err := q.Query(ctx, `SELECT round, loop, step, fired_at, recipients, actor FROM incident_pages
		WHERE incident_id = $1 ORDER BY fired_at, round, loop, step`, id)
	if err != nil {
		return nil, mapErr("list pages", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[page])
	return out, mapErr("list pages", err)
}

// message is a message the bot sent about an incident outside its thread.
type message struct {
	Channel string `db:"channel"`
	TS      string `db:"ts"`
	UserID  string `db:"user_id"`
	Kind    string `db:"kind"`
}

func insertMessage(ctx context.Context, q store.DBTX, id int64, msg message, at time.Time) error {
	_, err := exec(ctx, q, "record message", `
		INSERT INTO incident_messages (incident_id, channel, ts, user_id, kind, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (channel, ts) DO NOTHING`,
		id, msg.Channel, msg.TS, msg.UserID, msg.Kind, at)
	return err
}

func listMessages(ctx context.Context, q store.DBTX, id int64) ([]message, error) {
	rows, err := q.Query(ctx, `SELECT channel, ts, user_id, kind FROM incident_messages WHERE incident_id = $1 ORDER BY id`, id)
	if err != nil {
		return nil, mapErr("list messages", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[message])
	return out, mapErr("list messages", err)
}

// pagedOpen returns the unacknowledged incidents whose pages reached user.
func pagedOpen(ctx context.Context, q store.DBTX, user string) ([]*Incident, error) {
	return queryIncidents(ctx, q, "list pages of user", `
		WHERE status = 'triggered' AND ($1 = ANY(paged) OR EXISTS (
			SELECT 1 FROM incident_pages p WHERE p.incident_id = incidents.id AND $1 = ANY(p.recipients)))
		ORDER BY created_at, id LIMIT 100`, user)
}

// alertState is the last status stored for an alert of an incident.
func alertState(ctx context.Context, q store.DBTX, fingerprint string, id int64) (string, error) {
	var s string
	err := q.QueryRow(ctx, `SELECT status FROM incident_alerts WHERE fingerprint = $1 AND incident_id = $2`, fingerprint, id).Scan(&s)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return s, mapErr("read alert state", err)
}

func setAlertState(ctx context.Context, q store.DBTX, fingerprint string, id int64, status string, at time.Time) error {
	_, err := exec(ctx, q, "store alert state", `
		INSERT INTO incident_alerts (fingerprint, incident_id, status, updated_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (fingerprint, incident_id) DO UPDATE SET status = EXCLUDED.status, updated_at = EXCLUDED.updated_at`,
		fingerprint, id, status, at)
	return err
}

// latestOpenOf returns the most recent open incident whose commander or
// opener is user.
func latestOpenOf(ctx context.Context, q store.DBTX, user string) (*Incident, error) {
	return queryOne(ctx, q, "find incident of user", `
		WHERE status <> 'resolved' AND (owner = $1 OR opened_by = $1 OR acked_by = $1 OR $1 = ANY(paged))
		ORDER BY created_at DESC, id DESC LIMIT 1`, user)
}

// ackStats returns how many incidents created in [from, to) user
// acknowledged or commanded, and the ack delays of those user acknowledged.
func ackStats(ctx context.Context, q store.DBTX, user string, from, to time.Time) (int, []time.Duration, error) {
	rows, err := q.Query(ctx, `
		SELECT acked_by = $1 AS acked, COALESCE(EXTRACT(EPOCH FROM (acked_at - created_at)), 0)::float8 AS secs
		FROM incidents WHERE created_at >= $2 AND created_at < $3 AND (acked_by = $1 OR owner = $1)`, user, from, to)
	if err != nil {
		return 0, nil, mapErr("incident stats", err)
	}
	defer rows.Close()
	n := 0
	var delays []time.Duration
	for rows.Next() {
		var acked bool
		var secs float64
		if err := rows.Scan(&acked, &secs); err != nil {
			return 0, nil, mapErr("incident stats", err)
		}
		n++
		if acked {
			delays = append(delays, time.Duration(secs*float64(time.Second)))
		}
	}
	return n, delays, mapErr("incident stats", rows.Err())
}

// counts returns the open incidents and the incident jobs still to run.
func counts(ctx context.Context, q store.DBTX) (open, timers int, err error) {
	err = q.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM incidents WHERE status <> 'resolved'),
		       (SELECT count(*) FROM river_job WHERE state IN ('scheduled', 'available', 'retryable', 'running')
		           AND queue = 'incident' AND kind <> 'incident_home')`).
		Scan(&open, &timers)
	return open, timers, mapErr("count incidents", err)
}
