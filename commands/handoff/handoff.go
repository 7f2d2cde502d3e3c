// Package handoff runs the weekly and emergency on-call handoffs (SPEC §9,
// runbook §7).
//
// Weekly: at each instant of handoff.reminder the outgoing primary of the
// nearest shift change gets a DM with Start handoff. The reminder is a River
// periodic job (RunOnStart, so a bot that was down catches up when it comes
// back within the shift) and is claimed per shift change with
// store.ClaimSlot, so it is sent once whatever the number of replicas,
// restarts or cron instants in the shift. The modal holds the runbook's
// checklist and the handoff message's sections pre-filled from open
// incidents, the outgoing shift's incidents and GitHub changes, with the
// shift's numbers; submitting posts the runbook's message in #engineering
// and asks the incoming primary for Ready ("I have the pager"). A handoff not
// posted, or a Ready not given, handoff.nudge_after later gets one reminder
// to whoever owes it and the engineering lead.
//
// Emergency: /oncall emergency <reason> promotes the secondary to primary
// for the rest of the shift and asks for a volunteer secondary (first click
// wins).
//
// Incidents, GitHub changes and PagerDuty overrides come through small
// interfaces declared here (Incidents, Changes, PagerDutyOverrides); each
// may be nil, and the module says so where it matters.
package handoff

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/slack-go/slack"

	"github.com/contextinject/oncallbot/commands"
	"github.com/contextinject/oncallbot/commands/config"
	"github.com/contextinject/oncallbot/commands/oncall"
	"github.com/contextinject/oncallbot/commands/rotation"
	"github.com/contextinject/oncallbot/store"
)

// Slack identifiers of the handoff flows.
const (
	// ActionStart opens the handoff modal; its value is the shift change (Unix seconds).
	ActionStart = "handoff.start"
	// ActionReady is the incoming primary's "I have the pager"; value as ActionStart.
	ActionReady = "handoff.ready"
	// ActionVolunteer is "I'll take secondary"; its value is the emergency handoff ID.
	ActionVolunteer = "handoff.volunteer"
	// ViewHandoff is the handoff modal.
	ViewHandoff = "handoff.modal"
)

// Names of exactly-once slots (store.ClaimSlot) and the readiness note.
const (
	// SlotReminder is claimed per shift change by the weekly reminder.
	SlotReminder   = "handoff.reminder"
	slotNudgePost  = "handoff.nudge.post"
	slotNudgeReady = "handoff.nudge.ready"
	// NoteName is the /readyz detail reporting a missed reminder.
	NoteName = "handoff-reminder"
)

const (
	// skew tolerates a replica whose clock is a little behind the one that
	// enqueued the periodic job: an instant up to this far ahead counts as due.
	skew = time.Minute
	// lateAfter is how long after its instant a reminder counts as missed
	// (sent late because no process was running at the time).
	lateAfter = 2 * time.Minute
	// recheck is the longest snooze of a nudge that River ran before its
	// time by the module's clock.
	recheck = time.Second
)

// Incidents is what the handoff reads from the incidents module.
type Incidents interface {
	// OpenIncidents returns the incidents not resolved yet.
	OpenIncidents(ctx context.Context) ([]Incident, error)
	// Between returns the incidents created in [from, to), with their outcome.
	Between(ctx context.Context, from, to time.Time) ([]Incident, error)
}

// Changes reads GitHub deployments and workflow runs.
type Changes interface {
	// Between returns the deployments and workflow runs of [from, to), newest first.
	Between(ctx context.Context, from, to time.Time) ([]Change, error)
}

// PagerDutyOverrides creates overrides on the PagerDuty schedules that
// mirror the rotation.
type PagerDutyOverrides interface {
	// Override puts user (a Slack ID) on role's ("primary" or "secondary")
	// schedule for [start, end).
	Override(ctx context.Context, role, user string, start, end time.Time) error
}

// Options are the module's collaborators besides Deps.
type Options struct {
	// Roster says who is on call (required).
	Roster *oncall.Roster
	// Sync asks for the on-call user groups to be refreshed after an
	// emergency handoff changed who is on call; nil skips it.
	Sync func(ctx context.Context) error
	// Metrics registers the reminder metrics; nil keeps them unregistered.
	Metrics prometheus.Registerer
	// DataTimeout bounds reading incidents and GitHub before the modal opens
	// (a trigger_id lives 3 seconds); default 1.5s.
	DataTimeout time.Duration
}

// Module is the handoff feature.
type Module struct {
	d     commands.Deps
	o     Options
	rot   rotation.Rotation
	sched Schedule
	log   *slog.Logger

	mu        sync.RWMutex
	incidents Incidents
	changes   Changes
	pd        PagerDutyOverrides

	reminders *prometheus.CounterVec
	missed    prometheus.Gauge
}

// New returns the module. It fails when the configuration's reminder spec
// cannot be parsed or the roster is missing.
func New(d commands.Deps, o Options) (*Module, error) {
	if o.Roster == nil {
		return nil, errors.New("handoff: a roster is required")
	}
	spec := d.Config.ReminderSchedule()
	if spec == nil {
		return nil, fmt.Errorf("handoff: handoff.reminder %q is not a valid cron spec", d.Config.Handoff.Reminder)
	}
	if o.DataTimeout <= 0 {
		o.DataTimeout = 1500 * time.Millisecond
	}
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rot := o.Roster.Rotation()
	m := &Module{
		d: d, o: o, rot: rot, sched: NewSchedule(spec, rot.Start), log: log.With("module", "handoff"),
		reminders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oncallbot_handoff_reminders_total",
			Help: "Weekly handoff reminders by outcome: on_time, late (sent after a missed instant), failed (Slack refused the DM), resent (forced).",
		}, []string{"outcome"}),
		missed: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "oncallbot_handoff_reminder_missed",
			Help: "1 when the latest weekly handoff reminder was missed at its scheduled instant (the bot was down), else 0.",
		}),
	}
	if o.Metrics != nil {
		for _, c := range []prometheus.Collector{m.reminders, m.missed} {
			if err := o.Metrics.Register(c); err != nil {
				return nil, fmt.Errorf("handoff: register metrics: %w", err)
			}
		}
	}
	return m, nil
}

// SetIncidents connects the incidents module; nil means none are known.
func (m *Module) SetIncidents(i Incidents) { m.mu.Lock(); m.incidents = i; m.mu.Unlock() }

// SetChanges connects GitHub; nil means no changes are known.
func (m *Module) SetChanges(c Changes) { m.mu.Lock(); m.changes = c; m.mu.Unlock() }

// SetPagerDuty connects PagerDuty overrides; nil skips them.
func (m *Module) SetPagerDuty(p PagerDutyOverrides) { m.mu.Lock(); m.pd = p; m.mu.Unlock() }

func (m *Module) sources() (Incidents, Changes, PagerDutyOverrides) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.incidents, m.changes, m.pd
}

// Schedule returns the reminder's schedule (as River runs it).
func (m *Module) Schedule() Schedule { return m.sched }

// Usage lines of the commands this package answers.
const (
	usageHandoff   = "/oncall handoff — open the weekly handoff form now"
	usageEmergency = "/oncall emergency &lt;reason&gt; — emergency handoff: the secondary becomes primary, a volunteer takes secondary"
)

// Register adds the module's commands, buttons and modal to r.
func (m *Module) Register(r *commands.Registry) {
	r.Slash("/oncall", "handoff", usageHandoff, m.slashHandoff)
	r.Slash("/oncall", "emergency", usageEmergency, m.slashEmergency)
	r.Action(ActionStart, m.clickStart)
	r.Action(ActionReady, m.clickReady)
	r.Action(ActionVolunteer, m.clickVolunteer)
	r.View(ViewHandoff, m.submit)
}

// ReminderArgs is the periodic River job of the weekly reminder.
type ReminderArgs struct{}

// Kind implements river.JobArgs.
func (ReminderArgs) Kind() string { return "handoff_reminder" }

type reminderWorker struct {
	river.WorkerDefaults[ReminderArgs]
	m *Module
}

func (w *reminderWorker) Work(ctx context.Context, _ *river.Job[ReminderArgs]) error {
	return w.m.Tick(ctx)
}

// NudgeArgs is a durable nudge: at Due, if the handoff of Boundary is still
// not posted (What "post") or not confirmed Ready (What "ready"), whoever
// owes it and the engineering lead get one reminder.
type NudgeArgs struct {
	Boundary time.Time `json:"boundary"`
	What     string    `json:"what"`
	Due      time.Time `json:"due"`
}

// Kind implements river.JobArgs.
func (NudgeArgs) Kind() string { return "handoff_nudge" }

// Nudge kinds (NudgeArgs.What).
const (
	NudgePost  = "post"
	NudgeReady = "ready"
)

type nudgeWorker struct {
	river.WorkerDefaults[NudgeArgs]
	m *Module
}

func (w *nudgeWorker) Work(ctx context.Context, job *river.Job[NudgeArgs]) error {
	if now := w.m.d.Now(); now.Before(job.Args.Due) {
		// River's clock ran ahead of ours (a skewed replica, or a test clock):
		// look again shortly rather than nudge early.
		return river.JobSnooze(min(job.Args.Due.Sub(now), recheck))
	}
	return w.m.Nudge(ctx, job.Args)
}

// RegisterJobs adds the workers and the reminder's periodic job (run on
// start for the catch-up). Call before River starts.
func (m *Module) RegisterJobs() error {
	if err := river.AddWorkerSafely(m.d.Workers, &reminderWorker{m: m}); err != nil {
		return fmt.Errorf("add handoff reminder worker: %w", err)
	}
	if err := river.AddWorkerSafely(m.d.Workers, &nudgeWorker{m: m}); err != nil {
		return fmt.Errorf("add handoff nudge worker: %w", err)
	}
	m.d.Jobs.PeriodicJobs().Add(river.NewPeriodicJob(riverSchedule{m.sched},
		func() (river.JobArgs, *river.InsertOpts) { return ReminderArgs{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true, ID: SlotReminder}))
	return nil
}

// riverSchedule guards River's scheduler against a spec with no instant in
// robfig's five-year search ("0 0 30 2 *"): a zero Next would be due at once,
// over and over; instead it looks again in a year.
type riverSchedule struct{ s Schedule }

func (r riverSchedule) Next(t time.Time) time.Time {
	if n := r.s.Next(t); !n.IsZero() {
		return n
	}
	return t.AddDate(1, 0, 0)
}

func (m *Module) insertNudge(ctx context.Context, tx pgx.Tx, b time.Time, kind string, now time.Time) error {
	if m.d.Jobs == nil {
		return nil
	}
	due := now.Add(m.nudgeAfter())
	_, err := m.d.Jobs.InsertTx(ctx, tx, NudgeArgs{Boundary: b.UTC(), What: kind, Due: due.UTC()},
		&river.InsertOpts{ScheduledAt: due, UniqueOpts: river.UniqueOpts{ByArgs: true}})
	if err != nil {
		return fmt.Errorf("schedule %s nudge: %w", kind, err)
	}
	return nil
}

func (m *Module) nudgeAfter() time.Duration {
	if d := m.d.Config.Handoff.NudgeAfter.D(); d > 0 {
		return d
	}
	return time.Hour
}

// Tick sends the reminder due now, if any: the latest instant of the
// schedule within the current shift (or the end of the previous one, when
// it is about the change that started the current shift), once per shift
// change. Run by the periodic job at each instant and on start, it is also
// the catch-up after downtime; a late send is reported in /readyz and the
// metrics.
func (m *Module) Tick(ctx context.Context) error {
	now := m.d.Now()
	cur, ok := m.rot.IndexAt(now)
	if !ok {
		return nil
	}
	start, _ := m.rot.Bounds(cur)
	floor := start
	if cur > 0 {
		floor, _ = m.rot.Bounds(cur - 1)
	}
	slot, ok := m.sched.Prev(now.Add(skew), floor)
	if !ok {
		return nil
	}
	b, _, ok := Boundary(m.rot, slot)
	if !ok || b.Before(start) {
		// The change that instant was about is over: nothing left to remind.
		return nil
	}
	return m.remind(ctx, b, slot, now, false)
}

// RemindNow sends the reminder for the shift change nearest to now, as if
// an instant of the schedule were now (the console's `run handoff-reminder`).
// It is claimed like a scheduled one, so the schedule does not send a second
// one for the same change; when that change's reminder was already sent it
// is sent again (forced) and audited as a resend, because whoever runs it
// asked to see it.
func (m *Module) RemindNow(ctx context.Context) error {
	now := m.d.Now()
	b, ok := m.nearest(now)
	if !ok {
		return fmt.Errorf("no shift change to hand off near %s (the rotation starts %s)",
			now.UTC().Format(time.RFC3339), m.rot.Start.UTC().Format(time.RFC3339))
	}
	return m.remind(ctx, b, now, now, true)
}

// nearest returns the shift change nearest to t that has an outgoing shift:
// Boundary's answer, or in the rotation's first half-shift the first change.
func (m *Module) nearest(t time.Time) (time.Time, bool) {
	if b, _, ok := Boundary(m.rot, t); ok {
		return b, true
	}
	if cur, ok := m.rot.IndexAt(t); ok {
		_, end := m.rot.Bounds(cur)
		return end, true
	}
	return time.Time{}, false
}

// people returns the outgoing primary (just before b) and the incoming one (at b).
func (m *Module) people(ctx context.Context, b time.Time) (outgoing, incoming string, err error) {
	before, _, ok1 := m.o.Roster.At(ctx, b.Add(-time.Nanosecond))
	after, _, ok2 := m.o.Roster.At(ctx, b)
	if !ok1 || !ok2 {
		return "", "", fmt.Errorf("no shift around %s", b.UTC().Format(time.RFC3339))
	}
	return before.Primary, after.Primary, nil
}

func (m *Module) remind(ctx context.Context, b, slot, now time.Time, force bool) error {
	outgoing, incoming, err := m.people(ctx, b)
	if err != nil {
		return err
	}
	if outgoing == incoming {
		if force {
			return fmt.Errorf("%s stays primary across the change of %s: there is nothing to hand off", m.d.Config.Name(outgoing), b.UTC().Format(time.RFC3339))
		}
		return nil
	}
	var claimed bool
	err = m.d.DB.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		if claimed, err = store.ClaimSlot(ctx, tx, SlotReminder, b, now); err != nil {
			return err
		}
		if !claimed && !force {
			return nil
		}
		if err := ensureRecord(ctx, tx, b, outgoing, incoming, now); err != nil {
			return err
		}
		if err := markReminded(ctx, tx, b, now); err != nil {
			return err
		}
		action := "handoff.remind"
		if !claimed {
			action = "handoff.remind.resend"
		}
		if err := store.Audit(ctx, tx, store.AuditEntry{At: now, Actor: "oncallbot", Action: action, Subject: subject(b),
			Details: map[string]any{"outgoing": outgoing, "incoming": incoming, "slot": slot.UTC().Format(time.RFC3339)}}); err != nil {
			return err
		}
		if claimed {
			return m.insertNudge(ctx, tx, b, NudgePost, now)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("claim handoff reminder: %w", err)
	}
	if !claimed && !force {
		return nil
	}
	late := claimed && !force && now.Sub(slot) > lateAfter
	_, perr := m.d.Slack.Post(ctx, outgoing, m.reminderMessage(b, incoming, now, ""))
	status, outcome := "sent", "on_time"
	switch {
	case perr != nil:
		status, outcome = "failed", "failed"
	case !claimed:
		outcome = "resent"
	case late:
		outcome = "late"
	}
	m.reminders.WithLabelValues(outcome).Inc()
	if claimed {
		if err := store.FinishSlot(ctx, m.d.DB.Pool, SlotReminder, b, status, now); err != nil {
			m.log.Warn("record handoff reminder outcome", "err", err)
		}
	}
	switch {
	case late:
		m.missed.Set(1)
		m.d.Note(NoteName, fmt.Sprintf("missed the reminder due %s (no bot was running); sent at %s, %s late",
			slot.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), short(now.Sub(slot))))
	case claimed && !force && perr == nil:
		m.missed.Set(0)
		m.d.Note(NoteName, "")
	}
	if perr != nil {
		m.d.Note(NoteName, fmt.Sprintf("the reminder for the change of %s could not be sent: Slack refused the DM", b.UTC().Format(time.RFC3339)))
		return fmt.Errorf("send handoff reminder to %s: %w", outgoing, perr)
	}
	m.log.Info("handoff reminder sent", "boundary", b, "user_id", outgoing, "outcome", outcome)
	return nil
}

func subject(b time.Time) string { return "handoff:" + b.UTC().Format(time.RFC3339) }

func (m *Module) reminderMessage(b time.Time, incoming string, now time.Time, prefix string) commands.Message {
	when := "ends"
	if !b.After(now) {
		when = "ended"
	}
	text := fmt.Sprintf("%s:wave: Handoff time: your primary shift %s %s and %s takes over. Press *Start handoff* to review the week and post the handoff in <#%s>.",
		prefix, when, commands.Date(b), commands.Mention(m.d.Config, incoming), m.d.Config.Channels.Engineering)
	return commands.Message{Text: text, Blocks: []slack.Block{
		slack.NewSectionBlock(md(text), nil, nil),
		slack.NewActionBlock("handoff_start", button(ActionStart, "Start handoff", unix(b), slack.StylePrimary)),
	}}
}

// Nudge sends the one reminder of a nudge job when its handoff is still
// not posted (or not confirmed Ready): to whoever owes it and to the
// engineering lead. It does nothing when the work is done or when the
// nudge was already sent.
func (m *Module) Nudge(ctx context.Context, a NudgeArgs) error {
	now := m.d.Now()
	rec, err := getRecord(ctx, m.d.DB.Pool, a.Boundary)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	slot, owner := slotNudgePost, rec.Outgoing
	switch a.What {
	case NudgePost:
		if rec.PostedAt != nil {
			return nil
		}
	case NudgeReady:
		if rec.ReadyAt != nil || rec.PostedAt == nil {
			return nil
		}
		slot, owner = slotNudgeReady, rec.Incoming
	default:
		return fmt.Errorf("unknown nudge kind %q", a.What)
	}
	var claimed bool
	err = m.d.DB.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		if claimed, err = store.ClaimSlot(ctx, tx, slot, rec.Boundary, now); err != nil || !claimed {
			return err
		}
		return store.Audit(ctx, tx, store.AuditEntry{At: now, Actor: "oncallbot", Action: "handoff.nudge." + a.What,
			Subject: subject(rec.Boundary), Details: map[string]any{"owner": owner}})
	})
	if err != nil || !claimed {
		return err
	}
	cfg := m.d.Config
	var own, lead commands.Message
	if a.What == NudgePost {
		own = m.reminderMessage(rec.Boundary, rec.Incoming, now, ":alarm_clock: Reminder — the handoff is not posted yet.\n")
		lead = commands.Message{Text: fmt.Sprintf(":alarm_clock: The handoff from %s to %s (shift change %s) is not posted yet, %s after the reminder.",
			commands.Mention(cfg, rec.Outgoing), commands.Mention(cfg, rec.Incoming), commands.Date(rec.Boundary), short(m.nudgeAfter()))}
	} else {
		own = m.readyMessage(rec, ":alarm_clock: Reminder — please confirm you have the pager.\n")
		lead = commands.Message{Text: fmt.Sprintf(":alarm_clock: %s has not confirmed Ready (\"I have the pager\") for the handoff from %s (shift change %s), %s after it was posted.",
			commands.Mention(cfg, rec.Incoming), commands.Mention(cfg, rec.Outgoing), commands.Date(rec.Boundary), short(m.nudgeAfter()))}
	}
	var errs []error
	if _, err := m.d.Slack.Post(ctx, owner, own); err != nil {
		errs = append(errs, err)
	}
	for _, l := range leads(cfg, owner) {
		if _, err := m.d.Slack.Post(ctx, l, lead); err != nil {
			errs = append(errs, err)
		}
	}
	status := "sent"
	if len(errs) > 0 {
		status = "failed"
	}
	if err := store.FinishSlot(ctx, m.d.DB.Pool, slot, rec.Boundary, status, now); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Small Block Kit helpers.

func md(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, clip(s, 3000), false, false)
}

func pt(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, false, false)
}

func button(action, text, value string, style slack.Style) *slack.ButtonBlockElement {
	b := slack.NewButtonBlockElement(action, value, pt(text))
	if style != "" {
		b.Style = style
	}
	return b
}

func unix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// parseBoundary reads a shift change from a button value or modal metadata.
func parseBoundary(rot rotation.Rotation, s string) (time.Time, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, commands.Errorf(commands.Invalid, "This button does not name a shift change.")
	}
	t := time.Unix(n, 0).UTC()
	w, ok := rot.IndexAt(t)
	if !ok || w < 1 {
		return time.Time{}, commands.Errorf(commands.Invalid, "This button does not name a shift change.")
	}
	if start, _ := rot.Bounds(w); !start.Equal(t) {
		return time.Time{}, commands.Errorf(commands.Invalid, "This button does not name a shift change.")
	}
	return t, nil
}

func leads(cfg *config.Config, except ...string) []string {
	return slices.DeleteFunc(cfg.WithRole(config.RoleEngineeringLead), func(id string) bool { return slices.Contains(except, id) })
}
