package store_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/store"
	"github.com/contextinject/oncallbot/store/storetest"
)

var t0 = time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func tableExists(t *testing.T, q store.DBTX, name string) bool {
	t.Helper()
	var ok bool
	require.NoError(t, q.QueryRow(context.Background(), "SELECT to_regclass($1) IS NOT NULL", name).Scan(&ok))
	return ok
}

// dropAtCleanup drops database name through the server's maintenance
// database when t ends.
func dropAtCleanup(t *testing.T, name string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := store.Open(ctx, storetest.URL(t, "postgres"), nil)
		require.NoError(t, err)
		defer admin.Close()
		_, err = admin.Pool.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
		require.NoError(t, err)
	})
}

func TestOpenCreatesMissingDatabaseAndMigrates(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	name := fmt.Sprintf("oncallbot_t_%d_open_%d", os.Getpid(), time.Now().UnixNano())
	dropAtCleanup(t, name)

	db, err := store.Open(ctx, storetest.URL(t, name), nil)
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.Ping(ctx))
	var current string
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT current_database()").Scan(&current))
	require.Equal(t, name, current)

	// Opening again finds it.
	again, err := store.Open(ctx, storetest.URL(t, name), nil)
	require.NoError(t, err)
	again.Close()

	require.False(t, tableExists(t, db.Pool, "audit_log"))
	require.NoError(t, db.Migrate(ctx))
	for _, table := range []string{"audit_log", "processed_envelopes", "overrides", "kv", "cron_runs", "goose_db_version", "river_job"} {
		require.True(t, tableExists(t, db.Pool, table), table)
	}

	start := time.Now()
	require.NoError(t, db.Migrate(ctx))
	require.Less(t, time.Since(start), 2*time.Second, "an up-to-date database migrates in a few queries")
}

func TestMigrateConcurrentStarters(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	name := fmt.Sprintf("oncallbot_t_%d_conc_%d", os.Getpid(), time.Now().UnixNano())
	dropAtCleanup(t, name)
	dbs := make([]*store.DB, 3)
	for i := range dbs {
		db, err := store.Open(ctx, storetest.URL(t, name), nil)
		require.NoError(t, err)
		defer db.Close()
		dbs[i] = db
	}
	errs := make(chan error, len(dbs))
	for _, db := range dbs {
		go func() { errs <- db.Migrate(ctx) }()
	}
	for range dbs {
		require.NoError(t, <-errs)
	}
	var applied int
	require.NoError(t, dbs[0].Pool.QueryRow(ctx, "SELECT count(*) FROM goose_db_version WHERE version_id = 1").Scan(&applied))
	require.Equal(t, 1, applied)
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	const secret = "s3cret-pw"
	tests := []struct {
		name      string
		url       string
		wantExact string
		wantIs    error
	}{
		{
			name:      "connection refused",
			url:       "postgres://bob:" + secret + "@127.0.0.1:1/oncallbot?sslmode=disable",
			wantExact: "PostgreSQL at 127.0.0.1:1 is unreachable (connection refused): start it with scripts/services.sh or point DATABASE_URL at a running server",
		},
		{
			name:   "malformed URL",
			url:    "postgres://bob:" + secret + "@127.0.0.1:notaport/oncallbot",
			wantIs: store.ErrInvalid,
		},
		{
			name:   "malformed key-value string",
			url:    "host=127.0.0.1 password=" + secret + " port=nope",
			wantIs: store.ErrInvalid,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db, err := store.Open(ctxT(t), tt.url, nil)
			require.Error(t, err)
			require.Nil(t, db)
			msg := err.Error()
			require.NotContains(t, msg, secret)
			require.NotContains(t, msg, "\n")
			if tt.wantExact != "" {
				var unreachable *store.UnreachableError
				require.ErrorAs(t, err, &unreachable)
				require.Equal(t, "127.0.0.1:1", unreachable.Addr)
				require.Equal(t, tt.wantExact, msg)
			}
			if tt.wantIs != nil {
				require.ErrorIs(t, err, tt.wantIs)
			}
		})
	}
}

func TestInTx(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	db := storetest.DB(t)
	errBoom := errors.New("boom")

	err := db.InTx(ctx, func(tx pgx.Tx) error {
		if _, err := store.InsertOverride(ctx, tx, override("U1", t0, t0.Add(time.Hour))); err != nil {
			return err
		}
		require.NoError(t, store.Audit(ctx, tx, store.AuditEntry{At: t0, Actor: "U1", Action: "override.create", Subject: "override:1"}))
		return errBoom
	})
	require.ErrorIs(t, err, errBoom)
	got, err := store.ListOverrides(ctx, db.Pool, t0, t0.Add(time.Hour))
	require.NoError(t, err)
	require.Empty(t, got, "rolled back")
	audit, err := store.ListAudit(ctx, db.Pool, "", 10)
	require.NoError(t, err)
	require.Empty(t, audit, "rolled back")

	require.NoError(t, db.InTx(ctx, func(tx pgx.Tx) error {
		_, err := store.InsertOverride(ctx, tx, override("U1", t0, t0.Add(time.Hour)))
		return err
	}))
	got, err = store.ListOverrides(ctx, db.Pool, t0, t0.Add(time.Hour))
	require.NoError(t, err)
	require.Len(t, got, 1, "committed")
}

func TestAudit(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	tx := storetest.Tx(t)

	entries := []store.AuditEntry{
		{At: t0, Actor: "U1", Action: "override.create", Subject: "override:1", Details: map[string]any{"role": "primary", "hours": 4}},
		{At: t0.Add(time.Minute), Actor: "system", Action: "incident.open", Subject: "incident:7"},
		{At: t0.Add(2 * time.Minute), Actor: "U2", Action: "override.delete", Subject: "override:1"},
	}
	for _, e := range entries {
		require.NoError(t, store.Audit(ctx, tx, e))
	}

	all, err := store.ListAudit(ctx, tx, "", 10)
	require.NoError(t, err)
	require.Len(t, all, 3)
	require.Equal(t, []string{"override.delete", "incident.open", "override.create"},
		[]string{all[0].Action, all[1].Action, all[2].Action}, "newest first")
	require.Equal(t, map[string]any{}, all[1].Details, "nil details stored as {}")
	require.Equal(t, map[string]any{"role": "primary", "hours": float64(4)}, all[2].Details)
	require.True(t, all[2].At.Equal(t0))
	require.NotZero(t, all[2].ID)

	one, err := store.ListAudit(ctx, tx, "override:1", 1)
	require.NoError(t, err)
	require.Len(t, one, 1)
	require.Equal(t, "override.delete", one[0].Action)

	none, err := store.ListAudit(ctx, tx, "override:404", 10)
	require.NoError(t, err)
	require.Empty(t, none)
}

func TestAuditRejectsBadInput(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	tx := storetest.Tx(t)
	tests := []struct {
		name string
		e    store.AuditEntry
	}{
		{"no time", store.AuditEntry{Actor: "U1", Action: "x"}},
		{"no action", store.AuditEntry{At: t0, Actor: "U1"}},
		{"no actor", store.AuditEntry{At: t0, Action: "x"}},
		{"unencodable details", store.AuditEntry{At: t0, Actor: "U1", Action: "x", Details: map[string]any{"f": func() {}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Error(t, store.Audit(ctx, tx, tt.e))
		})
	}
	for _, limit := range []int{0, -1, 1001} {
		_, err := store.ListAudit(ctx, tx, "", limit)
		require.ErrorIs(t, err, store.ErrInvalid, "limit %d", limit)
	}
}

func override(user string, start, end time.Time) store.Override {
	return store.Override{
		Role: store.RolePrimary, UserID: user, Start: start, End: end,
		Reason: "dentist", Replaces: "U0", Source: "command", CreatedBy: user, CreatedAt: t0,
	}
}

func TestOverrides(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	tx := storetest.Tx(t)

	a := override("UA", t0, t0.Add(4*time.Hour))
	a.Ref = "swap:1"
	b := override("UB", t0.Add(4*time.Hour), t0.Add(8*time.Hour))
	b.Role = store.RoleSecondary
	b.Ref = "swap:1"
	c := override("UC", t0.Add(24*time.Hour), t0.Add(48*time.Hour))
	ids := map[string]int64{}
	for _, o := range []store.Override{a, b, c} {
		id, err := store.InsertOverride(ctx, tx, o)
		require.NoError(t, err)
		ids[o.UserID] = id
	}

	got, err := store.ListOverrides(ctx, tx, t0, t0.Add(time.Hour))
	require.NoError(t, err)
	require.Len(t, got, 1)
	want := a
	want.ID = ids["UA"]
	require.True(t, got[0].Start.Equal(want.Start) && got[0].End.Equal(want.End) && got[0].CreatedAt.Equal(want.CreatedAt))
	got[0].Start, got[0].End, got[0].CreatedAt = want.Start, want.End, want.CreatedAt
	require.Equal(t, want, got[0], "every field round-trips")

	windows := []struct {
		name     string
		from, to time.Time
		want     []string
	}{
		{"end is exclusive", t0.Add(-time.Hour), t0, nil},
		{"a microsecond in", t0.Add(-time.Hour), t0.Add(time.Microsecond), []string{"UA"}},
		{"spanning a boundary", t0.Add(3 * time.Hour), t0.Add(5 * time.Hour), []string{"UA", "UB"}},
		{"starting at an end", t0.Add(4 * time.Hour), t0.Add(5 * time.Hour), []string{"UB"}},
		{"inside a long one", t0.Add(30 * time.Hour), t0.Add(31 * time.Hour), []string{"UC"}},
		{"everything", t0.Add(-time.Hour), t0.Add(100 * time.Hour), []string{"UA", "UB", "UC"}},
		{"after everything", t0.Add(48 * time.Hour), t0.Add(50 * time.Hour), nil},
	}
	for _, w := range windows {
		t.Run(w.name, func(t *testing.T) {
			got, err := store.ListOverrides(ctx, tx, w.from, w.to)
			require.NoError(t, err)
			var users []string
			for _, o := range got {
				users = append(users, o.UserID)
			}
			require.Equal(t, w.want, users)
		})
	}

	byRef, err := store.OverridesByRef(ctx, tx, "swap:1")
	require.NoError(t, err)
	require.Len(t, byRef, 2)
	require.Equal(t, []int64{ids["UA"], ids["UB"]}, []int64{byRef[0].ID, byRef[1].ID})

	require.NoError(t, store.DeleteOverride(ctx, tx, ids["UA"], t0.Add(time.Minute)))
	err = store.DeleteOverride(ctx, tx, ids["UA"], t0.Add(2*time.Minute))
	require.ErrorIs(t, err, store.ErrNotFound, "deleting twice")
	require.ErrorIs(t, store.DeleteOverride(ctx, tx, 999999, t0), store.ErrNotFound)

	got, err = store.ListOverrides(ctx, tx, t0, t0.Add(time.Hour))
	require.NoError(t, err)
	require.Empty(t, got, "deleted overrides are not listed")
	byRef, err = store.OverridesByRef(ctx, tx, "swap:1")
	require.NoError(t, err)
	require.Len(t, byRef, 1)
	require.Equal(t, "UB", byRef[0].UserID)
	var deletedAt time.Time
	require.NoError(t, tx.QueryRow(ctx, "SELECT deleted_at FROM overrides WHERE id = $1", ids["UA"]).Scan(&deletedAt))
	require.True(t, deletedAt.Equal(t0.Add(time.Minute)), "the injected time is stored")
}

func TestOverridesRejectBadInput(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	tx := storetest.Tx(t)
	good := override("UA", t0, t0.Add(time.Hour))
	tests := []struct {
		name   string
		mutate func(*store.Override)
		want   string
	}{
		{"unknown role", func(o *store.Override) { o.Role = "tertiary" }, `role "tertiary"`},
		{"empty user", func(o *store.Override) { o.UserID = "" }, "user is empty"},
		{"end before start", func(o *store.Override) { o.End = o.Start.Add(-time.Minute) }, "is not after start"},
		{"empty window", func(o *store.Override) { o.End = o.Start }, "is not after start"},
		{"no start", func(o *store.Override) { o.Start = time.Time{} }, "must be set"},
		{"no creator", func(o *store.Override) { o.CreatedBy = "" }, "created by"},
		{"no creation time", func(o *store.Override) { o.CreatedAt = time.Time{} }, "created at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := good
			tt.mutate(&o)
			_, err := store.InsertOverride(ctx, tx, o)
			require.ErrorIs(t, err, store.ErrInvalid)
			require.ErrorContains(t, err, tt.want)
		})
	}
	_, err := store.ListOverrides(ctx, tx, t0, t0)
	require.ErrorIs(t, err, store.ErrInvalid)
	_, err = store.OverridesByRef(ctx, tx, "")
	require.ErrorIs(t, err, store.ErrInvalid)
	require.ErrorIs(t, store.DeleteOverride(ctx, tx, 1, time.Time{}), store.ErrInvalid)
}

func TestKV(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	tx := storetest.Tx(t)
	type settings struct {
		Channel string   `json:"channel"`
		Users   []string `json:"users"`
	}

	var got settings
	require.ErrorIs(t, store.GetKV(ctx, tx, "rotation", &got), store.ErrNotFound)

	require.NoError(t, store.PutKV(ctx, tx, "rotation", settings{Channel: "C1", Users: []string{"U1"}}, t0))
	require.NoError(t, store.GetKV(ctx, tx, "rotation", &got))
	require.Equal(t, settings{Channel: "C1", Users: []string{"U1"}}, got)

	require.NoError(t, store.PutKV(ctx, tx, "rotation", settings{Channel: "C2"}, t0.Add(time.Hour)))
	got = settings{}
	require.NoError(t, store.GetKV(ctx, tx, "rotation", &got))
	require.Equal(t, settings{Channel: "C2"}, got)
	var updated time.Time
	require.NoError(t, tx.QueryRow(ctx, "SELECT updated_at FROM kv WHERE key = 'rotation'").Scan(&updated))
	require.True(t, updated.Equal(t0.Add(time.Hour)))

	var wrongType int
	require.ErrorContains(t, store.GetKV(ctx, tx, "rotation", &wrongType), "decode")
	require.ErrorIs(t, store.PutKV(ctx, tx, "", 1, t0), store.ErrInvalid)
	require.ErrorIs(t, store.PutKV(ctx, tx, "k", 1, time.Time{}), store.ErrInvalid)
	require.ErrorContains(t, store.PutKV(ctx, tx, "k", func() {}, t0), "encode")
}

func TestClaimSlotExactlyOnce(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	db := storetest.DB(t)
	slot := t0

	const racers = 8
	start := make(chan struct{})
	results := make(chan error, racers)
	wins := make(chan bool, racers)
	for range racers {
		go func() {
			<-start
			ok, err := store.ClaimSlot(ctx, db.Pool, "handoff", slot, t0.Add(time.Second))
			results <- err
			wins <- ok
		}()
	}
	close(start)
	won := 0
	for range racers {
		require.NoError(t, <-results)
		if <-wins {
			won++
		}
	}
	require.Equal(t, 1, won)

	ok, err := store.ClaimSlot(ctx, db.Pool, "reminder", slot, t0)
	require.NoError(t, err)
	require.True(t, ok, "slots are per job")

	last, status, err := store.LastSlot(ctx, db.Pool, "handoff")
	require.NoError(t, err)
	require.True(t, last.Equal(slot))
	require.Equal(t, store.SlotRunning, status)

	require.NoError(t, store.FinishSlot(ctx, db.Pool, "handoff", slot, "ok", t0.Add(time.Minute)))
	_, status, err = store.LastSlot(ctx, db.Pool, "handoff")
	require.NoError(t, err)
	require.Equal(t, "ok", status)

	next := slot.Add(24 * time.Hour)
	ok, err = store.ClaimSlot(ctx, db.Pool, "handoff", next, next)
	require.NoError(t, err)
	require.True(t, ok)
	last, _, err = store.LastSlot(ctx, db.Pool, "handoff")
	require.NoError(t, err)
	require.True(t, last.Equal(next))

	_, _, err = store.LastSlot(ctx, db.Pool, "never")
	require.ErrorIs(t, err, store.ErrNotFound)
	require.ErrorIs(t, store.FinishSlot(ctx, db.Pool, "never", slot, "ok", t0), store.ErrNotFound)
	_, err = store.ClaimSlot(ctx, db.Pool, "", slot, t0)
	require.ErrorIs(t, err, store.ErrInvalid)
}

// captureHandler records log records for assertions.
type captureHandler struct {
	records chan slog.Record
}

func newCapture() (*slog.Logger, *captureHandler) {
	h := &captureHandler{records: make(chan slog.Record, 100)}
	return slog.New(h), h
}

func (h *captureHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	h.records <- r
	return nil
}
func (h *captureHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *captureHandler) WithGroup(string) slog.Handler      { return h }

// drain returns the messages logged so far at level or above.
func (h *captureHandler) drain(level slog.Level) []string {
	var out []string
	for {
		select {
		case r := <-h.records:
			if r.Level >= level {
				out = append(out, r.Message)
			}
		default:
			return out
		}
	}
}
