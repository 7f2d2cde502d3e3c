package securitytest_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/commands/handoff"
)

// TestHandoffMatrix: /oncall handoff, Start handoff, the handoff modal and
// Ready; /oncall emergency and I'll take secondary. The outgoing primary
// (or an admin) writes the handoff, the incoming primary alone says Ready;
// an emergency handoff is started by the primary, the secondary or an
// admin, and any other person of the configuration may volunteer.
func TestHandoffMatrix(t *testing.T) {
	t.Parallel()
	e := start(t, options{})
	h := e.h
	slash := func(user, line string) func(*testing.T) { return e.slash(user, chEngineering, line) }
	change := time.Date(2026, 11, 9, 9, 0, 0, 0, time.UTC) // A hands off to B
	subject := "handoff:" + change.Format(time.RFC3339)
	outgoingOnly := "Only Engineer A (<@U0ENGA>) (the outgoing primary) or an admin can write this handoff."

	for _, c := range []struct{ actor, want string }{
		{outsider, "Only people of the on-call configuration can hand off."},
		{engB, "The next handoff is Engineer A's to write"},
		{engC, "The next handoff is Engineer A's to write"},
	} {
		t.Run("/oncall handoff by "+c.actor, func(t *testing.T) { e.refused(t, c.actor, slash(c.actor, "/oncall handoff"), c.want) })
	}
	// The outgoing primary and an admin get the form (opening it changes nothing).
	for _, actor := range []string{engA, lead} {
		h.Slash(t, actor, chEngineering, "/oncall handoff")
		v := openModal(t, h, actor, handoff.ViewHandoff)
		require.NoError(t, h.Sim.CloseView(actor, v.ID))
	}

	require.NoError(t, h.App.Hooks["handoff-reminder"](context.Background()))
	dm := h.WaitIn(t, engA, "Handoff time", "Start handoff")
	for _, actor := range []string{engB, engC, outsider} {
		t.Run("Start handoff by "+actor, func(t *testing.T) {
			e.refused(t, actor, e.click(actor, dm, handoff.ActionStart), outgoingOnly)
		})
	}
	all := []string{"active", "alerts", "changes", "issues", "maintenance", "pagerduty", "post"}
	var inputs []input
	inputs = append(inputs, input{block: "checklist", action: "items", selected: all})
	for _, b := range []string{"active", "recent", "changes", "maintenance", "watch"} {
		inputs = append(inputs, input{block: b, action: "text", value: "None"})
	}
	meta := strconv.FormatInt(change.Unix(), 10)
	for _, actor := range []string{engB, outsider} {
		t.Run("handoff modal by "+actor, func(t *testing.T) {
			e.refused(t, actor, e.forgeSubmit(actor, handoff.ViewHandoff, meta, inputs...), outgoingOnly)
		})
	}
	require.Zero(t, query[int](t, e, `SELECT count(*) FROM handoffs WHERE posted_at IS NOT NULL`))

	e.allowed(t, engA, "handoff.post", func(t *testing.T) {
		skip := modalIDs(h, engA)
		h.Click(t, engA, dm, handoff.ActionStart)
		v := openModal(t, h, engA, handoff.ViewHandoff, skip...)
		_, err := h.Sim.SubmitView(engA, v.ID, map[string]string{"checklist": "active,alerts,changes,issues,maintenance,pagerduty,post",
			"active": "None", "recent": "None", "changes": "None", "maintenance": "None", "watch": "None"})
		require.NoError(t, err)
	})
	ready := h.WaitIn(t, engB, "Before you take the pager")
	for _, actor := range []string{engA, engC, lead, outsider} {
		t.Run("Ready by "+actor, func(t *testing.T) {
			e.refused(t, actor, e.click(actor, ready, handoff.ActionReady), "Only Engineer B (<@U0ENGB>), the incoming primary, can say they have the pager.")
		})
	}
	e.allowed(t, engB, "handoff.ready", e.click(engB, ready, handoff.ActionReady))
	require.Equal(t, []string{"oncallbot handoff.remind", "U0ENGA handoff.post", "U0ENGB handoff.ready"}, auditActions(t, e, subject))

	// Emergency handoff.
	for _, c := range []struct{ actor, line, want string }{
		{outsider, "/oncall emergency I am sick", "Only people of the on-call configuration can hand off."},
		{engB, "/oncall emergency I am sick", "Only the primary (Engineer A (<@U0ENGA>)), the secondary or an admin can start an emergency handoff."},
		{engA, "/oncall emergency", "Say why you need to hand off."},
	} {
		t.Run(c.line+" by "+c.actor, func(t *testing.T) { e.refused(t, c.actor, slash(c.actor, c.line), c.want) })
	}
	require.Zero(t, query[int](t, e, `SELECT count(*) FROM emergency_handoffs`))
	e.allowed(t, engA, "handoff.emergency", slash(engA, "/oncall emergency Family emergency"))
	ask := h.WaitIn(t, chEngineering, "We need a volunteer for *secondary*")
	for _, c := range []struct{ actor, want string }{
		{outsider, "Only people of the on-call configuration can take secondary."},
		{engA, "You handed off; someone else needs to take secondary."},
		{engC, "You are the new primary; someone else needs to take secondary."},
	} {
		t.Run("volunteer "+c.actor, func(t *testing.T) {
			e.refused(t, c.actor, e.click(c.actor, ask, handoff.ActionVolunteer), c.want)
		})
	}
	e.allowed(t, engB, "handoff.emergency.secondary", e.click(engB, ask, handoff.ActionVolunteer))
	shift, _, ok := h.App.Roster.At(context.Background(), h.Clock.Now())
	require.True(t, ok)
	require.Equal(t, engC, shift.Primary)
	require.Equal(t, engB, shift.Secondary)
	require.Equal(t, []string{"U0ENGA handoff.emergency", "U0ENGB handoff.emergency.secondary"}, auditActions(t, e, "emergency:1"))
}
