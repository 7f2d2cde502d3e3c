package swap

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/contextinject/oncallbot/store"
)

// The SQL of this feature, over the tables of migrations/0020_swaps.sql.
// Helpers take store.DBTX so they compose inside one transaction with the
// audit entry and the overrides they go with.

// Swap statuses.
const (
	statusPending   = "pending"
	statusAccepted  = "accepted"
	statusDeclined  = "declined"
	statusCancelled = "cancelled"
	statusExpired   = "expired"
	statusObsolete  = "obsolete"
	statusUndone    = "undone"
	statusFailed    = "failed"
)

// Swap is one swap request and its outcome.
type Swap struct {
	ID          int64      `db:"id"`
	RequestedBy string     `db:"requested_by"`
	PartyA      string     `db:"party_a"`
	PartyB      string     `db:"party_b"`
	ShiftA      int        `db:"shift_a"`
	ShiftB      int        `db:"shift_b"`
	AStart      time.Time  `db:"a_start"`
	AEnd        time.Time  `db:"a_end"`
	BStart      time.Time  `db:"b_start"`
	BEnd        time.Time  `db:"b_end"`
	Status      string     `db:"status"`
	AAcceptedAt *time.Time `db:"a_accepted_at"`
	BAcceptedAt *time.Time `db:"b_accepted_at"`
	CreatedAt   time.Time  `db:"created_at"`
	ExpiresAt   time.Time  `db:"expires_at"`
	DecidedAt   *time.Time `db:"decided_at"`
	DecidedBy   string     `db:"decided_by"`
	UndoBy      string     `db:"undo_by"`
	UndoAt      *time.Time `db:"undo_at"`
	DMATS       string     `db:"dm_a_ts"`
	DMBTS       string     `db:"dm_b_ts"`
	UndoDMTS    string     `db:"undo_dm_ts"`
}

// Ref is the overrides' reference to the swap.
func (s Swap) Ref() string { return fmt.Sprintf("swap:%d", s.ID) }

// Arranged reports whether an admin arranged the swap for two others.
func (s Swap) Arranged() bool { return s.RequestedBy != s.PartyA }

// Parties returns both people.
func (s Swap) Parties() []string { return []string{s.PartyA, s.PartyB} }

// Party reports whether user is one of the two people.
func (s Swap) Party(user string) bool { return user == s.PartyA || user == s.PartyB }

// Other returns the party that is not user.
func (s Swap) Other(user string) string {
	if user == s.PartyA {
		return s.PartyB
	}
	return s.PartyA
}

// acceptedBy reports whether user has accepted.
func (s Swap) acceptedBy(user string) bool {
	return (user == s.PartyA && s.AAcceptedAt != nil) || (user == s.PartyB && s.BAcceptedAt != nil)
}

// FirstStart is when the first of the two windows starts.
func (s Swap) FirstStart() time.Time { return minTime(s.AStart, s.BStart) }

const swapColumns = `id, requested_by, party_a, party_b, shift_a, shift_b, a_start, a_end, b_start, b_end, status,
	a_accepted_at, b_accepted_at, created_at, expires_at, decided_at, decided_by, undo_by, undo_at, dm_a_ts, dm_b_ts, undo_dm_ts`

// errShiftTaken is returned when another pending request holds a shift.
var errShiftTaken = errors.New("a pending swap request already holds that shift")

// insertSwap stores a pending swap and claims its two shifts.
func insertSwap(ctx context.Context, q store.DBTX, s Swap) (int64, error) {
	var id int64
	err := q.QueryRow(ctx, `
		INSERT INTO swaps (requested_by, party_a, party_b, shift_a, shift_b, a_start, a_end, b_start, b_end,
			status, a_accepted_at, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', $10, $11, $12)
		RETURNING id`,
		s.RequestedBy, s.PartyA, s.PartyB, s.ShiftA, s.ShiftB, s.AStart, s.AEnd, s.BStart, s.BEnd,
		s.AAcceptedAt, s.CreatedAt, s.ExpiresAt).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("insert swap: %w", err)
	}
	_, err = q.Exec(ctx, `INSERT INTO swap_pending_shifts (shift, swap_id) VALUES ($1, $3), ($2, $3)`, s.ShiftA, s.ShiftB, id)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return 0, errShiftTaken
	}
	if err != nil {
		return 0, fmt.Errorf("claim swap shifts: %w", err)
	}
	return id, nil
}

// pendingFor returns the pending swap holding shift, if any.
func pendingFor(ctx context.Context, q store.DBTX, shift int) (Swap, error) {
	rows, err := q.Query(ctx, `SELECT `+swapColumns+` FROM swaps
		WHERE id = (SELECT swap_id FROM swap_pending_shifts WHERE shift = $1)`, shift)
	return one(rows, err, fmt.Sprintf("pending swap of shift %d", shift))
}

// getSwap reads swap id; lock takes a row lock for the transaction, so
// concurrent clicks on the same swap run one after the other.
func getSwap(ctx context.Context, q store.DBTX, id int64, lock bool) (Swap, error) {
	sql := `SELECT ` + swapColumns + ` FROM swaps WHERE id = $1`
	if lock {
		sql += ` FOR UPDATE`
	}
	rows, err := q.Query(ctx, sql, id)
	return one(rows, err, fmt.Sprintf("swap %d", id))
}

func one(rows pgx.Rows, err error, what string) (Swap, error) {
	if err != nil {
		return Swap{}, fmt.Errorf("read %s: %w", what, err)
	}
	s, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Swap])
	if errors.Is(err, pgx.ErrNoRows) {
		return Swap{}, fmt.Errorf("read %s: %w", what, store.ErrNotFound)
	}
	if err != nil {
		return Swap{}, fmt.Errorf("read %s: %w", what, err)
	}
	return s, nil
}

func many(rows pgx.Rows, err error, what string) ([]Swap, error) {
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", what, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[Swap])
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", what, err)
	}
	return out, nil
}

// setStatus moves swap id from status from to status to, recording who
// decided; false when the swap was no longer in from (someone was first).
func setStatus(ctx context.Context, q store.DBTX, id int64, from, to, by string, at time.Time) (bool, error) {
	tag, err := q.Exec(ctx, `UPDATE swaps SET status = $3, decided_by = $4, decided_at = $5
		WHERE id = $1 AND status = $2`, id, from, to, by, at)
	if err != nil {
		return false, fmt.Errorf("swap %d %s → %s: %w", id, from, to, err)
	}
	if tag.RowsAffected() == 0 {
		return false, nil
	}
	if from == statusPending {
		if _, err := q.Exec(ctx, `DELETE FROM swap_pending_shifts WHERE swap_id = $1`, id); err != nil {
			return false, fmt.Errorf("release shifts of swap %d: %w", id, err)
		}
	}
	return true, nil
}

// markAccepted records user's acceptance of pending swap id.
func markAccepted(ctx context.Context, q store.DBTX, id int64, partyA bool, at time.Time) error {
	col := "b_accepted_at"
	if partyA {
		col = "a_accepted_at"
	}
	_, err := q.Exec(ctx, `UPDATE swaps SET `+col+` = $2 WHERE id = $1 AND status = 'pending'`, id, at)
	if err != nil {
		return fmt.Errorf("record acceptance of swap %d: %w", id, err)
	}
	return nil
}

// setWindowA moves the start of window A (a shift already in progress at
// acceptance starts then).
func setWindowA(ctx context.Context, q store.DBTX, id int64, start time.Time) error {
	if _, err := q.Exec(ctx, `UPDATE swaps SET a_start = $2 WHERE id = $1`, id, start); err != nil {
		return fmt.Errorf("set window of swap %d: %w", id, err)
	}
	return nil
}

// setUndo records (by != "") or clears an undo request of accepted swap id.
func setUndo(ctx context.Context, q store.DBTX, id int64, by string, at *time.Time) error {
	if _, err := q.Exec(ctx, `UPDATE swaps SET undo_by = $2, undo_at = $3 WHERE id = $1`, id, by, at); err != nil {
		return fmt.Errorf("set undo of swap %d: %w", id, err)
	}
	return nil
}

// setDM records the ts of a DM carrying buttons (column dm_a_ts, dm_b_ts or undo_dm_ts).
func setDM(ctx context.Context, q store.DBTX, id int64, column, ts string) error {
	switch column {
	case "dm_a_ts", "dm_b_ts", "undo_dm_ts":
	default:
		return fmt.Errorf("set DM of swap %d: unknown column %q", id, column)
	}
	if _, err := q.Exec(ctx, `UPDATE swaps SET `+column+` = $2 WHERE id = $1`, id, ts); err != nil {
		return fmt.Errorf("set DM of swap %d: %w", id, err)
	}
	return nil
}

// swapsOf lists user's swaps in one of statuses, oldest first.
func swapsOf(ctx context.Context, q store.DBTX, user string, statuses ...string) ([]Swap, error) {
	rows, err := q.Query(ctx, `SELECT `+swapColumns+` FROM swaps
		WHERE (party_a = $1 OR party_b = $1 OR requested_by = $1) AND status = ANY($2)
		ORDER BY id`, user, statuses)
	return many(rows, err, "swaps of "+user)
}

// overdue lists pending swaps whose expiry has passed at now.
func overdue(ctx context.Context, q store.DBTX, now time.Time) ([]Swap, error) {
	rows, err := q.Query(ctx, `SELECT `+swapColumns+` FROM swaps
		WHERE status = 'pending' AND expires_at <= $1 ORDER BY id LIMIT 100`, now)
	return many(rows, err, "overdue swaps")
}

// pdOverride is a PagerDuty override written for a stored override of a swap.
type pdOverride struct {
	ID         int64      `db:"id"`
	SwapID     int64      `db:"swap_id"`
	OverrideID int64      `db:"override_id"`
	ScheduleID string     `db:"schedule_id"`
	PDID       string     `db:"pd_id"`
	PDUser     string     `db:"pd_user"`
	UserID     string     `db:"user_id"`
	Replaces   string     `db:"replaces"`
	Role       string     `db:"role"`
	Start      time.Time  `db:"starts_at"`
	End        time.Time  `db:"ends_at"`
	Status     string     `db:"status"`
	CreatedAt  time.Time  `db:"created_at"`
	ChangedAt  *time.Time `db:"changed_at"`
}

const pdColumns = `id, swap_id, override_id, schedule_id, pd_id, pd_user, user_id, replaces, role, starts_at, ends_at, status, created_at, changed_at`

func insertPD(ctx context.Context, q store.DBTX, o pdOverride) error {
	_, err := q.Exec(ctx, `INSERT INTO swap_pd_overrides
		(swap_id, override_id, schedule_id, pd_id, pd_user, user_id, replaces, role, starts_at, ends_at, status, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'active', $11)`,
		o.SwapID, o.OverrideID, o.ScheduleID, o.PDID, o.PDUser, o.UserID, o.Replaces, o.Role, o.Start, o.End, o.CreatedAt)
	if err != nil {
		return fmt.Errorf("record PagerDuty override %s of swap %d: %w", o.PDID, o.SwapID, err)
	}
	return nil
}

func activePD(ctx context.Context, q store.DBTX, swapID int64) ([]pdOverride, error) {
	rows, err := q.Query(ctx, `SELECT `+pdColumns+` FROM swap_pd_overrides
		WHERE swap_id = $1 AND status = 'active' ORDER BY id`, swapID)
	return collectPD(rows, err)
}

// watchedPD lists active PagerDuty overrides not yet over at now, for drift checks.
func watchedPD(ctx context.Context, q store.DBTX, now time.Time) ([]pdOverride, error) {
	rows, err := q.Query(ctx, `SELECT `+pdColumns+` FROM swap_pd_overrides
		WHERE status = 'active' AND ends_at > $1 ORDER BY id LIMIT 500`, now)
	return collectPD(rows, err)
}

func collectPD(rows pgx.Rows, err error) ([]pdOverride, error) {
	if err != nil {
		return nil, fmt.Errorf("list PagerDuty overrides: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[pdOverride])
	if err != nil {
		return nil, fmt.Errorf("list PagerDuty overrides: %w", err)
	}
	return out, nil
}

// setPDStatus moves a recorded PagerDuty override out of 'active'; false
// when it already was (another replica got there first).
func setPDStatus(ctx context.Context, q store.DBTX, id int64, status string, at time.Time) (bool, error) {
	tag, err := q.Exec(ctx, `UPDATE swap_pd_overrides SET status = $2, changed_at = $3 WHERE id = $1 AND status = 'active'`, id, status, at)
	if err != nil {
		return false, fmt.Errorf("mark PagerDuty override %d %s: %w", id, status, err)
	}
	return tag.RowsAffected() == 1, nil
}

// lockSwap takes a session advisory lock on swap id held on conn until
// unlock; PagerDuty work for one swap runs one job at a time.
func lockSwap(ctx context.Context, db *store.DB, id int64) (unlock func(), err error) {
	conn, err := db.Pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("lock swap %d: %w", id, err)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtext('oncallbot.swap'), $1::int)`, id); err != nil {
		conn.Release()
		return nil, fmt.Errorf("lock swap %d: %w", id, err)
	}
	return func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtext('oncallbot.swap'), $1::int)`, id)
		conn.Release()
	}, nil
}
