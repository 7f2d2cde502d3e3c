// Package swap implements on-call swaps (SPEC §6 `/oncall swap`): a person of
// the pool asks another to exchange primary shifts, the partner accepts or
// declines with a button, the request expires after 24 hours, and an
// accepted swap becomes stored overrides (and PagerDuty overrides when
// PagerDuty is configured) that either party can undo before it starts. An
// admin can arrange a swap between two others, both accepting. The package
// also answers `/oncall stats`, adds the viewer's shifts and pending swaps to
// the App Home, and watches PagerDuty for overrides edited or deleted there
// (drift).
//
// Every transition is a conditional UPDATE on the swap's status inside a
// transaction that locks the row and writes the audit entry, so the first
// click wins and a repeated click, a stale button or a redelivered envelope
// changes nothing and gets a clear answer.
package swap

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/contextinject/oncallbot/commands"
	"github.com/contextinject/oncallbot/commands/rotation"
	"github.com/contextinject/oncallbot/integrations/pagerduty"
)

// Action IDs of the swap buttons.
const (
	ActionAccept      = "swap.accept"
	ActionDecline     = "swap.decline"
	ActionCancel      = "swap.cancel"
	ActionUndo        = "swap.undo"
	ActionUndoConfirm = "swap.undo_confirm"
	ActionUndoKeep    = "swap.undo_keep"
)

// Usage lines.
const (
	usageSwap  = "/oncall swap @eng [YYYY-MM-DD] — ask @eng to exchange your next primary shift (or the one on that date) for their next one; /oncall swap undo undoes an accepted swap; admins: /oncall swap @a @b [YYYY-MM-DD]"
	usageStats = "/oncall stats [@eng] — shifts served this year, time off in lieu, swaps owed, incidents handled"
)

// DefaultExpiry is how long a swap request waits for an answer.
const DefaultExpiry = 24 * time.Hour

// Roster is the part of the on-call roster swaps need (*oncall.Roster).
type Roster interface {
	Rotation() rotation.Rotation
	Overrides(ctx context.Context, from, to time.Time) ([]rotation.Override, error)
	NextChange(ctx context.Context, t time.Time) time.Time
}

// PagerDuty is the part of the PagerDuty client swaps need (*pagerduty.Client).
type PagerDuty interface {
	CreateOverride(ctx context.Context, o pagerduty.Override) (pagerduty.Override, error)
	ListOverrides(ctx context.Context, scheduleID string, since, until time.Time) ([]pagerduty.Override, error)
	DeleteOverride(ctx context.Context, scheduleID, id string) error
	UserByEmail(ctx context.Context, email string) (pagerduty.User, error)
}

// IncidentStats reports the incidents a person handled during [from, to)
// and their median time to acknowledge. The incidents module implements it.
type IncidentStats interface {
	Stats(ctx context.Context, user string, from, to time.Time) (handled int, medianAck time.Duration, err error)
}

// Options configure a Module.
type Options struct {
	Deps   commands.Deps
	Roster Roster
	// SyncFunc asks for an immediate on-call sync (user groups) after a
	// change; (*oncall.Module).RequestSync.
	SyncFunc func(ctx context.Context) error
	// HomeFunc republishes a user's App Home after a change;
	// (*oncall.Module).PublishHome. Optional.
	HomeFunc func(ctx context.Context, user string) error
	// PagerDuty is nil when PagerDuty is not configured.
	PagerDuty PagerDuty
	// ChangedFunc is called after the bot wrote to PagerDuty (to drop cached
	// on-call answers). Optional.
	ChangedFunc func()
	// Expiry defaults to DefaultExpiry.
	Expiry time.Duration
	// DriftInterval is how often PagerDuty is compared with the bot's
	// overrides (default 1 minute).
	DriftInterval time.Duration
}

// Module handles /oncall swap and /oncall stats.
type Module struct {
	o   Options
	d   commands.Deps
	rot rotation.Rotation

	incidents atomic.Pointer[IncidentStats]

	pdUsersMu sync.Mutex
	pdUsers   map[string]string // Slack ID → PagerDuty user ID, found by email
}

// New returns the module.
func New(o Options) *Module {
	if o.Expiry <= 0 {
		o.Expiry = DefaultExpiry
	}
	if o.DriftInterval <= 0 {
		o.DriftInterval = time.Minute
	}
	return &Module{o: o, d: o.Deps, rot: o.Roster.Rotation(), pdUsers: map[string]string{}}
}

// SetIncidentStats makes /oncall stats report incidents from s (the
// incidents module); until then it reports none, never invented numbers.
func (m *Module) SetIncidentStats(s IncidentStats) {
	if s == nil {
		m.incidents.Store(nil)
		return
	}
	m.incidents.Store(&s)
}

// Register adds the module's commands and buttons to r.
func (m *Module) Register(r *commands.Registry) {
	r.Slash("/oncall", "swap", usageSwap, m.swapCmd)
	r.Slash("/oncall", "stats", usageStats, m.statsCmd)
	r.Action(ActionAccept, m.accept)
	r.Action(ActionDecline, m.decline)
	r.Action(ActionCancel, m.cancel)
	r.Action(ActionUndo, m.undoButton)
	r.Action(ActionUndoConfirm, m.undoConfirm)
	r.Action(ActionUndoKeep, m.undoKeep)
}

// ExpireArgs is the River job that expires a swap request at its deadline.
type ExpireArgs struct {
	SwapID int64 `json:"swap_id"`
}

// Kind implements river.JobArgs.
func (ExpireArgs) Kind() string { return "swap_expire" }

// PagerDutyArgs is the River job that makes PagerDuty hold exactly the
// overrides of a swap: all of them while it is accepted, none otherwise.
type PagerDutyArgs struct {
	SwapID int64 `json:"swap_id"`
}

// Kind implements river.JobArgs.
func (PagerDutyArgs) Kind() string { return "swap_pagerduty" }

// InsertOpts bounds the retries: with the backoff of pdWorker.NextRetry the
// last attempt comes about half an hour after the first.
func (PagerDutyArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: pdMaxAttempts}
}

// DriftArgs is the periodic River job that compares the bot's PagerDuty
// overrides with PagerDuty's and expires overdue requests whose own job was
// lost.
type DriftArgs struct{}

// Kind implements river.JobArgs.
func (DriftArgs) Kind() string { return "swap_drift" }

const pdMaxAttempts = 10

type expireWorker struct {
	river.WorkerDefaults[ExpireArgs]
	m *Module
}

func (w *expireWorker) Work(ctx context.Context, job *river.Job[ExpireArgs]) error {
	return w.m.expire(ctx, job.Args.SwapID)
}

type pdWorker struct {
	river.WorkerDefaults[PagerDutyArgs]
	m *Module
}

func (w *pdWorker) Work(ctx context.Context, job *river.Job[PagerDutyArgs]) error {
	return w.m.reconcilePD(ctx, job.Args.SwapID, job.Attempt >= job.MaxAttempts)
}

// NextRetry backs off exponentially from 2 s to 5 min. Within one attempt
// the client already retried 429 and 5xx answers honouring Retry-After.
func (w *pdWorker) NextRetry(job *river.Job[PagerDutyArgs]) time.Time {
	d := 2 * time.Second << min(job.Attempt, 10)
	if d > 5*time.Minute {
		d = 5 * time.Minute
	}
	if job.AttemptedAt == nil {
		return time.Time{} // River's default backoff
	}
	return job.AttemptedAt.Add(d)
}

type driftWorker struct {
	river.WorkerDefaults[DriftArgs]
	m *Module
}

func (w *driftWorker) Work(ctx context.Context, _ *river.Job[DriftArgs]) error {
	return w.m.Maintain(ctx)
}

// RegisterJobs adds the module's workers and the periodic drift check.
func (m *Module) RegisterJobs(workers *river.Workers, jobs *river.Client[pgx.Tx]) error {
	if err := river.AddWorkerSafely(workers, &expireWorker{m: m}); err != nil {
		return fmt.Errorf("add swap expiry worker: %w", err)
	}
	if err := river.AddWorkerSafely(workers, &pdWorker{m: m}); err != nil {
		return fmt.Errorf("add swap PagerDuty worker: %w", err)
	}
	if err := river.AddWorkerSafely(workers, &driftWorker{m: m}); err != nil {
		return fmt.Errorf("add swap drift worker: %w", err)
	}
	jobs.PeriodicJobs().Add(river.NewPeriodicJob(river.PeriodicInterval(m.o.DriftInterval),
		func() (river.JobArgs, *river.InsertOpts) { return DriftArgs{}, nil },
		&river.PeriodicJobOpts{ID: "swap_drift"}))
	return nil
}

// Maintain expires overdue requests (should their own job have been lost)
// and checks PagerDuty for drift.
func (m *Module) Maintain(ctx context.Context) error {
	swaps, err := overdue(ctx, m.d.DB.Pool, m.d.Now())
	if err != nil {
		return err
	}
	for _, s := range swaps {
		if err := m.expire(ctx, s.ID); err != nil {
			return err
		}
	}
	return m.CheckDrift(ctx)
}

func (m *Module) sync(ctx context.Context) {
	if m.o.SyncFunc == nil {
		return
	}
	if err := m.o.SyncFunc(ctx); err != nil {
		m.d.Log.Warn("on-call sync request failed", "err", err)
	}
}

func (m *Module) refreshHome(ctx context.Context, users ...string) {
	if m.o.HomeFunc == nil {
		return
	}
	for _, u := range users {
		if err := m.o.HomeFunc(ctx, u); err != nil {
			m.d.Log.Warn("app home refresh failed", "user_id", u, "err", err)
		}
	}
}

// post sends msg, logging rather than failing: the state change it
// announces is already durable.
func (m *Module) post(ctx context.Context, channel string, msg commands.Message) string {
	if channel == "" {
		return ""
	}
	ts, err := m.d.Slack.Post(ctx, channel, msg)
	if err != nil {
		m.d.Log.Warn("swap notification failed", "channel", channel, "err", err)
	}
	return ts
}

func (m *Module) update(ctx context.Context, channel, ts string, msg commands.Message) {
	if channel == "" || ts == "" {
		return
	}
	if err := m.d.Slack.Update(ctx, channel, ts, msg); err != nil {
		m.d.Log.Warn("swap message update failed", "channel", channel, "err", err)
	}
}
