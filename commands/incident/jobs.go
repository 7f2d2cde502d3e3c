package incident

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
)

// Durable timers. Each is a River job with a unique key, scheduled at the
// exact instant it is due; its worker re-reads the incident under a row lock
// and does nothing when the work is no longer due (acknowledged, resolved, a
// step that already fired). Firing is also recorded in a table with a unique
// key, so a job redelivered after a crash or run by a second replica never
// pages or reminds twice.

// stepArgs fires one escalation step; Step -1 is the severity's broadcast.
type stepArgs struct {
	IncidentID int64     `json:"incident_id" river:"unique"`
	Round      int       `json:"round" river:"unique"`
	Loop       int       `json:"loop" river:"unique"`
	Step       int       `json:"step" river:"unique"`
	At         time.Time `json:"at"` // when it is due, River's clock
}

// Kind implements river.JobArgs.
func (stepArgs) Kind() string { return "incident_step" }

// reminderArgs posts one overdue-deadline reminder.
type reminderArgs struct {
	IncidentID int64     `json:"incident_id" river:"unique"`
	Deadline   string    `json:"deadline" river:"unique"` // acknowledge, investigate, first_update, resolve
	At         time.Time `json:"at"`
}

// Kind implements river.JobArgs.
func (reminderArgs) Kind() string { return "incident_reminder" }

// checkArgs asks the owner of a quiet acknowledged P1/P2 "still on it?".
type checkArgs struct {
	IncidentID int64     `json:"incident_id" river:"unique"`
	Seq        int       `json:"seq" river:"unique"`
	Since      time.Time `json:"since"` // app clock: the activity the check was scheduled from
	At         time.Time `json:"at"`
}

// Kind implements river.JobArgs.
func (checkArgs) Kind() string { return "incident_check" }

// startArgs is the safety net of Open: should the process stop between
// storing an incident and scheduling its escalation, this job posts the
// parent and schedules the escalation (both idempotent) a little later.
type startArgs struct {
	IncidentID int64 `json:"incident_id" river:"unique"`
}

// Kind implements river.JobArgs.
func (startArgs) Kind() string { return "incident_start" }

// pagerdutyArgs mirrors a Slack-side change into PagerDuty: create (raise
// the incident so PagerDuty pages), acknowledge or resolve as User.
type pagerdutyArgs struct {
	IncidentID int64  `json:"incident_id" river:"unique"`
	Action     string `json:"action" river:"unique"`
	Ref        string `json:"ref" river:"unique"` // makes a later, second ack (after a hand back) a new job
	User       string `json:"user"`
}

// Kind implements river.JobArgs.
func (pagerdutyArgs) Kind() string { return "incident_pagerduty" }

var uniqueByArgs = river.UniqueOpts{ByArgs: true}

// River makes a scheduled job available only on its leader's scheduler
// tick (every 5 s, looking 5 s ahead), and under load those ticks come
// seconds late (measured: up to about 2 s). A job snoozed for at most 5 s,
// though, stays available and is fetched by the producer's poll at exactly
// its new time. So a timer due more than shortHorizon from now is inserted
// scheduled wakeEarly before its instant and its worker snoozes the rest
// (see early): a tick up to wakeEarly late costs nothing. A timer due
// sooner is inserted available and snoozes at once.
const (
	wakeEarly    = 4 * time.Second
	shortHorizon = 2 * wakeEarly
)

// insertAt schedules args, due at app-clock instant at (its At field holds
// the same instant on River's clock).
func (m *Module) insertAt(ctx context.Context, tx pgx.Tx, args river.JobArgs, at time.Time) error {
	opts := &river.InsertOpts{Queue: Queue, UniqueOpts: uniqueByArgs}
	if !at.IsZero() && at.Sub(m.d.Now()) > shortHorizon {
		opts.ScheduledAt = m.schedAt(at).Add(-wakeEarly)
	}
	if _, err := m.d.Jobs.InsertTx(ctx, tx, args, opts); err != nil {
		return fmt.Errorf("schedule %s at %s: %w", args.Kind(), at.UTC().Format(time.RFC3339), err)
	}
	return nil
}

// early snoozes a job that runs before its instant (River's clock): at
// once up to wakeEarly, in steps of wakeEarly up to shortHorizon (each
// step stays available), and at once when the instant is far (a job River
// ran early, say after clock skew between replicas).
func (m *Module) early(at time.Time) error {
	wait := at.Sub(m.o.Wall())
	switch {
	case wait <= time.Millisecond:
		return nil
	case wait <= wakeEarly || wait > 2*shortHorizon:
		return river.JobSnooze(wait)
	}
	return river.JobSnooze(wakeEarly)
}

// homeArgs re-publishes one user's App Home after a change.
type homeArgs struct {
	User string `json:"user"`
}

// Kind implements river.JobArgs.
func (homeArgs) Kind() string { return "incident_home" }

type homeWorker struct {
	river.WorkerDefaults[homeArgs]
	m *Module
}

func (w *homeWorker) Work(ctx context.Context, job *river.Job[homeArgs]) error {
	if w.m.o.PublishHome == nil {
		return nil
	}
	return w.m.publishHome(ctx, job.Args.User, job.CreatedAt)
}

type stepWorker struct {
	river.WorkerDefaults[stepArgs]
	m *Module
}

func (w *stepWorker) Work(ctx context.Context, job *river.Job[stepArgs]) error {
	if err := w.m.early(job.Args.At); err != nil {
		return err
	}
	a := job.Args
	if a.Step < 0 {
		return w.m.fireBroadcast(ctx, a.IncidentID)
	}
	_, err := w.m.fireStep(ctx, a.IncidentID, Position{Round: a.Round, Loop: a.Loop, Step: a.Step}, actorSystem, false)
	return err
}

type reminderWorker struct {
	river.WorkerDefaults[reminderArgs]
	m *Module
}

func (w *reminderWorker) Work(ctx context.Context, job *river.Job[reminderArgs]) error {
	if err := w.m.early(job.Args.At); err != nil {
		return err
	}
	return w.m.remind(ctx, job.Args.IncidentID, job.Args.Deadline)
}

type checkWorker struct {
	river.WorkerDefaults[checkArgs]
	m *Module
}

func (w *checkWorker) Work(ctx context.Context, job *river.Job[checkArgs]) error {
	if err := w.m.early(job.Args.At); err != nil {
		return err
	}
	return w.m.check(ctx, job.Args)
}

type startWorker struct {
	river.WorkerDefaults[startArgs]
	m *Module
}

func (w *startWorker) Work(ctx context.Context, job *river.Job[startArgs]) error {
	if err := w.m.ensureParent(ctx, job.Args.IncidentID); err != nil {
		return err
	}
	return w.m.start(ctx, job.Args.IncidentID)
}

type pagerdutyWorker struct {
	river.WorkerDefaults[pagerdutyArgs]
	m *Module
}

func (w *pagerdutyWorker) Work(ctx context.Context, job *river.Job[pagerdutyArgs]) error {
	last := job.Attempt >= job.MaxAttempts || job.Attempt >= pagerdutyAttempts
	return w.m.mirrorToPagerDuty(ctx, job.Args, last)
}

// pagerdutyAttempts bounds how often a PagerDuty mirror is retried before
// the failure is reported in the thread (the client retries 429/5xx itself).
const pagerdutyAttempts = 3

// Timeout bounds a PagerDuty call so a stuck API cannot hold a worker.
func (w *pagerdutyWorker) Timeout(*river.Job[pagerdutyArgs]) time.Duration { return 45 * time.Second }

// Queue is the River queue of incident jobs. It has its own workers, so
// that a burst of escalation steps (1,000 falling due together) is not
// throttled by the default queue's 20 workers and 100 ms fetch cycle, nor
// delayed by other features' jobs.
const Queue = "incident"

// queueConfig lets up to 100 steps run at once and fetches every 20 ms at
// most, 50 ms when idle.
var queueConfig = river.QueueConfig{MaxWorkers: 100, FetchCooldown: 20 * time.Millisecond, FetchPollInterval: 50 * time.Millisecond}

// RegisterJobs adds the module's River workers and its queue; call before
// River starts.
func (m *Module) RegisterJobs(workers *river.Workers) error {
	if m.d.Jobs != nil {
		if err := m.d.Jobs.Queues().Add(Queue, queueConfig); err != nil {
			return fmt.Errorf("add River queue %s: %w", Queue, err)
		}
	}
	for _, add := range []func() error{
		func() error { return river.AddWorkerSafely(workers, &stepWorker{m: m}) },
		func() error { return river.AddWorkerSafely(workers, &reminderWorker{m: m}) },
		func() error { return river.AddWorkerSafely(workers, &checkWorker{m: m}) },
		func() error { return river.AddWorkerSafely(workers, &startWorker{m: m}) },
		func() error { return river.AddWorkerSafely(workers, &pagerdutyWorker{m: m}) },
		func() error { return river.AddWorkerSafely(workers, &homeWorker{m: m}) },
	} {
		if err := add(); err != nil {
			return fmt.Errorf("add incident worker: %w", err)
		}
	}
	return nil
}
