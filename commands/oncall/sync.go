package oncall

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/contextinject/oncallbot/commands"
	"github.com/contextinject/oncallbot/store"
)

// syncInterval is how often the on-call state is reconciled: user groups
// follow shift boundaries within this much, heads-up DMs go out on time.
const syncInterval = 15 * time.Second

// SyncArgs is the River job that reconciles Slack with who is on call.
type SyncArgs struct{}

// Kind implements river.JobArgs.
func (SyncArgs) Kind() string { return "oncall_sync" }

type syncWorker struct {
	river.WorkerDefaults[SyncArgs]
	m *Module
}

func (w *syncWorker) Work(ctx context.Context, _ *river.Job[SyncArgs]) error { return w.m.Sync(ctx) }

// RegisterJobs adds the sync worker and its periodic schedule.
func (m *Module) RegisterJobs(workers *river.Workers, jobs *river.Client[pgx.Tx]) error {
	if err := river.AddWorkerSafely(workers, &syncWorker{m: m}); err != nil {
		return fmt.Errorf("add sync worker: %w", err)
	}
	jobs.PeriodicJobs().Add(river.NewPeriodicJob(river.PeriodicInterval(syncInterval),
		func() (river.JobArgs, *river.InsertOpts) { return SyncArgs{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true, ID: "oncall_sync"}))
	return nil
}

// RequestSync asks for a sync now (after a swap or an emergency handoff).
func (m *Module) RequestSync(ctx context.Context) error {
	if m.d.Jobs == nil {
		return nil
	}
	if _, err := m.d.Jobs.Insert(ctx, SyncArgs{}, nil); err != nil {
		return fmt.Errorf("enqueue on-call sync: %w", err)
	}
	return nil
}

type onCallState struct {
	Primary   string `json:"primary"`
	Secondary string `json:"secondary"`
}

const stateKey = "oncall.current"

// Sync updates the configured user groups when who is on call changed since
// the last sync, and sends each heads-up DM once. It is idempotent: running
// it twice, or on two replicas, changes nothing twice.
func (m *Module) Sync(ctx context.Context) error {
	now := m.d.Now()
	shift, _, ok := m.roster.At(ctx, now)
	if !ok {
		return nil
	}
	cur := onCallState{Primary: shift.Primary}
	if shift.HasSecondary() {
		cur.Secondary = shift.Secondary
	}
	var prev onCallState
	err := store.GetKV(ctx, m.d.DB.Pool, stateKey, &prev)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("read on-call state: %w", err)
	}
	if prev != cur {
		if err := m.updateGroups(ctx, cur); err != nil {
			return err
		}
		err := m.d.DB.InTx(ctx, func(tx pgx.Tx) error {
			if err := store.PutKV(ctx, tx, stateKey, cur, now); err != nil {
				return err
			}
			return store.Audit(ctx, tx, store.AuditEntry{At: now, Actor: "oncallbot", Action: "oncall.changed", Subject: "rotation",
				Details: map[string]any{"from_primary": prev.Primary, "from_secondary": prev.Secondary, "primary": cur.Primary, "secondary": cur.Secondary}})
		})
		if err != nil {
			return fmt.Errorf("store on-call state: %w", err)
		}
	}
	return m.headsUp(ctx, now)
}

func (m *Module) updateGroups(ctx context.Context, cur onCallState) error {
	g := m.d.Config.Usergroups
	both := []string{cur.Primary}
	if cur.Secondary != "" && cur.Secondary != cur.Primary {
		both = append(both, cur.Secondary)
	}
	var errs []error
	for _, u := range []struct {
		id    string
		users []string
	}{{g.Oncall, both}, {g.Primary, []string{cur.Primary}}, {g.Secondary, compact([]string{cur.Secondary})}} {
		if u.id == "" || len(u.users) == 0 {
			continue
		}
		if err := m.d.Slack.SetUsergroup(ctx, u.id, u.users); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// headsUp DMs each person once, handoff.heads_up before a shift of theirs
// starts (a role they do not already hold at that instant).
func (m *Module) headsUp(ctx context.Context, now time.Time) error {
	lead := m.d.Config.Handoff.HeadsUp.D()
	if lead <= 0 {
		return nil
	}
	shifts, _ := m.roster.Upcoming(ctx, now, 3)
	for _, s := range shifts {
		if !s.Start.After(now) || s.Start.Sub(now) > lead {
			continue
		}
		for _, r := range []struct{ role, user string }{{"primary", s.Primary}, {"secondary", s.Secondary}} {
			if r.user == "" || (r.role == "secondary" && !s.HasSecondary()) {
				continue
			}
			claimed, err := store.ClaimSlot(ctx, m.d.DB.Pool, "headsup:"+r.role+":"+r.user, s.Start, now)
			if err != nil {
				return fmt.Errorf("claim heads-up: %w", err)
			}
			if !claimed {
				continue
			}
			text := fmt.Sprintf(":wave: Heads-up: your *%s* on-call shift starts %s and ends %s. Run `/oncall schedule` to see the rota, or `/oncall swap` if you need to trade.",
				r.role, commands.Date(s.Start), commands.Date(s.End))
			status := "sent"
			if _, err := m.d.Slack.Post(ctx, r.user, commands.Message{Text: text}); err != nil {
				status = "failed"
				m.d.Log.Warn("heads-up DM failed", "user_id", r.user, "err", err)
			}
			if err := store.FinishSlot(ctx, m.d.DB.Pool, "headsup:"+r.role+":"+r.user, s.Start, status, now); err != nil {
				return err
			}
		}
	}
	return nil
}

func compact(s []string) []string {
	return slices.DeleteFunc(s, func(v string) bool { return v == "" })
}
