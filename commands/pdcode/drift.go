package pdcode

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/contextinject/oncallbot/commands"
	"github.com/contextinject/oncallbot/store"
)

// NoteName is the /readyz detail the drift check sets.
const NoteName = "pagerduty_drift"

// driftKey is the store KV key of the last drift report.
const driftKey = "pagerduty.drift"

// DriftInterval is how often the bot checks PagerDuty for drift.
const DriftInterval = 24 * time.Hour

// driftState is the last reported comparison.
type driftState struct {
	Hash   string    `json:"hash"`
	Text   string    `json:"text"`
	Posted bool      `json:"posted"` // announced in #monitoring
	At     time.Time `json:"at"`
}

// Drift checks PagerDuty against the configuration at start and daily and
// reports each change of the differences once, in #monitoring and in
// /readyz details.
type Drift struct {
	d  commands.Deps
	pd Reader
	// mu makes checks of this process take turns (the daily job and the
	// console hook), so one change is announced once.
	mu sync.Mutex
}

// NewDrift returns the drift checker reading PagerDuty through pd.
func NewDrift(d commands.Deps, pd Reader) *Drift { return &Drift{d: d, pd: pd} }

// DriftArgs is the River job that checks for drift.
type DriftArgs struct{}

// Kind implements river.JobArgs.
func (DriftArgs) Kind() string { return "pagerduty_drift" }

type driftWorker struct {
	river.WorkerDefaults[DriftArgs]
	m *Drift
}

func (w *driftWorker) Work(ctx context.Context, _ *river.Job[DriftArgs]) error { return w.m.Check(ctx) }

// Timeout bounds one check: PagerDuty calls retry on 429/5xx.
func (w *driftWorker) Timeout(*river.Job[DriftArgs]) time.Duration { return 5 * time.Minute }

// RegisterJobs adds the drift worker and its daily schedule, run once at start.
func (m *Drift) RegisterJobs(workers *river.Workers, jobs *river.Client[pgx.Tx]) error {
	if err := river.AddWorkerSafely(workers, &driftWorker{m: m}); err != nil {
		return fmt.Errorf("add pagerduty drift worker: %w", err)
	}
	jobs.PeriodicJobs().Add(river.NewPeriodicJob(river.PeriodicInterval(DriftInterval),
		func() (river.JobArgs, *river.InsertOpts) {
			return DriftArgs{}, &river.InsertOpts{MaxAttempts: 5, UniqueOpts: river.UniqueOpts{ByPeriod: time.Hour}}
		},
		&river.PeriodicJobOpts{RunOnStart: true, ID: "pagerduty_drift"}))
	return nil
}

// Check compares PagerDuty with the configuration now, sets the /readyz
// detail and, when the differences changed since the last report, stores the
// new state and then announces it in #monitoring. A failed announcement is
// retried by the next check (the state says it was not posted). Checks run
// one at a time: the periodic job is unique per hour and runs on River's leader.
func (m *Drift) Check(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.d.Now()
	rep, err := Check(ctx, m.d.Config, m.pd, now)
	if err != nil {
		m.d.Note(NoteName, "could not compare PagerDuty with the configuration at "+now.UTC().Format(time.RFC3339)+": "+err.Error())
		return fmt.Errorf("pagerduty drift check: %w", err)
	}
	if rep.Equal() {
		m.d.Note(NoteName, "in sync (checked "+now.UTC().Format(time.RFC3339)+")")
	} else {
		m.d.Note(NoteName, fmt.Sprintf("%d %s (checked %s): %s", rep.Count(), plural(rep.Count(), "difference", "differences"),
			now.UTC().Format(time.RFC3339), rep.Text()))
	}

	var prev driftState
	announce := false
	err = m.d.DB.InTx(ctx, func(tx pgx.Tx) error {
		prev = driftState{}
		switch err := store.GetKV(ctx, tx, driftKey, &prev); {
		case errors.Is(err, store.ErrNotFound):
			// First check ever: an equal PagerDuty is not news.
			prev.Hash, prev.Posted = "equal", true
		case err != nil:
			return err
		}
		hash := rep.Hash()
		if hash == prev.Hash {
			announce = !prev.Posted
			return nil
		}
		announce = true
		next := driftState{Hash: hash, Text: rep.Text(), At: now}
		if err := store.PutKV(ctx, tx, driftKey, next, now); err != nil {
			return err
		}
		return store.Audit(ctx, tx, store.AuditEntry{At: now, Actor: "system", Action: "pagerduty.drift", Subject: "pagerduty",
			Details: map[string]any{"differences": rep.Count(), "hash": hash, "previous": prev.Hash}})
	})
	if err != nil {
		return fmt.Errorf("record pagerduty drift: %w", err)
	}
	if !announce || m.d.Config.Channels.Monitoring == "" {
		return nil
	}
	text := ":warning: *PagerDuty drifted from the configuration.* Run `oncallbot pagerduty diff` to see it and `oncallbot pagerduty apply` to fix it.\n```\n" + clip(rep.Text(), 2800) + "\n```"
	if rep.Equal() {
		text = ":white_check_mark: *PagerDuty matches the configuration again* (escalation policy and schedules)."
	}
	if _, err := m.d.Slack.Post(ctx, m.d.Config.Channels.Monitoring, commands.Message{Text: text}); err != nil {
		return fmt.Errorf("announce pagerduty drift: %w", err)
	}
	return m.d.DB.InTx(ctx, func(tx pgx.Tx) error {
		var cur driftState
		if err := store.GetKV(ctx, tx, driftKey, &cur); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if cur.Hash != rep.Hash() {
			return nil // a newer check replaced it meanwhile
		}
		cur.Posted = true
		return store.PutKV(ctx, tx, driftKey, cur, now)
	})
}

// clip keeps s within n bytes on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && (s[n]&0xC0) == 0x80 {
		n--
	}
	return s[:n] + "…"
}
