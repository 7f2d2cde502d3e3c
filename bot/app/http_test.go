package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/bot/app/apptest"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func TestHealthReadinessAndMetrics(t *testing.T) {
	t.Parallel()
	h := apptest.New(t, apptest.Options{})
	base := "http://" + h.App.HTTPAddr()

	code, body := get(t, base+"/healthz")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "ok\n", body)

	code, body = get(t, base+"/readyz")
	require.Equal(t, http.StatusOK, code, body)
	var ready struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &ready))
	require.Equal(t, "ready", ready.Status)
	require.Equal(t, "up", ready.Checks["slack"])
	require.Equal(t, "up", ready.Checks["postgres"])

	h.Slash(t, "U0ENGA", "C0INCIDENTS", "/oncall")
	h.WaitEphemeral(t, "U0ENGA", "On call now")
	code, body = get(t, base+"/metrics")
	require.Equal(t, http.StatusOK, code)
	for _, want := range []string{
		`oncallbot_envelopes_total{type="slash_commands"} 1`,
		"oncallbot_ack_seconds_bucket",
		`oncallbot_api_calls_total{api="slack",method="apps.connections.open",outcome="ok"}`,
		"oncallbot_slack_connected 1",
	} {
		require.True(t, strings.Contains(body, want), "metrics lack %s", want)
	}

	// Slack gone: readiness degrades, naming the dependency.
	h.Sim.Close()
	require.Eventually(t, func() bool {
		code, body = get(t, base+"/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, `"slack":"down`)
	}, 40e9, 50e6)
}
