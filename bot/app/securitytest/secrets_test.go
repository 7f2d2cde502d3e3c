package securitytest_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/bot/slacksim"
	"github.com/contextinject/oncallbot/commands/handoff"
	"github.com/contextinject/oncallbot/commands/swap"
	"github.com/contextinject/oncallbot/store/storetest"
)

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// failing is an HTTP server answering every request with status and body,
// counting them.
func failing(t *testing.T, status func(*http.Request) int, body string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status(r))
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// TestSecretsNeverLogged runs the bot's flows with every secret of SPEC §3
// set to a recognizable value — and with PagerDuty, GitHub and the
// diagnostics' targets failing — and checks that none of them appears in a
// log line (debug level included) or in anything shown in Slack.
func TestSecretsNeverLogged(t *testing.T) {
	t.Parallel()
	pdSrv, pdCalls := failing(t, func(r *http.Request) int {
		if r.Method == http.MethodGet {
			return http.StatusInternalServerError
		}
		return http.StatusUnauthorized
	}, `{"error":{"message":"Invalid Authentication","code":2006}}`)
	ghSrv, ghCalls := failing(t, func(*http.Request) int { return http.StatusUnauthorized },
		`{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest"}`)

	secrets := map[string]string{
		"PAGERDUTY_TOKEN":          "pdtokenSECRET1a2b3c4d",
		"PAGERDUTY_WEBHOOK_SECRET": "pdwhsecretSECRET5e6f7g",
		"WEBHOOK_TOKEN":            "amtokenSECRET8h9i0j",
		"GITHUB_TOKEN":             "ghp_SECRETgithubtoken1234",
		"diag postgres password":   "pgpassSECRETk1l2",
		"diag redis password":      "redispassSECRETm3n4",
		"database password":        "dbpassSECRETo5p6",
		"presented wrong token":    "wrongamtokenSECRETq7r8",
		"Slack app token":          slacksim.AppToken,
		"Slack bot token":          slacksim.BotToken,
	}
	diagPG := fmt.Sprintf("postgres://diag:%s@%s/monitored?sslmode=disable", secrets["diag postgres password"], closedPort(t))
	diagRedis := fmt.Sprintf("redis://:%s@%s/0", secrets["diag redis password"], closedPort(t))
	secrets["DIAG_POSTGRES_URL"], secrets["DIAG_REDIS_URL"] = diagPG, diagRedis
	dbURL, err := url.Parse(storetest.FreshURL(t))
	require.NoError(t, err)
	dbURL.User = url.UserPassword(dbURL.User.Username(), secrets["database password"])
	secrets["DATABASE_URL"] = dbURL.String()

	cfg := parse(t, teamYAML(t, `diagnostics:
  postgres: {url_env: DIAG_POSTGRES_URL}
  redis: {url_env: DIAG_REDIS_URL, queues: [ingest-document]}
  github: {repo: contextinject/context-inject}
  timeout: 2s`))
	e := start(t, options{cfg: cfg, databaseURL: dbURL.String(), env: map[string]string{
		"PAGERDUTY_TOKEN": secrets["PAGERDUTY_TOKEN"], "PAGERDUTY_API_URL": pdSrv.URL,
		"PAGERDUTY_WEBHOOK_SECRET": secrets["PAGERDUTY_WEBHOOK_SECRET"],
		"WEBHOOK_TOKEN":            secrets["WEBHOOK_TOKEN"],
		"GITHUB_TOKEN":             secrets["GITHUB_TOKEN"], "GITHUB_API_URL": ghSrv.URL + "/",
		"DIAG_POSTGRES_URL": diagPG, "DIAG_REDIS_URL": diagRedis,
	}})
	h := e.h
	base := "http://" + h.App.HTTPAddr()

	// Who is on call (PagerDuty failing: the built-in schedule answers).
	h.Slash(t, engA, chEngineering, "/oncall")
	h.WaitEphemeral(t, engA, "Primary")
	// A handoff pre-filled from (failing) GitHub.
	h.Slash(t, engA, chEngineering, "/oncall handoff")
	v := openModal(t, h, engA, handoff.ViewHandoff)
	_, err = h.Sim.SubmitView(engA, v.ID, map[string]string{"checklist": "active,alerts,changes,issues,maintenance,pagerduty,post",
		"active": "None", "recent": "None", "changes": "None", "maintenance": "None", "watch": "None"})
	require.NoError(t, err)
	h.WaitIn(t, chEngineering, "On-Call Handoff")
	// Diagnostics against unreachable targets with credentials in their
	// URLs, and GitHub refusing the token.
	h.Slash(t, engA, chEngineering, "/diag all")
	diag := h.WaitEphemeral(t, engA, "Read-only diagnostics")
	require.Contains(t, diag.Text, "PostgreSQL: failed")
	require.Contains(t, diag.Text, "Redis: failed")
	require.Contains(t, diag.Text, "Recent deploys: failed")
	// Incidents paged through (failing) PagerDuty, a triage thread with
	// failing checks.
	h.Slash(t, engB, chIncidents, "/incident P2 Checkout errors")
	h.WaitEphemeral(t, engB, "Declared *INC-1*")
	h.Slash(t, engB, chIncidents, "/triage errors")
	h.WaitEphemeral(t, engB, "Opened *INC-2*")
	h.Slash(t, engA, chIncidents, "/oncall ack INC-1")
	h.WaitEphemeral(t, engA, "Acknowledged")
	// A swap written to (failing) PagerDuty.
	h.Slash(t, engB, chEngineering, "/oncall swap <@U0ENGA>")
	invite := h.WaitIn(t, engA, "asks to swap primary on-call shifts with you")
	h.Click(t, engA, invite, swap.ActionAccept)
	h.WaitIn(t, engA, "Swap #1 is agreed")
	// Calendar feeds: their tokens are secrets too.
	h.Slash(t, engB, chEngineering, "/oncall calendar")
	paths := feedPath.FindAllString(h.WaitEphemeral(t, engB, "Your on-call calendar").Text, -1)
	require.Len(t, paths, 2)
	for _, p := range paths {
		secrets["calendar token "+p] = strings.TrimSuffix(strings.TrimPrefix(p, "/calendar/"), ".ics")
		code, _ := get(t, base+p)
		require.Equal(t, http.StatusOK, code)
	}
	// Webhooks with missing, wrong and right credentials.
	alert := alertGroup(t, "firing", map[string]string{"alertname": "HighErrorRate", "severity": "P2"}, "http://prometheus:9090/graph")
	require.Equal(t, http.StatusUnauthorized, post(t, base+"/webhooks/alertmanager", alert, nil))
	require.Equal(t, http.StatusForbidden, post(t, base+"/webhooks/alertmanager", alert, map[string]string{"Authorization": "Bearer " + secrets["presented wrong token"]}))
	require.Equal(t, http.StatusOK, post(t, base+"/webhooks/alertmanager", alert, map[string]string{"Authorization": "Bearer " + secrets["WEBHOOK_TOKEN"]}))
	ev := pdEvent(t, "Search down")
	require.Equal(t, http.StatusForbidden, post(t, base+"/webhooks/pagerduty", ev, map[string]string{"X-PagerDuty-Signature": pdSign(secrets["presented wrong token"], ev)}))
	require.Equal(t, http.StatusNoContent, post(t, base+"/webhooks/pagerduty", ev, map[string]string{"X-PagerDuty-Signature": pdSign(secrets["PAGERDUTY_WEBHOOK_SECRET"], ev)}))
	// An emergency handoff written to (failing) PagerDuty.
	h.Slash(t, engA, chEngineering, "/oncall emergency Family emergency")
	h.WaitEphemeral(t, engA, "Done:")

	// Every failure happened and was logged: PagerDuty writes refused in
	// River jobs (incident, swap), diagnostics, webhooks.
	e.log.waitMore(t, 0, "job_kind=incident_pagerduty", "Invalid Authentication")
	e.log.waitMore(t, 0, "job_kind=swap_pagerduty", "Invalid Authentication")
	require.Positive(t, pdCalls.Load(), "PagerDuty was called")
	require.Positive(t, ghCalls.Load(), "GitHub was called")
	logs := e.log.String()
	require.Contains(t, logs, "level=DEBUG", "the log ran at debug level")
	require.Contains(t, logs, "diagnostic failed")
	require.Contains(t, logs, "webhook refused")
	h.WaitMessage(t, func(m *slacksim.Message) bool {
		return m.Channel == chIncidents && strings.Contains(m.Text, "PagerDuty")
	})

	// Nothing shown anywhere holds a secret.
	var shown []string
	for _, m := range h.Sim.Messages() {
		shown = append(shown, m.AllText(), string(m.Blocks))
	}
	for _, v := range allViews(h) {
		shown = append(shown, string(v.Raw))
	}
	everything := strings.Join(shown, "\n")
	require.Contains(t, processLog.String(), "component=go-redis", "go-redis logged its failed dials")
	logs += processLog.String()
	for name, s := range secrets {
		require.NotContains(t, logs, s, "%s appears in the log", name)
		if strings.HasPrefix(name, "calendar token") {
			continue // shown to its owner on purpose
		}
		require.NotContains(t, everything, s, "%s appears in Slack", name)
	}
	t.Logf("%d log lines, %d PagerDuty and %d GitHub calls checked", strings.Count(logs, "\n"), pdCalls.Load(), ghCalls.Load())
}
