package templates_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/bot/app/apptest"
	"github.com/contextinject/oncallbot/bot/slacksim"
	"github.com/contextinject/oncallbot/commands"
	"github.com/contextinject/oncallbot/commands/templates"
	"github.com/contextinject/oncallbot/store"
)

// fakeIncidents holds one incident whose parent message is parentTS in
// #incidents; Thread replies under it.
type fakeIncidents struct {
	h        *apptest.Harness
	inc      templates.Incident
	parentTS string
}

func (f *fakeIncidents) Get(_ context.Context, id int64) (templates.Incident, error) {
	if id != f.inc.ID {
		return templates.Incident{}, fmt.Errorf("incident %d: %w", id, store.ErrNotFound)
	}
	return f.inc, nil
}

func (f *fakeIncidents) Thread(ctx context.Context, _ int64, msg commands.Message) error {
	_, err := f.h.App.Deps.Slack.Reply(ctx, "C0INCIDENTS", f.parentTS, msg)
	return err
}

func parent(t *testing.T, h *apptest.Harness, id string) *slacksim.Message {
	t.Helper()
	btn := slack.NewButtonBlockElement(templates.ActionCustomerUpdate, id, slack.NewTextBlockObject(slack.PlainTextType, "Customer update", false, false))
	ts, err := h.App.Deps.Slack.Post(context.Background(), "C0INCIDENTS", commands.Message{
		Text:   "Incident #" + id,
		Blocks: []slack.Block{slack.NewActionBlock("incident_actions", btn)},
	})
	require.NoError(t, err)
	return h.WaitMessage(t, func(m *slacksim.Message) bool { return m.TS == ts })
}

// chooseTemplate presses the choice's button for template name and returns
// the modal it opens.
func chooseTemplate(t *testing.T, h *apptest.Harness, user string, choice *slacksim.Message, name string) *slacksim.View {
	t.Helper()
	h.Click(t, user, choice, templates.ActionChoose+name)
	v, err := h.Sim.WaitView(10*time.Second, func(v *slacksim.View) bool {
		return v.User == user && v.CallbackID == templates.ViewFill && !v.Closed && strings.Contains(v.PrivateMetadata, `"t":"`+name+`"`)
	})
	require.NoError(t, err)
	return v
}

func viewText(v *slacksim.View) string {
	return apptest.Plain(strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(string(v.Raw)))
}

func TestCustomerUpdateFlow(t *testing.T) {
	t.Parallel()
	h := apptest.New(t, apptest.Options{})
	start := time.Date(2026, 11, 4, 10, 0, 0, 0, time.UTC)
	msg := parent(t, h, "12")
	f := &fakeIncidents{h: h, parentTS: msg.TS, inc: templates.Incident{
		ID: 12, Title: "API returning errors", Severity: "P1", Status: "resolved",
		Impact: "Query API requests failing for some customers", RootCause: "A bad deploy", Resolution: "Rolled back",
		Start: start, End: start.Add(85 * time.Minute),
	}}
	h.App.Handoffs.Templates.SetIncidents(f)

	h.Click(t, "U0ENGA", msg, templates.ActionCustomerUpdate)
	choice := h.WaitEphemeral(t, "U0ENGA", "Customer update for incident #12", "Proactive notification", "During incident", "Post-incident summary")
	require.Len(t, choice.Buttons(), 3)
	require.Empty(t, h.Ephemerals("U0ENGB"), "only the clicker sees the choice")
	fill := chooseTemplate(t, h, "U0ENGA", choice, "post-incident")
	raw := viewText(fill)
	for _, want := range []string{`"initial_value":"A bad deploy"`, `"initial_value":"2026-11-04 10:00 UTC"`, `"initial_value":"1 hour 25 minutes"`, `"initial_value":"Engineer A"`, "Customer's name"} {
		require.Contains(t, raw, want)
	}

	// A placeholder left blank is refused in the modal. (Slack's client
	// refuses an empty required input itself; blanks get past it.)
	_, err := h.Sim.SubmitView("U0ENGA", fill.ID, map[string]string{"f_customer_name": "Jane", "f_action_1": "Canary deploys", "f_action_2": "   "})
	require.NoError(t, err)
	errs, err := h.Sim.WaitView(10*time.Second, func(v *slacksim.View) bool { return v.ID == fill.ID && len(v.Errors) > 0 })
	require.NoError(t, err)
	require.Equal(t, map[string]string{"f_action_2": `Fill in "Preventive measure 2": the update must not go out with a blank.`}, errs.Errors)

	_, err = h.Sim.SubmitView("U0ENGA", fill.ID, map[string]string{"f_action_2": "Alert on error rate per deploy"})
	require.NoError(t, err)
	reply := h.WaitMessage(t, func(m *slacksim.Message) bool {
		return m.ThreadTS == msg.TS && strings.Contains(m.Text, "Customer update draft")
	})
	for _, want := range []string{
		"```\nSubject: [ContextInject] Incident Resolved — Summary\n\nHi Jane,",
		"The issue affecting query API requests failing for some customers has been resolved as of 2026-11-04 11:25 UTC.",
		"- Duration: 2026-11-04 10:00 UTC to 2026-11-04 11:25 UTC (1 hour 25 minutes)",
		"- Root cause: A bad deploy", "- Canary deploys\n- Alert on error rate per deploy", "Best,\nEngineer A\n```",
		"nothing was sent outside Slack",
	} {
		require.Contains(t, reply.Text, want)
	}
	require.NotContains(t, reply.Text, "[Name]")
	entries, err := store.ListAudit(context.Background(), h.App.DB.Pool, "incident:12", 10)
	require.NoError(t, err)
	require.Len(t, entries, 1)
	require.Equal(t, "customer_update.draft", entries[0].Action)

	// A button naming an incident that does not exist.
	gone := parent(t, h, "99")
	h.Click(t, "U0ENGB", gone, templates.ActionCustomerUpdate)
	h.WaitEphemeral(t, "U0ENGB", "Incident #99 does not exist.")
}

func TestEachTemplateRendersFromASeededIncident(t *testing.T) {
	t.Parallel()
	h := apptest.New(t, apptest.Options{})
	start := time.Date(2026, 11, 4, 11, 30, 0, 0, time.UTC)
	msg := parent(t, h, "3")
	h.App.Handoffs.Templates.SetIncidents(&fakeIncidents{h: h, parentTS: msg.TS, inc: templates.Incident{
		ID: 3, Title: "Increased latency", Severity: "P1", Status: "open",
		Impact: "Query API response times are approximately 2x normal", LatestUpdate: "Scaling the query pods", Start: start,
	}})
	seen := map[string]bool{}
	for _, tc := range []struct {
		name  string
		extra map[string]string
		want  []string
	}{
		{"proactive", nil, []string{"Subject: [ContextInject] Investigating Increased latency", "We are aware of query API response times are approximately 2x normal.", "update within 30 minutes."}},
		{"during-incident", map[string]string{"f_customer_name": "Sam"}, []string{"Subject: Re: [Support] Increased latency", "Hi Sam,", "- Scaling the query pods", "- Estimated time to resolution: by 2026-11-04 12:30 UTC", "Best,\nEngineer B"}},
	} {
		h.Click(t, "U0ENGB", msg, templates.ActionCustomerUpdate)
		choice := h.WaitMessage(t, func(m *slacksim.Message) bool {
			return m.Ephemeral && m.EphemeralTo == "U0ENGB" && strings.Contains(m.Text, "Customer update for incident #3") && !seen[m.TS]
		})
		seen[choice.TS] = true
		fill := chooseTemplate(t, h, "U0ENGB", choice, tc.name)
		_, err := h.Sim.SubmitView("U0ENGB", fill.ID, tc.extra)
		require.NoError(t, err)
		reply := h.WaitMessage(t, func(m *slacksim.Message) bool {
			return m.ThreadTS == msg.TS && strings.Contains(m.Text, tc.want[0])
		})
		for _, w := range tc.want {
			require.Contains(t, reply.Text, w, tc.name)
		}
	}
}
