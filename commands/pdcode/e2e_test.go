package pdcode_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/bot/app/apptest"
	"github.com/contextinject/oncallbot/bot/slacksim"
	"github.com/contextinject/oncallbot/integrations/pagerduty/pagerdutytest"
)

// TestDriftReportedAtStart: the bot checks PagerDuty when it starts and
// reports drift in #monitoring and in /readyz details.
func TestDriftReportedAtStart(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := b.fake.Policy("PPOLICY")
	rules(p)[2].(map[string]any)["escalation_delay_in_minutes"] = 45
	b.fake.SetPolicy("PPOLICY", p)

	h := apptest.New(t, apptest.Options{Env: map[string]string{"PAGERDUTY_TOKEN": pagerdutytest.AsCodeToken, "PAGERDUTY_API_URL": b.fake.URL()}})
	h.WaitIn(t, "C0MONITORING", "PagerDuty drifted from the configuration", "rule 3 escalation_delay_in_minutes: PagerDuty has 45; the configuration wants 15")

	resp, err := http.Get("http://" + h.App.HTTPAddr() + "/readyz")
	require.NoError(t, err)
	defer resp.Body.Close()
	var body struct {
		Checks map[string]string `json:"checks"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	require.Contains(t, body.Checks["pagerduty_drift"], "1 difference")
	require.Contains(t, body.Checks["pagerduty_drift"], "rule 3 escalation_delay_in_minutes")

	// Checking again reports nothing new.
	hook := h.App.Hooks["pagerduty-drift"]
	require.NotNil(t, hook)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, hook(ctx))
	count := func() int {
		n := 0
		for _, m := range h.Sim.Messages() {
			if m.Channel == "C0MONITORING" && strings.Contains(m.Text, "PagerDuty") {
				n++
			}
		}
		return n
	}
	require.Equal(t, 1, count())

	// Fixed in PagerDuty: the next check says so, once.
	p = b.fake.Policy("PPOLICY")
	rules(p)[2].(map[string]any)["escalation_delay_in_minutes"] = 15
	b.fake.SetPolicy("PPOLICY", p)
	require.NoError(t, hook(ctx))
	h.WaitMessage(t, func(m *slacksim.Message) bool {
		return m.Channel == "C0MONITORING" && strings.Contains(m.Text, "PagerDuty matches the configuration again")
	})
	require.NoError(t, hook(ctx))
	require.Equal(t, 2, count())
	require.Empty(t, b.fake.Writes(), "the drift check never writes to PagerDuty")
}
