package securitytest_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/bot/slacksim"
	"github.com/contextinject/oncallbot/commands/incident"
	"github.com/contextinject/oncallbot/commands/templates"
)

const (
	forbidAck      = "Only people in the on-call configuration can acknowledge incidents."
	forbidEscalate = "Only people in the on-call configuration can escalate incidents."
	forbidCommand  = "Only people in the on-call configuration can change incident command."
	forbidUpdate   = "Only people in the on-call configuration can post incident updates."
	forbidResolve  = "Only people in the on-call configuration can resolve incidents."
	forbidCustomer = "Only people of the on-call configuration can draft customer updates."
)

// TestIncidentMatrix: /incident P…, /incident ic, /oncall ack and every
// button and modal of an incident (Acknowledge, Post update, Escalate,
// Take command, Customer update with its templates and modal, Resolve).
// Any person of the configuration may act on an incident; nobody else;
// handing command to someone else takes the commander or an admin.
func TestIncidentMatrix(t *testing.T) {
	t.Parallel()
	e := start(t, options{})
	h := e.h
	slash := func(user, line string) func(*testing.T) { return e.slash(user, chIncidents, line) }

	e.refused(t, outsider, slash(outsider, "/incident P2 Checkout errors"), "Only people in the on-call configuration can declare incidents.")
	require.Zero(t, query[int](t, e, `SELECT count(*) FROM incidents`))

	e.allowed(t, engB, "incident.open", slash(engB, "/incident P2 Checkout errors"))
	parent := h.WaitIn(t, chIncidents, "INC-1 · P2 · Checkout errors", "Acknowledge", "Escalate", "Customer update", "Take command")
	page := h.WaitIn(t, engA, "You are paged: INC-1")
	// The Customer update button offers the templates (to people of the
	// configuration): B's choice is what an outsider would forge.
	e.settle(t)
	before := seen(h)
	h.Click(t, engB, parent, incident.ActionCustomerUpdate)
	choice := answer(t, h, engB, before, "Customer update for incident #1")

	// Nothing of an incident is open to someone outside the configuration.
	for _, c := range []struct {
		name string
		do   func(*testing.T)
		want string
	}{
		{"/oncall ack INC-1", slash(outsider, "/oncall ack INC-1"), forbidAck},
		{"/oncall ack", slash(outsider, "/oncall ack"), forbidAck},
		{"Acknowledge in the thread parent", e.click(outsider, parent, incident.ActionAcknowledge), forbidAck},
		{"Acknowledge in someone's page", e.click(outsider, page, incident.ActionAcknowledge), forbidAck},
		{"Escalate", e.click(outsider, parent, incident.ActionEscalate), forbidEscalate},
		{"Take command", e.click(outsider, parent, incident.ActionTakeCommand), forbidCommand},
		{"/incident ic", slash(outsider, "/incident ic <@U0ENGC> INC-1"), forbidCommand},
		{"Post update button", e.click(outsider, parent, incident.ActionPostUpdate), forbidUpdate},
		{"Post update modal", e.forgeSubmit(outsider, incident.ViewPostUpdate, "1",
			input{block: "status", action: "value", value: "all good"}), forbidUpdate},
		{"Resolve button", e.click(outsider, parent, incident.ActionResolve), forbidResolve},
		{"Resolve modal", e.forgeSubmit(outsider, incident.ViewResolve, "1",
			input{block: "root_cause", action: "value", value: "x"}, input{block: "resolution", action: "value", value: "y"}), forbidResolve},
		{"Customer update button", e.click(outsider, parent, incident.ActionCustomerUpdate), forbidCustomer},
		{"Customer update template", e.forgeClick(outsider, choice, templates.ActionChoose+"during-incident"), forbidCustomer},
		{"Customer update modal", e.forgeSubmit(outsider, templates.ViewFill, `{"i":1,"t":"during-incident"}`,
			input{block: "f_subject", action: "value", value: "s"}, input{block: "f_customer_name", action: "value", value: "n"},
			input{block: "f_issue", action: "value", value: "i"}, input{block: "f_estimate", action: "value", value: "e"},
			input{block: "f_sender_name", action: "value", value: "m"}), forbidCustomer},
	} {
		t.Run("outsider: "+c.name, func(t *testing.T) { e.refused(t, outsider, c.do, c.want) })
	}
	require.Equal(t, "triggered", query[string](t, e, `SELECT status FROM incidents WHERE id = 1`))

	// Any person of the configuration may escalate and acknowledge.
	e.allowed(t, lead, "incident.page", e.click(lead, parent, incident.ActionEscalate))
	e.allowed(t, engA, "incident.acknowledge", slash(engA, "/oncall ack"))
	require.Equal(t, "acknowledged", query[string](t, e, `SELECT status FROM incidents WHERE id = 1`))
	require.Equal(t, engA, query[string](t, e, `SELECT owner FROM incidents WHERE id = 1`))

	// Handing command to someone else takes the commander or an admin.
	for _, c := range []struct {
		actor, line, want string
	}{
		{engB, "/incident ic <@U0ENGC> INC-1", "Only Engineer A (the incident commander of INC-1) or an admin can hand command to someone else."},
		{engC, "/incident ic <@U0ENGB> INC-1", "Only Engineer A (the incident commander of INC-1) or an admin can hand command to someone else."},
		{lead, "/incident ic <@U0OUTSIDER> INC-1", "<@U0OUTSIDER> is not in the on-call configuration, so cannot command an incident."},
		{outsider, "/incident ic <@U0OUTSIDER> INC-1", forbidCommand},
		{engA, "/incident ic <@U0OUTSIDER> INC-1", "<@U0OUTSIDER> is not in the on-call configuration, so cannot command an incident."},
	} {
		t.Run(c.actor+" "+c.line, func(t *testing.T) { e.refused(t, c.actor, slash(c.actor, c.line), c.want) })
	}
	e.allowed(t, lead, "incident.commander", slash(lead, "/incident ic <@U0ENGC> INC-1"))
	require.Equal(t, engC, query[string](t, e, `SELECT owner FROM incidents WHERE id = 1`))
	// Anyone of the configuration may take command themselves.
	e.allowed(t, engB, "incident.commander", e.click(engB, parent, incident.ActionTakeCommand))
	require.Equal(t, engB, query[string](t, e, `SELECT owner FROM incidents WHERE id = 1`))

	// Post update through its modal.
	e.allowed(t, engC, "incident.update", func(t *testing.T) {
		skip := modalIDs(h, engC)
		h.Click(t, engC, parent, incident.ActionPostUpdate)
		v := openModal(t, h, engC, incident.ViewPostUpdate, skip...)
		_, err := h.Sim.SubmitView(engC, v.ID, map[string]string{"status": "Rolled back v2.3; errors falling"})
		require.NoError(t, err)
	})
	require.Equal(t, "Rolled back v2.3; errors falling", query[string](t, e, `SELECT latest_update FROM incidents WHERE id = 1`))

	// Customer update: template choice, modal, draft in the thread.
	e.allowed(t, engB, "customer_update.draft", func(t *testing.T) {
		skip := modalIDs(h, engB)
		h.Click(t, engB, choice, templates.ActionChoose+"during-incident")
		v := openModal(t, h, engB, templates.ViewFill, skip...)
		_, err := h.Sim.SubmitView(engB, v.ID, map[string]string{"f_customer_name": "Ada"})
		require.NoError(t, err)
	})
	h.WaitMessage(t, func(m *slacksim.Message) bool {
		return m.ThreadTS == parent.TS && strings.Contains(m.Text, "Customer update draft") && strings.Contains(m.Text, "Hi Ada")
	})

	// Resolve through its modal.
	e.allowed(t, cto, "incident.resolve", func(t *testing.T) {
		skip := modalIDs(h, cto)
		h.Click(t, cto, parent, incident.ActionResolve)
		v := openModal(t, h, cto, incident.ViewResolve, skip...)
		_, err := h.Sim.SubmitView(cto, v.ID, map[string]string{"root_cause": "A bad deploy", "resolution": "Rolled back"})
		require.NoError(t, err)
	})
	require.Equal(t, "resolved", query[string](t, e, `SELECT status FROM incidents WHERE id = 1`))
	require.Equal(t, []string{
		"U0ENGB incident.open", "U0LEAD incident.page", "U0ENGA incident.acknowledge", "U0LEAD incident.commander",
		"U0ENGB incident.commander", "U0ENGC incident.update", "U0ENGB customer_update.draft", "U0CTO incident.resolve",
	}, withoutSystem(auditActions(t, e, "incident:1")))
}

// withoutSystem drops the entries of the bot's own jobs (pages by timer, reminders).
func withoutSystem(actions []string) []string {
	var out []string
	for _, a := range actions {
		if strings.HasPrefix(a, "U") {
			out = append(out, a)
		}
	}
	return out
}

// TestStillOnItMatrix: the "still on it?" question of a quiet acknowledged
// P2 is answered (Still on it / Hand back) by its commander or an admin only.
func TestStillOnItMatrix(t *testing.T) {
	t.Parallel()
	y := teamYAML(t, quietDiagnostics)
	old := "P2: {acknowledge: 30m, investigate: 30m, first_update: 1h,"
	require.Contains(t, y, old)
	y = strings.Replace(y, old, "P2: {acknowledge: 30m, investigate: 30m, first_update: 1s,", 1)
	e := start(t, options{cfg: parse(t, y)})
	h := e.h

	e.allowed(t, engB, "incident.open", e.slash(engB, chIncidents, "/incident P2 Checkout errors"))
	e.allowed(t, engA, "incident.acknowledge", e.slash(engA, chIncidents, "/oncall ack INC-1"))
	ask := h.WaitIn(t, engA, "Still on INC-1?")
	for _, actor := range []string{engB, engC, outsider} {
		for _, action := range []string{incident.ActionStillConfirm, incident.ActionStillHandBack} {
			t.Run(action+" by "+actor, func(t *testing.T) {
				e.refused(t, actor, e.click(actor, ask, action), "Only Engineer A (incident commander) or an admin can answer this.")
			})
		}
	}
	require.Equal(t, "acknowledged", query[string](t, e, `SELECT status FROM incidents WHERE id = 1`))

	// An admin answers for the commander; the next question goes to the
	// commander, who hands the incident back.
	e.allowed(t, lead, "incident.still_confirm", e.click(lead, ask, incident.ActionStillConfirm))
	again := h.WaitMessage(t, func(m *slacksim.Message) bool {
		return m.DMTo == engA && m.TS != ask.TS && strings.Contains(m.Text, "Still on INC-1?")
	})
	e.refused(t, outsider, e.click(outsider, again, incident.ActionStillHandBack), "Only Engineer A (incident commander) or an admin can answer this.")
	e.allowed(t, engA, "incident.hand_back", e.click(engA, again, incident.ActionStillHandBack))
	require.Equal(t, "triggered", query[string](t, e, `SELECT status FROM incidents WHERE id = 1`))
}
