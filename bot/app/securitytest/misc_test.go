package securitytest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/bot/slacksim"
	"github.com/contextinject/oncallbot/commands/monitoring"
	"github.com/contextinject/oncallbot/commands/triage"
)

// unchanged runs do as actor, waits with wait for the sign that it was
// handled, and checks that nothing changed (for events that get no answer,
// such as reactions).
func (e *env) unchanged(t *testing.T, actor string, do, wait func(*testing.T)) {
	t.Helper()
	e.settle(t)
	before := e.snapshot(t, actor)
	do(t)
	wait(t)
	e.settle(t) // anything the event set off has happened
	after := e.snapshot(t, actor)
	require.Equal(t, before, after, "%s: an ignored event changed something", actor)
}

// get fetches url and returns its status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// post sends body to url with headers and returns its status.
func post(t *testing.T, url string, body []byte, headers map[string]string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// alertGroup is an Alertmanager v4 payload with one alert.
func alertGroup(t *testing.T, status string, labels map[string]string, generatorURL string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"version": "4", "groupKey": `{}:{alertname="` + labels["alertname"] + `"}`, "status": status, "receiver": "oncall-bot",
		"groupLabels": map[string]string{"alertname": labels["alertname"]}, "commonLabels": labels, "commonAnnotations": map[string]string{"summary": "something is off"},
		"externalURL": generatorURL, "truncatedAlerts": 0,
		"alerts": []any{map[string]any{"status": status, "labels": labels, "annotations": map[string]string{"summary": "something is off"},
			"startsAt": "2026-11-04T11:58:00Z", "endsAt": "0001-01-01T00:00:00Z", "generatorURL": generatorURL, "fingerprint": "f1" + labels["alertname"]}},
	})
	require.NoError(t, err)
	return b
}

// feedPath finds feed links; the configuration's public_url is not where
// the test server listens, so tests fetch the path from the bot's address.
var feedPath = regexp.MustCompile(`/calendar/[A-Za-z0-9_-]+\.ics`)

// TestCalendarMonitoringTriageMatrix: /oncall calendar [reset], the ✅
// reaction on a #monitoring alert, /triage and its Done and Re-run buttons,
// /diag. Only people of the configuration.
func TestCalendarMonitoringTriageMatrix(t *testing.T) {
	t.Parallel()
	const webhookToken = "matrix-webhook-token"
	e := start(t, options{env: map[string]string{"WEBHOOK_TOKEN": webhookToken}})
	h := e.h
	base := "http://" + h.App.HTTPAddr()

	// Calendar feeds.
	for _, line := range []string{"/oncall calendar", "/oncall calendar reset"} {
		t.Run(line+" by outsider", func(t *testing.T) {
			e.refused(t, outsider, e.slash(outsider, chEngineering, line), "Calendar feeds are for the people of the on-call configuration")
		})
	}
	e.allowed(t, engB, "calendar.token.issue", e.slash(engB, chEngineering, "/oncall calendar"))
	first := feedPath.FindAllString(h.WaitEphemeral(t, engB, "Your on-call calendar").Text, -1)
	require.Len(t, first, 2, "a personal and a team feed")
	// Nobody resets someone else's links.
	for _, actor := range []string{lead, outsider} {
		t.Run("reset B's links by "+actor, func(t *testing.T) {
			e.refused(t, actor, e.slash(actor, chEngineering, "/oncall calendar reset <@U0ENGB>"), "`/oncall calendar` takes nothing or `reset`")
		})
	}
	for _, u := range first {
		code, _ := get(t, base+u)
		require.Equal(t, http.StatusOK, code)
	}
	e.allowed(t, engB, "calendar.token.revoke", e.slash(engB, chEngineering, "/oncall calendar reset"))
	second := feedPath.FindAllString(h.WaitEphemeral(t, engB, "every calendar link you had is revoked").Text, -1)
	require.Len(t, second, 2)
	for _, u := range first {
		code, body := get(t, base+u)
		require.Equal(t, http.StatusNotFound, code, "a revoked link")
		require.Empty(t, body)
	}
	for _, u := range second {
		code, _ := get(t, base+u)
		require.Equal(t, http.StatusOK, code)
	}

	// The ✅ on a #monitoring alert: acknowledged by people of the
	// configuration only; anyone else's reaction is ignored.
	require.Equal(t, http.StatusOK, post(t, base+"/webhooks/alertmanager",
		alertGroup(t, "firing", map[string]string{"alertname": "DiskSlow", "severity": "warning"}, "http://prometheus:9090/graph"),
		map[string]string{"Authorization": "Bearer " + webhookToken}))
	alert := h.WaitIn(t, chMonitoring, "DiskSlow")
	for _, add := range []bool{true, false} {
		t.Run(map[bool]string{true: "outsider adds the reaction", false: "outsider removes the reaction"}[add], func(t *testing.T) {
			ignored := []string{"reaction by someone outside the configuration ignored", "user_id=" + outsider}
			n := e.log.count(ignored...)
			e.unchanged(t, outsider, func(t *testing.T) {
				_, err := h.Sim.React(outsider, chMonitoring, alert.TS, monitoring.AckEmoji, add)
				require.NoError(t, err)
			}, func(t *testing.T) { e.log.waitMore(t, n, ignored...) })
		})
	}
	e.allowed(t, engB, "monitoring.ack", func(t *testing.T) {
		_, err := h.Sim.React(engB, chMonitoring, alert.TS, monitoring.AckEmoji, true)
		require.NoError(t, err)
	})

	// Triage.
	e.refused(t, outsider, e.slash(outsider, chIncidents, "/triage queue-depth"),
		"Only people of the on-call configuration can open incidents. Ask an admin to add you.")
	e.refused(t, outsider, e.slash(outsider, chIncidents, "/diag queue"), "Only people of the on-call configuration can run diagnostics.")
	require.Zero(t, query[int](t, e, `SELECT count(*) FROM incidents`))
	e.allowed(t, engB, "incident.open", e.slash(engB, chIncidents, "/triage queue-depth P3 ingest backlog"))
	step := h.WaitMessage(t, func(m *slacksim.Message) bool {
		return m.Channel == chIncidents && m.ThreadTS != "" && strings.Contains(m.AllText(), "*Step 1/4")
	})
	for _, c := range []struct {
		name string
		do   func(*testing.T)
		want string
	}{
		{"Done by outsider", e.click(outsider, step, triage.ActionDone), "Only people of the on-call configuration can tick off triage steps."},
		{"Re-run by outsider", e.click(outsider, step, triage.ActionRerun), "Only people of the on-call configuration can re-run triage diagnostics."},
		{"Done of no step", e.forgeAction(engA, step.Channel, step.TS, triage.ActionDone, "", "999:0"), "I no longer know that triage step."},
		{"Done with SQL in the value", e.forgeAction(engA, step.Channel, step.TS, triage.ActionDone, "", "1:0; DROP TABLE triage_steps"), "That button is not one of mine anymore."},
		{"Re-run with SQL in the value", e.forgeAction(engA, step.Channel, step.TS, triage.ActionRerun, "", "1' OR '1'='1:0"), "That button is not one of mine anymore."},
	} {
		t.Run(c.name, func(t *testing.T) { e.refused(t, actorOf(c.name), c.do, c.want) })
	}
	e.allowed(t, engC, "triage.step_done", e.click(engC, step, triage.ActionDone))
	e.allowed(t, engA, "triage.rerun", e.click(engA, step, triage.ActionRerun))
	require.Equal(t, engC, query[string](t, e, `SELECT done_by FROM triage_steps WHERE incident_id = 1 AND step = 0`))
}

// actorOf returns who acts in a case named "… by outsider" (else Engineer A).
func actorOf(name string) string {
	if strings.HasSuffix(name, "by outsider") {
		return outsider
	}
	return engA
}
