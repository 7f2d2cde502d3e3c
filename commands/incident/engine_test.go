package incident

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/commands"
	"github.com/contextinject/oncallbot/store"
)

// TestEscalationAtExactInstants walks the built-in chain of a P2 step by
// step at the exact instants the timeline names: each step is scheduled for
// its instant, pages its people once, and the chain ends after two loops.
func TestEscalationAtExactInstants(t *testing.T) {
	t.Parallel()
	b := newBundle(t, Options{})
	ctx := context.Background()
	created := b.clock.Now()
	inc := b.open(t, "p2", "Checkout errors")
	require.Equal(t, "INC-1", inc.Key)
	require.Equal(t, "P2", inc.Severity)
	require.Len(t, b.slack.find("post", "C0INCIDENTS", "INC-1 · P2 · Checkout errors", "Acknowledge", "Post update", "Escalate", "Customer update", "Resolve", "Take command"), 1)

	// Reminders are scheduled at their deadlines.
	rem := map[string]time.Time{}
	for _, r := range jobArgs[reminderArgs](t, b, "incident_reminder") {
		rem[r.Deadline] = r.At
	}
	require.Equal(t, map[string]time.Time{
		"acknowledge": created.Add(30 * time.Minute), "investigate": created.Add(30 * time.Minute),
		"first_update": created.Add(time.Hour), "resolve": created.Add(4 * time.Hour),
	}, rem)
	require.Empty(t, jobArgs[stepArgs](t, b, "incident_step")[1:], "only the first step is scheduled")

	tl, err := PlanIncident(b.cfg, "P2", created)
	require.NoError(t, err)
	who := map[string]string{"primary": "U0ENGA", "secondary": "U0ENGB", "engineering_lead": "U0LEAD", "cto": "U0CTO"}
	for i, s := range tl.Steps {
		cur := b.get(t, inc.ID)
		require.Equal(t, Position{Round: 0, Loop: s.Loop, Step: s.Step, Due: s.At, State: escRunning}, cur.Esc, "before step %d", i)
		// The job of this step exists, due at its instant.
		found := false
		for _, a := range jobArgs[stepArgs](t, b, "incident_step") {
			if a.Loop == s.Loop && a.Step == s.Step && a.Round == 0 {
				require.Equal(t, s.At, a.At, "job of step %d", i)
				found = true
			}
		}
		require.True(t, found, "job of step %d", i)

		b.clock.Set(s.At)
		fired, err := b.m.fireStep(ctx, inc.ID, cur.Esc, actorSystem, false)
		require.NoError(t, err)
		require.True(t, fired, "step %d", i)
		// A redelivered job for the same step does nothing.
		again, err := b.m.fireStep(ctx, inc.ID, cur.Esc, actorSystem, false)
		require.NoError(t, err)
		require.False(t, again)
		person := who[s.Notify[0]]
		require.Len(t, b.slack.find("post", person, "You are paged: INC-1"), s.Loop+1, "DMs to %s after step %d", person, i)
		require.NotEmpty(t, b.slack.find("reply", "C0INCIDENTS", "Paging", "<@"+person+">", stepLabel(b.cfg.Escalation, s.Loop, s.Step)))
	}
	end := b.get(t, inc.ID)
	require.Equal(t, escDone, end.Esc.State)
	require.Len(t, b.pages(t, inc.ID), 8)
	require.ElementsMatch(t, []string{"U0ENGA", "U0ENGB", "U0LEAD", "U0CTO"}, end.Paged)
}

func TestDeferredP3PagesWhenBusinessHoursOpen(t *testing.T) {
	t.Parallel()
	b := newBundle(t, Options{})
	b.clock.Set(at("2026-11-06T22:00:00Z")) // Friday night
	inc := b.open(t, "P3", "Queue depth growing")
	steps := jobArgs[stepArgs](t, b, "incident_step")
	require.Len(t, steps, 1)
	require.Equal(t, at("2026-11-09T09:00:00Z"), steps[0].At)
	require.Equal(t, at("2026-11-09T11:00:00Z"), inc.Deadlines.Acknowledge)
	require.Len(t, b.slack.find("", "C0INCIDENTS", "paging starts"), 1, "the parent says when paging starts")
}

func TestP1BroadcastOnce(t *testing.T) {
	t.Parallel()
	b := newBundle(t, Options{})
	inc := b.open(t, "P1", "API down")
	var bc []stepArgs
	for _, a := range jobArgs[stepArgs](t, b, "incident_step") {
		if a.Step < 0 {
			bc = append(bc, a)
		}
	}
	require.Len(t, bc, 1)
	require.NoError(t, b.m.fireBroadcast(context.Background(), inc.ID))
	require.NoError(t, b.m.fireBroadcast(context.Background(), inc.ID))
	for _, u := range []string{"U0CTO", "U0ENGA", "U0ENGB"} {
		require.Len(t, b.slack.find("post", u, "You are paged: INC-1 · P1"), 1, u)
	}
	require.Len(t, b.slack.find("reply", "", "P1 broadcast"), 1)
}

// TestConcurrentStepsAndAcks: two replicas firing the same step, and two
// simultaneous Acknowledge clicks, change things once.
func TestConcurrentStepsAndAcks(t *testing.T) {
	t.Parallel()
	b := newBundle(t, Options{})
	ctx := context.Background()
	inc := b.open(t, "P2", "Checkout errors")
	pos := b.get(t, inc.ID).Esc

	var wg sync.WaitGroup
	results := make([]bool, 8)
	for i := range results {
		wg.Go(func() {
			fired, err := b.m.fireStep(ctx, inc.ID, pos, actorSystem, false)
			require.NoError(t, err)
			results[i] = fired
		})
	}
	wg.Wait()
	n := 0
	for _, r := range results {
		if r {
			n++
		}
	}
	require.Equal(t, 1, n, "one replica fires the step")
	require.Len(t, b.slack.find("post", "U0ENGA", "You are paged"), 1)

	errs := make([]error, 2)
	for i, u := range []string{"U0ENGA", "U0ENGB"} {
		wg.Go(func() { _, errs[i] = b.m.Acknowledge(ctx, inc.ID, u, "button") })
	}
	wg.Wait()
	ok, conflicts := 0, 0
	for _, err := range errs {
		var ce *commands.Error
		switch {
		case err == nil:
			ok++
		case errors.As(err, &ce) && ce.Code == commands.Conflict:
			conflicts++
			require.Contains(t, ce.Message, "was already acknowledged by")
		default:
			t.Fatalf("unexpected error %v", err)
		}
	}
	require.Equal(t, [2]int{1, 1}, [2]int{ok, conflicts})
	got := b.get(t, inc.ID)
	require.Equal(t, StatusAcknowledged, got.Status)
	require.Equal(t, got.AckedBy, got.Owner, "the first to acknowledge commands")
	require.Equal(t, escStopped, got.Esc.State)
	require.Len(t, b.slack.find("reply", "", "Acknowledged by"), 1)

	// The chain's next job finds nothing to do.
	fired, err := b.m.fireStep(ctx, inc.ID, got.Esc, actorSystem, false)
	require.NoError(t, err)
	require.False(t, fired)
	// The page DM lost its button and says who acknowledged.
	dm := b.slack.find("post", "U0ENGA", "You are paged")[0]
	last := b.slack.last(dm.TS)
	require.Equal(t, "update", last.Op)
	require.Empty(t, last.Buttons)
	require.Contains(t, last.Text, "Acknowledged by "+b.cfg.Name(got.AckedBy))
	// So does the parent.
	parent := b.slack.last(got.TS)
	require.Contains(t, parent.Text, "Acknowledged by")
	require.NotContains(t, parent.Buttons, ActionAcknowledge)

	// Audit rows exist for every change.
	entries, err := store.ListAudit(ctx, b.db.Pool, "incident:1", 100)
	require.NoError(t, err)
	actions := map[string]int{}
	for _, e := range entries {
		actions[e.Action]++
	}
	require.Equal(t, 1, actions["incident.open"])
	require.Equal(t, 1, actions["incident.page"])
	require.Equal(t, 1, actions["incident.acknowledge"])
}

func TestEscalateButtonFiresNextStepOnce(t *testing.T) {
	t.Parallel()
	b := newBundle(t, Options{})
	ctx := context.Background()
	inc := b.open(t, "P2", "Checkout errors")
	pos := b.get(t, inc.ID).Esc
	_, err := b.m.fireStep(ctx, inc.ID, pos, actorSystem, false)
	require.NoError(t, err)
	next := b.get(t, inc.ID)
	value := escalateValue(next)

	b.clock.Set(b.clock.Now().Add(2 * time.Minute))
	_, err = b.m.clickEscalate(ctx, commands.Action{UserID: "U0ENGA", Value: value})
	require.NoError(t, err)
	require.Len(t, b.slack.find("post", "U0ENGB", "You are paged"), 1)
	after := b.get(t, inc.ID)
	require.Equal(t, 2, after.Esc.Step)
	require.Equal(t, b.clock.Now().Add(15*time.Minute), after.Esc.Due, "the following step counts from the escalation")
	// A second click on the same button pages nobody.
	_, err = b.m.clickEscalate(ctx, commands.Action{UserID: "U0ENGB", Value: value})
	require.ErrorContains(t, err, "escalated already")
	require.Len(t, b.slack.find("post", "U0ENGB", "You are paged"), 1)
	// The scheduled job of the step that was fired by hand does nothing.
	fired, err := b.m.fireStep(ctx, inc.ID, next.Esc, actorSystem, false)
	require.NoError(t, err)
	require.False(t, fired)
}

func TestRemindersOnceAndOnlyWhenDue(t *testing.T) {
	t.Parallel()
	b := newBundle(t, Options{})
	ctx := context.Background()
	inc := b.open(t, "P2", "Checkout errors")
	b.clock.Set(inc.Deadlines.Acknowledge)
	require.NoError(t, b.m.remind(ctx, inc.ID, deadlineAck))
	require.NoError(t, b.m.remind(ctx, inc.ID, deadlineAck))
	require.Len(t, b.slack.find("reply", "", "past its acknowledge target"), 1)
	// P2 investigate falls with acknowledge: no second reminder.
	require.NoError(t, b.m.remind(ctx, inc.ID, deadlineInvestigate))
	require.Empty(t, b.slack.find("reply", "", "investigation target"))

	_, err := b.m.Acknowledge(ctx, inc.ID, "U0ENGB", "button")
	require.NoError(t, err)
	_, err = b.m.PostUpdate(ctx, inc.ID, "U0ENGB", "Rolled back the deploy", "5% of checkouts fail")
	require.NoError(t, err)
	require.NoError(t, b.m.remind(ctx, inc.ID, deadlineFirstUpdate))
	require.Empty(t, b.slack.find("reply", "", "first status update target"))
	b.clock.Set(inc.Deadlines.Resolve)
	require.NoError(t, b.m.remind(ctx, inc.ID, deadlineResolve))
	r := b.slack.find("reply", "", "past its resolution target")
	require.Len(t, r, 1)
	require.Contains(t, r[0].Text, "<@U0ENGB>", "mentions the owner")
}

func TestStillOnItConfirmAndHandBack(t *testing.T) {
	t.Parallel()
	b := newBundle(t, Options{})
	ctx := context.Background()
	inc := b.open(t, "P2", "Checkout errors")
	ackAt := b.clock.Now().Add(5 * time.Minute)
	b.clock.Set(ackAt)
	_, err := b.m.Acknowledge(ctx, inc.ID, "U0ENGB", "button")
	require.NoError(t, err)
	checks := jobArgs[checkArgs](t, b, "incident_check")
	require.Len(t, checks, 1)
	require.Equal(t, ackAt.Add(time.Hour), checks[0].At, "asked after first_update (1h) of quiet")

	// Activity pushes the question back.
	b.clock.Set(ackAt.Add(20 * time.Minute))
	require.NoError(t, b.m.Thread(ctx, inc.ID, commands.Message{Text: "looking at the logs"}))
	b.clock.Set(checks[0].At)
	require.NoError(t, b.m.check(ctx, checks[0]))
	require.Empty(t, b.slack.find("post", "U0ENGB", "Still on"))
	var next checkArgs
	for _, c := range jobArgs[checkArgs](t, b, "incident_check") {
		if c.Seq == checks[0].Seq+1 {
			next = c
		}
	}
	require.Equal(t, ackAt.Add(80*time.Minute), next.At)

	// Quiet: the owner is asked, once.
	b.clock.Set(next.At)
	require.NoError(t, b.m.check(ctx, next))
	require.NoError(t, b.m.check(ctx, next))
	asks := b.slack.find("post", "U0ENGB", "Still on INC-1")
	require.Len(t, asks, 1)
	require.Equal(t, []string{ActionStillConfirm, ActionStillHandBack}, asks[0].Buttons)

	// Someone else cannot answer for the owner.
	_, err = b.m.answerCheck(ctx, inc.ID, next.Seq, "U0ENGA", true)
	require.ErrorContains(t, err, "Only Engineer B")
	// Hand back: triggered again, a new round of escalation starts now.
	_, err = b.m.answerCheck(ctx, inc.ID, next.Seq, "U0ENGB", true)
	require.NoError(t, err)
	got := b.get(t, inc.ID)
	require.Equal(t, StatusTriggered, got.Status)
	require.Empty(t, got.Owner)
	require.Equal(t, Position{Round: 1, Due: b.clock.Now(), State: escRunning}, got.Esc)
	require.Empty(t, b.slack.last(asks[0].TS).Buttons, "the question lost its buttons")
	fired, err := b.m.fireStep(ctx, inc.ID, got.Esc, actorSystem, false)
	require.NoError(t, err)
	require.True(t, fired)
	require.Len(t, b.slack.find("post", "U0ENGA", "You are paged"), 1, "the new round pages the primary")
	// A second answer to the same question changes nothing.
	_, err = b.m.answerCheck(ctx, inc.ID, next.Seq, "U0ENGB", false)
	require.ErrorContains(t, err, "answered already")
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	b := newBundle(t, Options{})
	ctx := context.Background()
	resolved := b.open(t, "P3", "Old thing")
	_, err := b.m.Resolve(ctx, resolved.ID, "U0ENGA", "disk", "cleaned")
	require.NoError(t, err)
	posts := len(b.slack.find("", ""))

	slash := func(cmd func(context.Context, commands.Slash) (commands.Response, error), user, args string) error {
		_, err := cmd(ctx, commands.Slash{UserID: user, ChannelID: "C0INCIDENTS", Args: args})
		return err
	}
	for _, tc := range []struct {
		name string
		err  error
		code commands.Code
		want string
	}{
		{"unknown severity", slash(b.m.declare, "U0ENGA", "P7 Checkout errors"), commands.Invalid, "`P7` is not a severity; use one of P1, P2, P3, P4."},
		{"no title", slash(b.m.declare, "U0ENGA", "P2"), commands.Invalid, "needs a title"},
		{"blank title", slash(b.m.declare, "U0ENGA", "P2    "), commands.Invalid, "needs a title"},
		{"nothing", slash(b.m.declare, "U0ENGA", ""), commands.Invalid, "Usage"},
		{"long title", slash(b.m.declare, "U0ENGA", "P2 "+strings.Repeat("x", 151)), commands.Invalid, "Usage"},
		{"stranger declares", slash(b.m.declare, "U0NOBODY", "P2 x"), commands.Forbidden, "Only people in the on-call configuration"},
		{"ack nothing", slash(b.m.ack, "U0LEAD", ""), commands.NotFound, "You have no open pages to acknowledge."},
		{"ack unknown incident", slash(b.m.ack, "U0ENGA", "INC-99"), commands.NotFound, "There is no incident INC-99."},
		{"ack not an incident", slash(b.m.ack, "U0ENGA", "yesterday"), commands.Invalid, "is not an incident"},
		{"ack resolved", slash(b.m.ack, "U0ENGA", resolved.Key), commands.Conflict, "was resolved by Engineer A"},
		{"ic without person", slash(b.m.ic, "U0ENGA", ""), commands.Invalid, "Usage"},
		{"ic not a person", slash(b.m.ic, "U0ENGA", "bob"), commands.Invalid, "is not a person"},
		{"list with args", slash(b.m.list, "U0ENGA", "all"), commands.Invalid, "takes no arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ce *commands.Error
			require.True(t, errors.As(tc.err, &ce), "%v", tc.err)
			require.Equal(t, tc.code, ce.Code)
			require.Contains(t, ce.Message, tc.want)
		})
	}
	click := func(f func(context.Context, commands.Action) (commands.Response, error), value string) error {
		_, err := f(ctx, commands.Action{UserID: "U0ENGB", Value: value})
		return err
	}
	for _, tc := range []struct {
		name, want string
		err        error
	}{
		{"ack click on resolved", "there is nothing to acknowledge", click(b.m.clickAck, "1")},
		{"resolve click on resolved", "was already resolved", click(b.m.clickResolve, "1")},
		{"update click on resolved", "use the thread", click(b.m.clickUpdate, "1")},
		{"take command on resolved", "is resolved", click(b.m.clickTake, "1")},
		{"escalate resolved", "there is no one left to page", click(b.m.clickEscalate, escalateValue(resolved))},
		{"garbage value", "does not name an incident", click(b.m.clickAck, "1; DROP TABLE incidents")},
		{"garbage escalate", "does not name an escalation step", click(b.m.clickEscalate, "x")},
		{"missing incident", "There is no incident INC-404", click(b.m.clickAck, "404")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, ok := commands.UserMessage(tc.err)
			require.True(t, ok, "%v", tc.err)
			require.ErrorContains(t, tc.err, tc.want)
		})
	}
	require.Len(t, b.slack.find("", ""), posts, "bad input changed nothing")
	list, err := b.m.OpenIncidents(ctx)
	require.NoError(t, err)
	require.Empty(t, list)
}

func TestCommandsAndStats(t *testing.T) {
	t.Parallel()
	b := newBundle(t, Options{})
	ctx := context.Background()
	created := b.clock.Now()
	resp, err := b.m.declare(ctx, commands.Slash{UserID: "U0ENGA", Args: "P2 Checkout   errors on EU"})
	require.NoError(t, err)
	require.Contains(t, resp.Ephemeral.Text, "Declared *INC-1* (P2, Checkout errors on EU)")
	inc := b.get(t, 1)
	_, err = b.m.fireStep(ctx, inc.ID, inc.Esc, actorSystem, false)
	require.NoError(t, err)

	b.clock.Set(created.Add(4 * time.Minute))
	resp, err = b.m.ack(ctx, commands.Slash{UserID: "U0ENGA"})
	require.NoError(t, err)
	require.Contains(t, resp.Ephemeral.Text, "Acknowledged:\n• INC-1")
	require.Contains(t, resp.Ephemeral.Text, "met")

	resp, err = b.m.list(ctx, commands.Slash{UserID: "U0ENGB"})
	require.NoError(t, err)
	require.Contains(t, resp.Ephemeral.Text, "INC-1* P2 Checkout errors on EU — acknowledged, IC Engineer A")

	// Handing command: the IC can, someone else cannot, an admin can.
	_, err = b.m.ic(ctx, commands.Slash{UserID: "U0ENGB", Args: "<@U0ENGB|b> INC-1"})
	require.NoError(t, err, "taking command oneself is allowed")
	_, err = b.m.ic(ctx, commands.Slash{UserID: "U0ENGA", Args: "<@U0ENGA>"})
	require.NoError(t, err, "anyone may take command themselves")
	_, err = b.m.ic(ctx, commands.Slash{UserID: "U0ENGB", Args: "<@U0CTO> INC-1"})
	require.ErrorContains(t, err, "Only Engineer A")
	_, err = b.m.ic(ctx, commands.Slash{UserID: "U0LEAD", Args: "<@U0CTO> INC-1"})
	require.NoError(t, err, "an admin hands command to someone else")
	require.Equal(t, "U0CTO", b.get(t, 1).Owner)
	require.Len(t, b.slack.find("reply", "", "is now incident commander"), 3)

	b.clock.Set(created.Add(time.Hour))
	_, err = b.m.Resolve(ctx, 1, "U0CTO", "bad deploy", "rolled back")
	require.NoError(t, err)
	r := b.slack.find("reply", "", "*Resolved* by CTO")
	require.Len(t, r, 1)
	require.Contains(t, r[0].Text, "after 1h")
	require.Contains(t, r[0].Text, "*Root cause:* bad deploy")

	handled, median, err := b.m.Stats(ctx, "U0ENGA", created.Add(-time.Hour), created.Add(time.Hour))
	require.NoError(t, err)
	require.Equal(t, 1, handled)
	require.Equal(t, 4*time.Minute, median)
	between, err := b.m.Between(ctx, created, created.Add(time.Minute))
	require.NoError(t, err)
	require.Len(t, between, 1)
	require.Equal(t, StatusResolved, between[0].Status)
	require.Equal(t, "rolled back", between[0].Resolution)

	// Notes show on the parent.
	inc2 := b.open(t, "P3", "Disk filling")
	require.NoError(t, b.m.SetNote(ctx, inc2.ID, "triage", "2/5 steps done"))
	require.Contains(t, b.slack.last(b.get(t, inc2.ID).TS).Text, "2/5 steps done")
	byKey, err := b.m.ByKey(ctx, "inc-2")
	require.NoError(t, err)
	require.Equal(t, inc2.ID, byKey.ID)
}

func TestOpenIsIdempotentOnSourceRef(t *testing.T) {
	t.Parallel()
	b := newBundle(t, Options{})
	ctx := context.Background()
	req := OpenRequest{Severity: "P2", Title: "HighErrorRate", Source: SourceAlertmanager, SourceRef: "fp1", OpenedBy: SourceAlertmanager}
	var wg sync.WaitGroup
	ids := make([]int64, 4)
	for i := range ids {
		wg.Go(func() {
			inc, err := b.m.Open(ctx, req)
			require.NoError(t, err)
			ids[i] = inc.ID
		})
	}
	wg.Wait()
	for _, id := range ids {
		require.Equal(t, ids[0], id)
	}
	_, err := b.m.Resolve(ctx, ids[0], "U0ENGA", "x", "y")
	require.NoError(t, err)
	again, err := b.m.Open(ctx, req)
	require.NoError(t, err)
	require.NotEqual(t, ids[0], again.ID, "after resolution the same alert opens a new incident")
}
