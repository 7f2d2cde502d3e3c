package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Override roles accepted by the overrides table.
const (
	RolePrimary   = "primary"
	RoleSecondary = "secondary"
)

// Override is a stored rotation override: UserID covers Role during
// [Start, End). Deleted overrides are never returned.
type Override struct {
	ID     int64     `db:"id"`
	Role   string    `db:"role"`
	UserID string    `db:"user_id"`
	Start  time.Time `db:"starts_at"`
	End    time.Time `db:"ends_at"`
	Reason string    `db:"reason"`
	// Replaces is the user the rotation would have put on call, if known.
	Replaces string `db:"replaces"`
	// Source says where the override came from, such as "command" or "swap".
	Source    string    `db:"source"`
	CreatedBy string    `db:"created_by"`
	CreatedAt time.Time `db:"created_at"`
	// Ref links the override to what caused it, such as a swap ID, so the
	// overrides of one swap can be found and removed together.
	Ref string `db:"ref"`
}

const overrideColumns = `id, role, user_id, starts_at, ends_at, reason, replaces, source, created_by, created_at, ref`

// validate rejects overrides the table's constraints would refuse, with a
// message a caller can understand.
func (o Override) validate() error {
	switch {
	case o.Role != RolePrimary && o.Role != RoleSecondary:
		return fmt.Errorf("%w: role %q is not %q or %q", ErrInvalid, o.Role, RolePrimary, RoleSecondary)
	case o.UserID == "":
		return fmt.Errorf("%w: user is empty", ErrInvalid)
	case o.Start.IsZero() || o.End.IsZero():
		return fmt.Errorf("%w: start and end must be set", ErrInvalid)
	case !o.End.After(o.Start):
		return fmt.Errorf("%w: end %s is not after start %s", ErrInvalid,
			o.End.UTC().Format(time.RFC3339), o.Start.UTC().Format(time.RFC3339))
	case o.CreatedBy == "":
		return fmt.Errorf("%w: created by is empty", ErrInvalid)
	case o.CreatedAt.IsZero():
		return fmt.Errorf("%w: created at is not set", ErrInvalid)
	}
	return nil
}

// InsertOverride stores o (its ID is ignored) and returns the new ID.
func InsertOverride(ctx context.Context, q DBTX, o Override) (int64, error) {
	what := fmt.Sprintf("insert %s override for %s", o.Role, o.UserID)
	if err := o.validate(); err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	var id int64
	err := q.QueryRow(ctx, `
		INSERT INTO overrides (role, user_id, starts_at, ends_at, reason, replaces, source, ref, created_by, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		RETURNING id`,
		o.Role, o.UserID, o.Start, o.End, o.Reason, o.Replaces, o.Source, o.Ref, o.CreatedBy, o.CreatedAt,
	).Scan(&id)
	if err != nil {
		return 0, mapErr(what, err)
	}
	return id, nil
}

// ListOverrides returns the overrides that are not deleted and intersect
// [from, to), ordered by ID (so a later override wins when applied in order).
func ListOverrides(ctx context.Context, q DBTX, from, to time.Time) ([]Override, error) {
	if !to.After(from) {
		return nil, fmt.Errorf("list overrides: %w: window end %s is not after start %s", ErrInvalid,
			to.UTC().Format(time.RFC3339), from.UTC().Format(time.RFC3339))
	}
	rows, err := q.Query(ctx, `
		SELECT `+overrideColumns+`
		FROM overrides
		WHERE deleted_at IS NULL AND ends_at > $1 AND starts_at < $2
		ORDER BY id`, from, to)
	return collectOverrides("list overrides", rows, err)
}

// OverridesByRef returns the overrides that are not deleted and carry ref,
// ordered by ID.
func OverridesByRef(ctx context.Context, q DBTX, ref string) ([]Override, error) {
	if ref == "" {
		return nil, fmt.Errorf("overrides by ref: %w: ref is empty", ErrInvalid)
	}
	rows, err := q.Query(ctx, `
		SELECT `+overrideColumns+`
		FROM overrides
		WHERE deleted_at IS NULL AND ref = $1
		ORDER BY id`, ref)
	return collectOverrides(fmt.Sprintf("overrides by ref %q", ref), rows, err)
}

func collectOverrides(what string, rows pgx.Rows, err error) ([]Override, error) {
	if err != nil {
		return nil, mapErr(what, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[Override])
	if err != nil {
		return nil, mapErr(what, err)
	}
	return out, nil
}

// DeleteOverride marks override id deleted at at. It returns ErrNotFound when
// no such override exists or it is already deleted; callers handling a
// repeated click may treat that as success.
func DeleteOverride(ctx context.Context, q DBTX, id int64, at time.Time) error {
	what := fmt.Sprintf("delete override %d", id)
	if at.IsZero() {
		return fmt.Errorf("%s: %w: time is not set", what, ErrInvalid)
	}
	tag, err := q.Exec(ctx, `UPDATE overrides SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL`, id, at)
	if err != nil {
		return mapErr(what, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return nil
}
