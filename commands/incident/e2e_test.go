package incident_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/bot/app/apptest"
	"github.com/contextinject/oncallbot/bot/slacksim"
	"github.com/contextinject/oncallbot/commands/config"
)

// shortConfig is the built-in configuration with escalation steps `after`
// apart (the CTO step keeps after: 0m), so the whole chain runs in seconds.
func shortConfig(t *testing.T, after string) *config.Config {
	t.Helper()
	y := strings.ReplaceAll(string(config.DefaultYAML()), "after: 15m", "after: "+after)
	cfg, err := config.Parse("short", []byte(y))
	require.NoError(t, err)
	return cfg
}

// pages returns the page DMs user received (a page DM's fallback text reads
// "You are paged: INC-…" and, once updated, "INC-… · P2 · …: acknowledged …").
func pages(h *apptest.Harness, user string) []*slacksim.Message {
	var out []*slacksim.Message
	for _, m := range h.Sim.Messages() {
		if m.DMTo != user || m.Ephemeral {
			continue
		}
		if strings.HasPrefix(m.Text, "You are paged: INC-") || (strings.HasPrefix(m.Text, "INC-") && strings.Contains(m.Text, " · ")) {
			out = append(out, m)
		}
	}
	return out
}

func threadEntries(h *apptest.Harness, parts ...string) int {
	n := 0
	for _, m := range h.Sim.Messages() {
		if m.Channel == "C0INCIDENTS" && m.ThreadTS != "" && containsAll(m.Text, parts) {
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

// waitUpdated waits for message ts to show every part.
func waitUpdated(t *testing.T, h *apptest.Harness, ts string, parts ...string) *slacksim.Message {
	t.Helper()
	return h.WaitMessage(t, func(m *slacksim.Message) bool { return m.TS == ts && containsAll(apptest.Plain(m.AllText()), parts) })
}

// stepJobDone waits until River finished the job of step (loop, step).
func stepJobDone(t *testing.T, h *apptest.Harness, loop, step int) {
	t.Helper()
	require.Eventually(t, func() bool {
		var n int
		err := h.App.DB.Pool.QueryRow(context.Background(), `SELECT count(*) FROM river_job WHERE kind = 'incident_step'
			AND (args->>'loop')::int = $1 AND (args->>'step')::int = $2 AND state = 'completed'`, loop, step).Scan(&n)
		return err == nil && n == 1
	}, 15*time.Second, 20*time.Millisecond, "job of step %d/%d", loop, step)
}

// TestIncidentStory: /incident P2 pages the primary, escalates to the
// secondary, whose Acknowledge in the DM stops the chain; the parent, every
// DM and the App Home say who acknowledged.
func TestIncidentStory(t *testing.T) {
	t.Parallel()
	h := apptest.New(t, apptest.Options{Config: shortConfig(t, "1s")})
	h.Slash(t, "U0ENGA", "C0INCIDENTS", "/incident P2 Checkout errors")
	h.WaitEphemeral(t, "U0ENGA", "Declared *INC-1* (P2, Checkout errors)")
	parent := h.WaitIn(t, "C0INCIDENTS", "INC-1 · P2 · Checkout errors", "Acknowledge", "Escalate", "Customer update", "Take command")
	dmA := h.WaitIn(t, "U0ENGA", "You are paged: INC-1 · P2 · Checkout errors")
	require.Equal(t, "incident.ack", dmA.Buttons()[0].ActionID)
	h.WaitMessage(t, func(m *slacksim.Message) bool {
		return m.ThreadTS == parent.TS && strings.Contains(m.Text, "Paging Engineer A (<@U0ENGA>) (step 1 of 4, loop 1 of 2)")
	})
	dmB := h.WaitIn(t, "U0ENGB", "You are paged: INC-1")
	h.Click(t, "U0ENGB", dmB, "incident.ack")

	waitUpdated(t, h, parent.TS, "Acknowledged by Engineer B", "Incident commander", "Engineer B (<@U0ENGB>)", "escalation: stopped")
	a := waitUpdated(t, h, dmA.TS, "Acknowledged by Engineer B")
	require.Empty(t, a.Buttons(), "the stale Acknowledge button is gone")
	b := waitUpdated(t, h, dmB.TS, "Acknowledged by Engineer B")
	require.Empty(t, b.Buttons())
	_, err := h.Sim.WaitView(10*time.Second, func(v *slacksim.View) bool {
		return v.User == "U0ENGA" && v.Type == "home" && strings.Contains(string(v.Raw), "acknowledged, IC Engineer B")
	})
	require.NoError(t, err)

	// The step that would have paged the lead ran and did nothing.
	stepJobDone(t, h, 0, 2)
	require.Empty(t, pages(h, "U0LEAD"))
	require.Equal(t, 1, threadEntries(h, "Acknowledged by Engineer B"))

	// A second Acknowledge (stale button on the first DM's old copy) is refused politely.
	h.Slash(t, "U0ENGA", "C0INCIDENTS", "/oncall ack INC-1")
	h.WaitEphemeral(t, "U0ENGA", "INC-1 was already acknowledged by Engineer B")
	h.Slash(t, "U0ENGA", "C0INCIDENTS", "/oncall ack")
	h.WaitEphemeral(t, "U0ENGA", "You have no open pages to acknowledge.")
	h.Slash(t, "U0ENGA", "C0INCIDENTS", "/incident P9 nope")
	h.WaitEphemeral(t, "U0ENGA", "`P9` is not a severity", "Usage")
	h.Slash(t, "U0ENGA", "C0INCIDENTS", "/incident list")
	h.WaitEphemeral(t, "U0ENGA", "Open incidents (1)", "INC-1")

	// Resolve through the modal.
	h.Click(t, "U0ENGB", parent, "incident.resolve")
	v, err := h.Sim.WaitView(10*time.Second, func(v *slacksim.View) bool {
		return v.User == "U0ENGB" && v.CallbackID == "incident.resolve" && !v.Closed
	})
	require.NoError(t, err)
	_, err = h.Sim.SubmitView("U0ENGB", v.ID, map[string]string{"root_cause": "bad deploy", "resolution": "rolled back"})
	require.NoError(t, err)
	final := waitUpdated(t, h, parent.TS, "Resolved by Engineer B", "Root cause:", "bad deploy")
	for _, btn := range final.Buttons() {
		require.Equal(t, "incident.customer_update", btn.ActionID, "only Customer update stays on a resolved incident")
	}
	h.Click(t, "U0ENGA", parent, "incident.customer_update") // another feature's handler; must not break anything
}

// TestTwoReplicasFireEveryStepOnce runs the whole chain (two loops) on two
// bots sharing one database and one Slack.
func TestTwoReplicasFireEveryStepOnce(t *testing.T) {
	t.Parallel()
	cfg := shortConfig(t, "1s")
	first := apptest.New(t, apptest.Options{Config: cfg})
	second := apptest.New(t, apptest.Options{Config: cfg, DatabaseURL: first.DBURL, Sim: first.Sim})
	_ = second
	first.Slash(t, "U0ENGA", "C0INCIDENTS", "/incident P1 API down")
	first.WaitEphemeral(t, "U0ENGA", "Declared *INC-1*")
	require.Eventually(t, func() bool { return len(pages(first, "U0CTO")) >= 3 }, 30*time.Second, 20*time.Millisecond,
		"the CTO is paged by the broadcast and twice by the chain")
	stepJobDone(t, first, 1, 3)
	// P1 broadcast (CTO, A, B) once, then every step of both loops once.
	require.Len(t, pages(first, "U0ENGA"), 3, "broadcast + primary twice")
	require.Len(t, pages(first, "U0ENGB"), 3, "broadcast + secondary twice")
	require.Len(t, pages(first, "U0LEAD"), 2)
	require.Len(t, pages(first, "U0CTO"), 3)
	require.Equal(t, 8, threadEntries(first, "Paging"))
	require.Equal(t, 1, threadEntries(first, "P1 broadcast"))
	var n int
	require.NoError(t, first.App.DB.Pool.QueryRow(context.Background(), `SELECT count(*) FROM incident_pages`).Scan(&n))
	require.Equal(t, 9, n)
}

// TestRestartBetweenSteps stops the bot after the first step and starts a
// new one on the same database: the next step fires once, on the new bot.
func TestRestartBetweenSteps(t *testing.T) {
	t.Parallel()
	cfg := shortConfig(t, "2s")
	first := apptest.New(t, apptest.Options{Config: cfg})
	first.Slash(t, "U0ENGA", "C0INCIDENTS", "/incident P2 Checkout errors")
	first.WaitIn(t, "U0ENGA", "You are paged: INC-1")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, first.App.Stop(ctx))

	second := apptest.New(t, apptest.Options{Config: cfg, DatabaseURL: first.DBURL, Sim: first.Sim})
	dmB := second.WaitIn(t, "U0ENGB", "You are paged: INC-1")
	second.Click(t, "U0ENGB", dmB, "incident.ack")
	waitUpdated(t, second, dmB.TS, "Acknowledged by Engineer B")
	stepJobDone(t, second, 0, 2)
	require.Len(t, pages(second, "U0ENGA"), 1)
	require.Len(t, pages(second, "U0ENGB"), 1)
	require.Empty(t, pages(second, "U0LEAD"))
}

// TestSimultaneousAcknowledgeClicks: two people click Acknowledge on the
// parent at once; one acknowledgement, the other is told who was first.
func TestSimultaneousAcknowledgeClicks(t *testing.T) {
	t.Parallel()
	h := apptest.New(t, apptest.Options{Config: shortConfig(t, "10m")})
	h.Slash(t, "U0ENGA", "C0INCIDENTS", "/incident P2 Checkout errors")
	parent := h.WaitIn(t, "C0INCIDENTS", "INC-1 · P2", "Acknowledge")
	var wg sync.WaitGroup
	for _, u := range []string{"U0ENGA", "U0ENGB"} {
		wg.Go(func() { h.Click(t, u, parent, "incident.ack") })
	}
	wg.Wait()
	h.WaitMessage(t, func(m *slacksim.Message) bool {
		return m.Ephemeral && strings.Contains(m.Text, "INC-1 was already acknowledged by")
	})
	waitUpdated(t, h, parent.TS, "Acknowledged by")
	require.Equal(t, 1, threadEntries(h, "Acknowledged by"))
}

// TestAlertmanagerEndToEnd posts to the running bot's HTTP server.
func TestAlertmanagerEndToEnd(t *testing.T) {
	t.Parallel()
	h := apptest.New(t, apptest.Options{Config: shortConfig(t, "10m"), Env: map[string]string{"WEBHOOK_TOKEN": "tok"}})
	body := []byte(`{"version":"4","groupKey":"{}:{alertname=\"HighErrorRate\"}","status":"firing","receiver":"bot","groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://am",
	 "alerts":[{"status":"firing","labels":{"alertname":"HighErrorRate","severity":"P2"},"annotations":{"summary":"5xx > 5%"},"startsAt":"2026-11-04T11:58:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prom/graph","fingerprint":"fp1"}]}`)
	post := func(auth string, b []byte) int {
		req, err := http.NewRequest(http.MethodPost, "http://"+h.App.HTTPAddr()+"/webhooks/alertmanager", bytes.NewReader(b))
		require.NoError(t, err)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusUnauthorized, post("", body))
	require.Equal(t, http.StatusForbidden, post("Bearer nope", body))
	require.Equal(t, http.StatusOK, post("Bearer tok", body))
	require.Equal(t, http.StatusOK, post("Bearer tok", body))
	h.WaitIn(t, "C0INCIDENTS", "INC-1 · P2 · HighErrorRate: 5xx &gt; 5%")
	h.WaitIn(t, "U0ENGA", "You are paged: INC-1")
	resolved := bytes.ReplaceAll(body, []byte(`"firing"`), []byte(`"resolved"`))
	require.Equal(t, http.StatusOK, post("Bearer tok", resolved))
	h.WaitMessage(t, func(m *slacksim.Message) bool {
		return strings.Contains(m.Text, "Alertmanager reports the alert resolved")
	})
	for _, m := range h.Sim.Messages() {
		require.NotContains(t, m.Text, "INC-2", "a repeat opens no second incident")
	}
}
