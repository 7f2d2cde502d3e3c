package monitoring_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/bot/app/apptest"
	"github.com/contextinject/oncallbot/bot/slacksim"
	"github.com/contextinject/oncallbot/commands/config"
	"github.com/contextinject/oncallbot/commands/monitoring"
	"github.com/contextinject/oncallbot/store"
)

func diskGroup(status string, alerts ...monitoring.Alert) monitoring.Group {
	return monitoring.Group{GroupKey: `{}/{severity="warning"}:{alertname="DiskAlmostFull"}`, Status: status,
		ExternalURL: "http://alertmanager:9093", GroupLabels: map[string]string{"alertname": "DiskAlmostFull"},
		CommonLabels: map[string]string{"alertname": "DiskAlmostFull", "severity": "warning"}, Alerts: alerts}
}

func disk(fp, status, instance string) monitoring.Alert {
	a := monitoring.Alert{Status: status, Fingerprint: fp, StartsAt: apptest.DefaultNow.Add(-10 * time.Minute),
		Labels:      map[string]string{"alertname": "DiskAlmostFull", "severity": "warning", "instance": instance},
		Annotations: map[string]string{"summary": "Disk 85% full on " + instance}}
	if status == monitoring.Resolved {
		a.EndsAt = apptest.DefaultNow
	}
	return a
}

// TestMonitoringAlertAcknowledgedByReaction is the runbook's #monitoring
// rule end to end through the simulated Slack.
func TestMonitoringAlertAcknowledgedByReaction(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	simOpts := apptest.SimOptions(cfg)
	simOpts.Users = append(simOpts.Users, slacksim.User{ID: "U0GUEST", Name: "guest", RealName: "Guest", TZ: "UTC"})
	sim, err := slacksim.New(simOpts)
	require.NoError(t, err)
	t.Cleanup(sim.Close)
	h := apptest.New(t, apptest.Options{Config: cfg, Sim: sim})
	ctx := context.Background()

	require.NoError(t, h.App.Monitoring.Alert(ctx, diskGroup(monitoring.Firing, disk("a1", monitoring.Firing, "db-1"))))
	msg := h.WaitIn(t, "C0MONITORING", "[FIRING:1] DiskAlmostFull", "react with :white_check_mark: to acknowledge")
	ts := msg.TS
	in := func(parts ...string) *slacksim.Message {
		t.Helper()
		return h.WaitMessage(t, func(m *slacksim.Message) bool {
			text := apptest.Plain(m.AllText())
			for _, p := range parts {
				if !strings.Contains(text, p) {
					return false
				}
			}
			return m.TS == ts
		})
	}

	require.NoError(t, h.App.Monitoring.Alert(ctx, diskGroup(monitoring.Firing, disk("a1", monitoring.Firing, "db-1"), disk("a2", monitoring.Firing, "db-2"))))
	in("[FIRING:2] DiskAlmostFull", "instance=db-2")

	id, err := sim.React("U0ENGA", "C0MONITORING", ts, "white_check_mark", true)
	require.NoError(t, err)
	m := in("Acknowledged by Engineer A", "at Wed 4 Nov 2026 12:00 UTC")
	require.Equal(t, "[FIRING:2] DiskAlmostFull — acknowledged by Engineer A", m.Text)
	require.NoError(t, sim.Redeliver(id))

	// Others, other emoji: nothing changes.
	_, err = sim.React("U0GUEST", "C0MONITORING", ts, "white_check_mark", true)
	require.NoError(t, err)
	_, err = sim.React("U0ENGB", "C0MONITORING", ts, "eyes", true)
	require.NoError(t, err)

	h.Clock.Advance(20 * time.Minute)
	require.NoError(t, h.App.Monitoring.Alert(ctx, diskGroup(monitoring.Resolved, disk("a1", monitoring.Resolved, "db-1"), disk("a2", monitoring.Resolved, "db-2"))))
	in("[RESOLVED] DiskAlmostFull", "Acknowledged by Engineer A")

	_, err = sim.React("U0ENGA", "C0MONITORING", ts, "white_check_mark", false)
	require.NoError(t, err)
	m = in("[RESOLVED] DiskAlmostFull", "Not acknowledged")
	require.Equal(t, "[RESOLVED] DiskAlmostFull", m.Text)

	_, err = sim.React("U0LEAD", "C0MONITORING", ts, "white_check_mark", true)
	require.NoError(t, err)
	in("Acknowledged by Engineering Lead", "at Wed 4 Nov 2026 12:20 UTC")

	// One message for the group, edited in place; the ack history is audited.
	var posted int
	for _, mm := range sim.Messages() {
		if mm.Channel == "C0MONITORING" {
			posted++
		}
	}
	require.Equal(t, 1, posted)
	rows, err := store.ListAudit(ctx, h.App.DB.Pool, "", 50)
	require.NoError(t, err)
	var acks []string
	for _, r := range rows {
		if strings.HasPrefix(r.Action, "monitoring.") && r.Actor != "alertmanager" {
			acks = append(acks, r.Actor+" "+r.Action)
		}
	}
	require.Equal(t, []string{"U0LEAD monitoring.ack", "U0ENGA monitoring.unack", "U0ENGA monitoring.ack"}, acks)
}
