package app_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/bot/app/apptest"
	"github.com/contextinject/oncallbot/bot/slacksim"
)

func TestOncallWhoAtFixedInstant(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name               string
		now                time.Time
		primary, secondary string
		until              string
	}{
		{"shift 0", time.Date(2026, 11, 4, 12, 0, 0, 0, time.UTC), "Engineer A", "Engineer B", "Mon 9 Nov 2026 09:00 UTC"},
		{"last second of shift 0", time.Date(2026, 11, 9, 8, 59, 59, 0, time.UTC), "Engineer A", "Engineer B", "Mon 9 Nov 2026 09:00 UTC"},
		{"first second of shift 1", time.Date(2026, 11, 9, 9, 0, 0, 0, time.UTC), "Engineer B", "Engineer A", "Mon 16 Nov 2026 09:00 UTC"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := apptest.New(t, apptest.Options{Now: tc.now})
			h.Slash(t, "U0ENGA", "C0INCIDENTS", "/oncall")
			m := h.WaitEphemeral(t, "U0ENGA", "On call now")
			text := m.AllText()
			require.Contains(t, text, "Primary: "+tc.primary)
			require.Contains(t, text, "Secondary: "+tc.secondary)
			require.Contains(t, text, "Engineering Lead")
			require.Contains(t, text, "CTO")
			require.Contains(t, text, tc.until)
		})
	}
}

func TestOncallScheduleAndBadInput(t *testing.T) {
	t.Parallel()
	h := apptest.New(t, apptest.Options{})
	h.Slash(t, "U0ENGB", "C0ENGINEERING", "/oncall schedule 4")
	m := h.WaitEphemeral(t, "U0ENGB", "Next 4 shifts")
	lines := strings.Count(m.Text, "• ")
	require.Equal(t, 4, lines, m.Text)
	require.Contains(t, m.Text, "Mon 2 Nov 2026 09:00 UTC")
	require.Contains(t, apptest.Plain(m.Text), "Mon 23 Nov 2026 09:00 UTC → Mon 30 Nov 2026 09:00 UTC: primary Engineer B, secondary Engineer A")

	for _, bad := range []string{"/oncall schedule zero", "/oncall schedule 0", "/oncall schedule 99", "/oncall frobnicate", "/oncall who now"} {
		h.Slash(t, "U0ENGB", "C0ENGINEERING", bad)
	}
	h.WaitEphemeral(t, "U0ENGB", "`zero` is not a number of shifts")
	h.WaitEphemeral(t, "U0ENGB", "`0` is not a number of shifts")
	h.WaitEphemeral(t, "U0ENGB", "`99` is not a number of shifts")
	h.WaitEphemeral(t, "U0ENGB", "I don't know `/oncall frobnicate`", "/oncall schedule [N]")
	h.WaitEphemeral(t, "U0ENGB", "`/oncall who` takes no arguments")
	// Nothing was posted anywhere but to the caller.
	for _, msg := range h.Sim.Messages() {
		require.True(t, msg.Ephemeral, "unexpected public message %q", msg.Text)
	}
}

func TestRedeliveredEnvelopeAnsweredOnce(t *testing.T) {
	t.Parallel()
	for _, noRedis := range []bool{false, true} {
		h := apptest.New(t, apptest.Options{NoRedis: noRedis})
		id := h.Slash(t, "U0ENGA", "C0INCIDENTS", "/oncall")
		h.WaitEphemeral(t, "U0ENGA", "On call now")
		require.NoError(t, h.Sim.Redeliver(id))
		_, err := h.Sim.WaitAck(id, 5*time.Second)
		require.NoError(t, err)
		// Acked again; a second, different command is answered — and by the
		// time it is, the redelivery has been handled (and dropped).
		h.Slash(t, "U0ENGA", "C0INCIDENTS", "/oncall schedule 1")
		h.WaitEphemeral(t, "U0ENGA", "Next 1 shifts")
		require.Eventually(t, func() bool { return len(h.Sim.Acks(id)) == 2 }, 5*time.Second, 10*time.Millisecond)
		n := 0
		for _, m := range h.Ephemerals("U0ENGA") {
			if strings.Contains(m.Text, "On call now") {
				n++
			}
		}
		require.Equal(t, 1, n, "redis=%v: the redelivered envelope was answered again", !noRedis)
	}
}

func TestReconnectAfterDisconnectAndDrop(t *testing.T) {
	t.Parallel()
	h := apptest.New(t, apptest.Options{})
	h.Sim.Disconnect("refresh_requested")
	require.Eventually(t, func() bool { return h.Sim.Connections() >= 2 }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, h.App.WaitConnected(10*time.Second))
	h.Slash(t, "U0ENGA", "C0INCIDENTS", "/oncall who")
	h.WaitEphemeral(t, "U0ENGA", "On call now")

	h.Sim.DropConnection()
	require.Eventually(t, func() bool { return h.Sim.Connections() >= 3 }, 10*time.Second, 10*time.Millisecond)
	h.Slash(t, "U0ENGB", "C0INCIDENTS", "/oncall schedule 2")
	h.WaitEphemeral(t, "U0ENGB", "Next 2 shifts")
}

var _ = slacksim.AppToken
