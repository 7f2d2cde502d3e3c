package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// AuditEntry is one line of the audit trail: who did what to which subject.
type AuditEntry struct {
	ID int64 `db:"id"`
	// At is when it happened, from the caller's injected clock.
	At time.Time `db:"at"`
	// Actor is who did it: a Slack user ID, or "system" for jobs.
	Actor string `db:"actor"`
	// Action is a short dotted verb such as "override.create".
	Action string `db:"action"`
	// Subject is what it was done to, such as "override:42" or "incident:7".
	Subject string `db:"subject"`
	// Details holds any structured extras; nil is stored as {}.
	Details map[string]any `db:"details"`
}

// maxAuditList bounds ListAudit so a caller cannot read the whole table.
const maxAuditList = 1000

// Audit appends e to the audit trail. e.At must be set by the caller.
func Audit(ctx context.Context, q DBTX, e AuditEntry) error {
	switch {
	case e.At.IsZero():
		return fmt.Errorf("audit %q: %w: At is not set", e.Action, ErrInvalid)
	case e.Action == "":
		return fmt.Errorf("audit: %w: Action is empty", ErrInvalid)
	case e.Actor == "":
		return fmt.Errorf("audit %q: %w: Actor is empty", e.Action, ErrInvalid)
	}
	details := e.Details
	if details == nil {
		details = map[string]any{}
	}
	raw, err := json.Marshal(details)
	if err != nil {
		return fmt.Errorf("audit %q: encode details: %w", e.Action, err)
	}
	_, err = q.Exec(ctx,
		`INSERT INTO audit_log (at, actor, action, subject, details) VALUES ($1, $2, $3, $4, $5)`,
		e.At, e.Actor, e.Action, e.Subject, raw)
	return mapErr(fmt.Sprintf("audit %q", e.Action), err)
}

// ListAudit returns up to limit entries (1 to 1000) about subject, or about
// everything when subject is "", newest first.
func ListAudit(ctx context.Context, q DBTX, subject string, limit int) ([]AuditEntry, error) {
	if limit < 1 || limit > maxAuditList {
		return nil, fmt.Errorf("list audit: %w: limit %d is outside 1..%d", ErrInvalid, limit, maxAuditList)
	}
	rows, err := q.Query(ctx, `
		SELECT id, at, actor, action, subject, details
		FROM audit_log
		WHERE $1 = '' OR subject = $1
		ORDER BY at DESC, id DESC
		LIMIT $2`, subject, limit)
	if err != nil {
		return nil, mapErr("list audit", err)
	}
	entries, err := pgx.CollectRows(rows, pgx.RowToStructByName[AuditEntry])
	if err != nil {
		return nil, mapErr("list audit", err)
	}
	return entries, nil
}
