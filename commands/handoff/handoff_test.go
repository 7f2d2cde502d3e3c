package handoff_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/bot/app/apptest"
	"github.com/contextinject/oncallbot/bot/slacksim"
	"github.com/contextinject/oncallbot/commands/config"
	"github.com/contextinject/oncallbot/commands/handoff"
	"github.com/contextinject/oncallbot/store"
)

// change0 is the first shift change of the built-in rotation: Engineer A
// hands off to Engineer B.
var change0 = time.Date(2026, 11, 9, 9, 0, 0, 0, time.UTC)

type fakeIncidents struct {
	open, all []handoff.Incident
}

func (f *fakeIncidents) OpenIncidents(context.Context) ([]handoff.Incident, error) {
	return f.open, nil
}

func (f *fakeIncidents) Between(_ context.Context, from, to time.Time) ([]handoff.Incident, error) {
	var out []handoff.Incident
	for _, in := range f.all {
		if !in.CreatedAt.Before(from) && in.CreatedAt.Before(to) {
			out = append(out, in)
		}
	}
	return out, nil
}

type fakeChanges struct{ changes []handoff.Change }

func (f *fakeChanges) Between(_ context.Context, from, to time.Time) ([]handoff.Change, error) {
	var out []handoff.Change
	for _, c := range f.changes {
		if !c.At.Before(from) && c.At.Before(to) {
			out = append(out, c)
		}
	}
	return out, nil
}

type fakePD struct {
	mu    sync.Mutex
	calls []string
}

func (f *fakePD) Override(_ context.Context, role, user string, start, end time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("%s %s %s→%s", role, user, start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339)))
	return nil
}

func (f *fakePD) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

var wed = time.Date(2026, 11, 4, 10, 0, 0, 0, time.UTC)

// seeded is an open acknowledged P2 (acked late), a resolved P3, and an
// incident from before the shift that must not appear in recent incidents.
func seeded() *fakeIncidents {
	open := handoff.Incident{ID: 7, Title: "API returning errors", Severity: "P2", Status: "acknowledged", Owner: "U0ENGA",
		CreatedAt: wed, AckedAt: wed.Add(45 * time.Minute), LatestUpdate: "Rolled back v2.3; error rate falling"}
	return &fakeIncidents{
		open: []handoff.Incident{open},
		all: []handoff.Incident{
			{ID: 3, Title: "Old incident", Severity: "P3", CreatedAt: time.Date(2026, 10, 30, 10, 0, 0, 0, time.UTC)},
			{ID: 5, Title: "Queue depth growing", Severity: "P3", CreatedAt: wed, AckedAt: wed.Add(20 * time.Minute), ResolvedAt: wed.Add(90 * time.Minute), Outcome: "scaled the workers"},
			open,
		},
	}
}

func changes() *fakeChanges {
	return &fakeChanges{changes: []handoff.Change{
		{Kind: "deploy", Name: "production", Status: "success", Actor: "octocat", At: time.Date(2026, 11, 5, 10, 3, 0, 0, time.UTC), URL: "https://github.com/contextinject/context-inject/deployments"},
	}}
}

func countIn(h *apptest.Harness, channel string, parts ...string) int {
	n := 0
	for _, m := range h.Sim.Messages() {
		if (m.Channel == channel || m.DMTo == channel) && !m.Ephemeral && containsAll(m.AllText(), parts) {
			n++
		}
	}
	return n
}

// reminders counts the weekly reminders (not their nudges) DMed to user.
func reminders(h *apptest.Harness, user string) int {
	n := 0
	for _, m := range h.Sim.Messages() {
		if m.DMTo == user && strings.HasPrefix(m.Text, ":wave: Handoff time") {
			n++
		}
	}
	return n
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

func audits(t *testing.T, h *apptest.Harness, subject, action string) int {
	t.Helper()
	entries, err := store.ListAudit(context.Background(), h.App.DB.Pool, subject, 1000)
	require.NoError(t, err)
	n := 0
	for _, e := range entries {
		if e.Action == action {
			n++
		}
	}
	return n
}

func subjectOf(b time.Time) string { return "handoff:" + b.UTC().Format(time.RFC3339) }

// runReminderJob inserts the periodic job's args and waits for River to
// complete it: what a restarted replica's RunOnStart does.
func runReminderJob(t *testing.T, h *apptest.Harness) {
	t.Helper()
	ctx := context.Background()
	res, err := h.App.Jobs.Insert(ctx, handoff.ReminderArgs{}, nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		j, err := h.App.Jobs.JobGet(ctx, res.Job.ID)
		return err == nil && j.State == rivertype.JobStateCompleted
	}, 10*time.Second, 10*time.Millisecond)
}

func TestReminderOnceAcrossReplicasAndRestarts(t *testing.T) {
	t.Parallel()
	now := change0.Add(20 * time.Second)
	h1 := apptest.New(t, apptest.Options{Now: now})
	h2 := apptest.New(t, apptest.Options{Now: now, DatabaseURL: h1.DBURL, Sim: h1.Sim})

	// Both replicas fire the same instant many times at once (plus their
	// own RunOnStart jobs): one reminder.
	var wg sync.WaitGroup
	for i := range 8 {
		m := h1.App.Handoffs.Handoff
		if i%2 == 1 {
			m = h2.App.Handoffs.Handoff
		}
		wg.Go(func() { require.NoError(t, m.Tick(context.Background())) })
	}
	wg.Wait()
	msg := h1.WaitIn(t, "U0ENGA", "Handoff time", "your primary shift ended", "Engineer B")
	require.Equal(t, handoff.ActionStart, msg.Buttons()[0].ActionID)
	require.Equal(t, 1, audits(t, h1, subjectOf(change0), "handoff.remind"))
	require.Equal(t, 1, reminders(h1, "U0ENGA"))

	// A restart right after sending: the new process's catch-up sends nothing.
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, h2.App.Stop(sctx))
	h3 := apptest.New(t, apptest.Options{Now: now.Add(time.Minute), DatabaseURL: h1.DBURL, Sim: h1.Sim})
	runReminderJob(t, h3)
	require.Equal(t, 1, reminders(h1, "U0ENGA"))
	require.Equal(t, 1, audits(t, h1, subjectOf(change0), "handoff.remind"))
	_, details := h3.App.Health.Report(context.Background())
	require.NotContains(t, details, handoff.NoteName)
}

func TestReminderCatchUpAfterDowntime(t *testing.T) {
	t.Parallel()
	// The bot was down at Monday 09:00 and starts at 11:00, same shift:
	// its RunOnStart job sends the reminder, reported as missed.
	now := change0.Add(2 * time.Hour)
	h := apptest.New(t, apptest.Options{Now: now})
	h.WaitIn(t, "U0ENGA", "Handoff time", "Start handoff")
	require.Eventually(t, func() bool {
		_, details := h.App.Health.Report(context.Background())
		return strings.Contains(details[handoff.NoteName], "missed the reminder due 2026-11-09T09:00:00Z") &&
			strings.Contains(details[handoff.NoteName], "2h late")
	}, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, 1.0, metric(t, h.App.Gatherer, "oncallbot_handoff_reminders_total", "late"))
	require.Equal(t, 1.0, metric(t, h.App.Gatherer, "oncallbot_handoff_reminder_missed", ""))

	// Restarted later in the same shift: nothing more.
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, h.App.Stop(sctx))
	h2 := apptest.New(t, apptest.Options{Now: now.Add(24 * time.Hour), DatabaseURL: h.DBURL, Sim: h.Sim})
	runReminderJob(t, h2)
	require.Equal(t, 1, reminders(h, "U0ENGA"))
	require.NoError(t, h2.App.Stop(sctx))

	// Down for a week: the change that started the current shift is
	// reminded; the older one is not sent again.
	h3 := apptest.New(t, apptest.Options{Now: change0.Add(7*24*time.Hour + time.Minute), DatabaseURL: h.DBURL, Sim: h.Sim})
	runReminderJob(t, h3)
	h.WaitIn(t, "U0ENGB", "Handoff time", "Engineer A")
	require.Equal(t, 1, reminders(h, "U0ENGA"))
}

func metric(t *testing.T, g prometheus.Gatherer, name, outcome string) float64 {
	t.Helper()
	families, err := g.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			match := outcome == ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					match = true
				}
			}
			if !match {
				continue
			}
			if m.Counter != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// viewText is a view's JSON with HTML escapes and Slack date tokens
// rendered, for assertions.
func viewText(v *slacksim.View) string {
	return apptest.Plain(strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(string(v.Raw)))
}

func openModal(t *testing.T, h *apptest.Harness, user string) *slacksim.View {
	t.Helper()
	v, err := h.Sim.WaitView(10*time.Second, func(v *slacksim.View) bool {
		return v.User == user && v.CallbackID == handoff.ViewHandoff && !v.Closed
	})
	require.NoError(t, err)
	return v
}

func TestHandoffModalPostReadyAndNudge(t *testing.T) {
	t.Parallel()
	h := apptest.New(t, apptest.Options{Now: change0.Add(10 * time.Second)})
	mod := h.App.Handoffs.Handoff
	mod.SetIncidents(seeded())
	mod.SetChanges(changes())
	require.NoError(t, mod.Tick(context.Background()))
	dm := h.WaitIn(t, "U0ENGA", "Handoff time")

	// Someone else cannot open it.
	h.Click(t, "U0ENGB", dm, handoff.ActionStart)
	h.WaitEphemeral(t, "U0ENGB", "Only Engineer A")

	h.Click(t, "U0ENGA", dm, handoff.ActionStart)
	v := openModal(t, h, "U0ENGA")
	raw := viewText(v)
	for _, want := range []string{
		"On-Call Handoff: Engineer A -> Engineer B",
		"- #7 API returning errors (P2): acknowledged, owner Engineer A; latest: Rolled back v2.3; error rate falling",
		"- #5 Queue depth growing (P3): resolved after 1h30m — scaled the workers",
		"- Deploy production: success by octocat, Thu 5 Nov 10:03 UTC",
		"- None scheduled", "- All clear",
		"Pages by severity: P1 0 · P2 1 · P3 1 · P4 0",
		"#7 API returning errors (P2): acknowledge — took 45m, target 30m",
		"Acknowledged but unresolved:\\n• #7 API returning errors (P2), owner Engineer A",
		"PagerDuty app installed and notifications working",
	} {
		require.Contains(t, raw, want)
	}
	require.NotContains(t, raw, "Old incident")

	// Validation errors stay in the modal.
	_, err := h.Sim.SubmitView("U0ENGA", v.ID, map[string]string{"checklist": "active,post", "active": "  "})
	require.NoError(t, err)
	errView, err := h.Sim.WaitView(10*time.Second, func(x *slacksim.View) bool { return x.ID == v.ID && len(x.Errors) > 0 })
	require.NoError(t, err)
	require.Contains(t, errView.Errors["checklist"], "Tick every item")
	require.Contains(t, errView.Errors["active"], `Write "None"`)
	require.Empty(t, countIn(h, "C0ENGINEERING", "On-Call Handoff"))

	_, err = h.Sim.SubmitView("U0ENGA", v.ID, map[string]string{
		"checklist": "active,alerts,changes,issues,maintenance,pagerduty,post",
		"watch":     "Qdrant disk at 78%",
		"active":    "#7 API returning errors: rolled back, watching the error rate",
	})
	require.NoError(t, err)
	post := h.WaitIn(t, "C0ENGINEERING", "On-Call Handoff: Engineer A -> Engineer B", "Active Issues:\n- #7 API returning errors",
		"Things to Watch:\n- Qdrant disk at 78%", "<@U0ENGB> — you are now on-call. Questions?")
	h.WaitMessage(t, func(m *slacksim.Message) bool {
		return m.ThreadTS == post.TS && strings.Contains(m.Text, "Shift numbers")
	})
	ready := h.WaitIn(t, "U0ENGB", "Before you take the pager", "VPN access verified", "Copy of this runbook accessible offline", "grafana.internal.contextinject.ai")
	require.Equal(t, 1, audits(t, h, subjectOf(change0), "handoff.post"))

	// A second post is refused.
	err = mod.Post(context.Background(), "U0ENGA", change0, "U0ENGA", "U0ENGB", handoff.Fields{Active: "x"})
	require.ErrorContains(t, err, "already posted")

	// No Ready after nudge_after (1h): one reminder to B and one to the lead.
	h.Clock.Advance(time.Hour + time.Minute)
	h.WaitIn(t, "U0ENGB", "please confirm you have the pager")
	h.WaitIn(t, "U0LEAD", "Engineer B", "has not confirmed Ready")
	// The post nudge of the reminder found the handoff posted: nothing.
	require.Zero(t, countIn(h, "U0LEAD", "is not posted yet"))

	// Only B can say they have the pager; the first Ready wins.
	h.Click(t, "U0ENGA", ready, handoff.ActionReady)
	h.WaitEphemeral(t, "U0ENGA", "Only Engineer B")
	h.Click(t, "U0ENGB", ready, handoff.ActionReady)
	h.WaitMessage(t, func(m *slacksim.Message) bool {
		return m.ThreadTS == post.TS && strings.Contains(m.Text, "has the pager")
	})
	h.WaitIn(t, "U0ENGB", "You have the pager — confirmed")
	require.Equal(t, 1, audits(t, h, subjectOf(change0), "handoff.ready"))
	require.Equal(t, 1, countIn(h, "U0LEAD", "has not confirmed Ready"))
}

func TestPostNudgeWhenNoHandoff(t *testing.T) {
	t.Parallel()
	h := apptest.New(t, apptest.Options{Now: change0.Add(10 * time.Second)})
	require.NoError(t, h.App.Handoffs.Handoff.Tick(context.Background()))
	h.WaitIn(t, "U0ENGA", "Handoff time")
	h.Clock.Advance(59 * time.Minute)
	// Not due yet by the bot's clock: nothing (River runs the job early and
	// it snoozes).
	runReminderJob(t, h)
	require.Zero(t, countIn(h, "U0LEAD", "is not posted yet"))
	h.Clock.Advance(2 * time.Minute)
	h.WaitIn(t, "U0ENGA", "Reminder — the handoff is not posted yet", "Start handoff")
	h.WaitIn(t, "U0LEAD", "The handoff from Engineer A", "to Engineer B", "is not posted yet")
	require.Equal(t, 1, audits(t, h, subjectOf(change0), "handoff.nudge.post"))
}

func TestSlashHandoffPicksTheCallersChange(t *testing.T) {
	t.Parallel()
	h := apptest.New(t, apptest.Options{}) // Wednesday of shift 0: A is primary
	h.Slash(t, "U0ENGB", "C0ENGINEERING", "/oncall handoff")
	h.WaitEphemeral(t, "U0ENGB", "The next handoff is Engineer A's to write")
	h.Slash(t, "U0ENGA", "C0ENGINEERING", "/oncall handoff now")
	h.WaitEphemeral(t, "U0ENGA", "takes no arguments")
	h.Slash(t, "U0ENGA", "C0ENGINEERING", "/oncall handoff")
	v := openModal(t, h, "U0ENGA")
	require.Contains(t, viewText(v), "Shift change Mon 9 Nov 2026 09:00 UTC")
	// The lead (an admin) writes the nearest change for them.
	h.Slash(t, "U0LEAD", "C0ENGINEERING", "/oncall handoff")
	lv := openModal(t, h, "U0LEAD")
	require.Contains(t, viewText(lv), "Engineer A -> Engineer B")
}

func TestRunHandoffReminderHookShowsTheDM(t *testing.T) {
	t.Parallel()
	h := apptest.New(t, apptest.Options{}) // Wednesday 12:00: nearest change is Monday 9 Nov
	hook := h.App.Hooks["handoff-reminder"]
	require.NotNil(t, hook)
	require.NoError(t, hook(context.Background()))
	h.WaitIn(t, "U0ENGA", "Handoff time", "your primary shift ends", "|Mon 9 Nov 2026 09:00 UTC>")
	// Run again: sent again (forced) and audited as a resend, and the
	// schedule's own run for that change sends nothing more.
	require.NoError(t, hook(context.Background()))
	require.Eventually(t, func() bool { return reminders(h, "U0ENGA") == 2 }, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, 1, audits(t, h, subjectOf(change0), "handoff.remind.resend"))
	h.Clock.Set(change0.Add(time.Second))
	require.NoError(t, h.App.Handoffs.Handoff.Tick(context.Background()))
	require.Equal(t, 2, reminders(h, "U0ENGA"))
}

// threePeople is the built-in configuration with a third engineer in the
// pool: shift 0 has primary A and secondary C, so B is neither.
func threePeople(t *testing.T) *config.Config {
	t.Helper()
	y := string(config.DefaultYAML())
	y = strings.Replace(y, "  - {slack_id: U0ENGB,", "  - {slack_id: U0ENGC, name: Engineer C, email: engineer-c@contextinject.ai, pagerduty_id: PENGC}\n  - {slack_id: U0ENGB,", 1)
	y = strings.Replace(y, "pool: [U0ENGA, U0ENGB]", "pool: [U0ENGA, U0ENGB, U0ENGC]", 1)
	cfg, err := config.Parse("three.yaml", []byte(y))
	require.NoError(t, err)
	return cfg
}

func TestEmergencyHandoff(t *testing.T) {
	t.Parallel()
	h := apptest.New(t, apptest.Options{Config: threePeople(t)})
	pd := &fakePD{}
	mod := h.App.Handoffs.Handoff
	mod.SetPagerDuty(pd)
	mod.SetIncidents(seeded())
	end := "2026-11-09T09:00:00Z"

	h.Slash(t, "U0ENGB", "C0ENGINEERING", "/oncall emergency I am sick")
	h.WaitEphemeral(t, "U0ENGB", "Only the primary (Engineer A")
	h.Slash(t, "U0ENGA", "C0ENGINEERING", "/oncall emergency")
	h.WaitEphemeral(t, "U0ENGA", "Say why you need to hand off", "/oncall emergency &lt;reason&gt;")

	h.Slash(t, "U0ENGA", "C0ENGINEERING", "/oncall emergency Family emergency")
	h.WaitIn(t, "C0ENGINEERING", "Emergency handoff", "I need to hand off on-call. Family emergency", "Engineer C (<@U0ENGC>) (secondary) is now primary")
	ask := h.WaitIn(t, "C0ENGINEERING", "We need a volunteer for *secondary*")
	h.WaitIn(t, "U0ENGC", "You are now *primary*", "#7 API returning errors (P2): acknowledged")
	h.WaitEphemeral(t, "U0ENGA", "Done: Engineer C")

	// The new primary and the one who left cannot volunteer.
	h.Click(t, "U0ENGC", ask, handoff.ActionVolunteer)
	h.WaitEphemeral(t, "U0ENGC", "You are the new primary")
	h.Click(t, "U0ENGA", ask, handoff.ActionVolunteer)
	h.WaitEphemeral(t, "U0ENGA", "You handed off")

	// Two volunteers click at once: one wins.
	var wg sync.WaitGroup
	for _, u := range []string{"U0ENGB", "U0LEAD"} {
		wg.Go(func() { h.Click(t, u, ask, handoff.ActionVolunteer) })
	}
	wg.Wait()
	done := h.WaitMessage(t, func(m *slacksim.Message) bool {
		return m.TS == ask.TS && strings.Contains(m.Text, "took *secondary*")
	})
	winner, loser := "U0ENGB", "U0LEAD"
	if strings.Contains(done.Text, "<@U0LEAD>") {
		winner, loser = loser, winner
	}
	h.WaitEphemeral(t, winner, "You are secondary on-call until")
	h.WaitEphemeral(t, loser, "already took secondary")
	require.Empty(t, done.Buttons())

	shift, _, ok := h.App.Roster.At(context.Background(), h.Clock.Now())
	require.True(t, ok)
	require.Equal(t, "U0ENGC", shift.Primary)
	require.Equal(t, winner, shift.Secondary)
	require.Equal(t, []string{
		"primary U0ENGC 2026-11-04T12:00:00Z→" + end,
		"secondary " + winner + " 2026-11-04T12:00:00Z→" + end,
	}, pd.Calls())

	// The one who left is no longer on call; a second emergency by them is refused.
	h.Slash(t, "U0ENGA", "C0ENGINEERING", "/oncall emergency again")
	h.WaitEphemeral(t, "U0ENGA", "Only the primary (Engineer C")
	entries, err := store.ListAudit(context.Background(), h.App.DB.Pool, "emergency:1", 10)
	require.NoError(t, err)
	require.Len(t, entries, 2)
}
