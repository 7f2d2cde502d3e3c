package app_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/bot/app/apptest"
	"github.com/contextinject/oncallbot/commands"
	"github.com/contextinject/oncallbot/store/storetest"
)

// TestPostgresGoneWhileRunning stops the bot's own PostgreSQL under it: the
// bot keeps answering /oncall from the rotation formula with a note, /readyz
// degrades naming PostgreSQL, and everything recovers when it comes back.
func TestPostgresGoneWhileRunning(t *testing.T) {
	t.Parallel()
	srv := storetest.NewServer(t)
	h := apptest.New(t, apptest.Options{DatabaseURL: srv.URL("oncallbot")})
	base := "http://" + h.App.HTTPAddr()

	h.Slash(t, "U0ENGA", "C0INCIDENTS", "/oncall")
	h.WaitEphemeral(t, "U0ENGA", "On call now")

	srv.Stop(t)
	require.Eventually(t, func() bool {
		code, body := get(t, base+"/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, `"postgres":"down`)
	}, 20*time.Second, 50*time.Millisecond)

	h.Slash(t, "U0ENGB", "C0INCIDENTS", "/oncall")
	m := h.WaitEphemeral(t, "U0ENGB", "On call now", "Primary: Engineer A")
	require.Contains(t, m.Text, "database unreachable")

	// A state change cannot be saved: the caller is told, nothing is posted.
	h.Slash(t, "U0ENGA", "C0INCIDENTS", "/incident P3 declared during the outage")
	h.WaitEphemeral(t, "U0ENGA", "Something went wrong")
	for _, msg := range h.Sim.Messages() {
		require.False(t, !msg.Ephemeral && strings.Contains(msg.Text, "during the outage"), "nothing announced that was not saved")
	}

	srv.Start(t)
	require.Eventually(t, func() bool {
		code, _ := get(t, base+"/readyz")
		return code == http.StatusOK
	}, 20*time.Second, 50*time.Millisecond)
	h.Slash(t, "U0LEAD", "C0INCIDENTS", "/oncall")
	m = h.WaitEphemeral(t, "U0LEAD", "On call now")
	require.NotContains(t, m.Text, "database unreachable")

	// Work resumes: an incident declared now is saved, posted and paged.
	h.Slash(t, "U0ENGA", "C0INCIDENTS", "/incident P2 declared after recovery")
	h.WaitIn(t, "C0INCIDENTS", "declared after recovery")
	h.WaitIn(t, "U0ENGA", "You are paged", "declared after recovery")
}

// TestRedisDownFallsBackToPostgres runs on PostgreSQL alone when Redis is
// unreachable at start: one warning, and de-duplication still holds.
func TestRedisDownFallsBackToPostgres(t *testing.T) {
	t.Parallel()
	h := apptest.New(t, apptest.Options{NoRedis: true})
	id := h.Slash(t, "U0ENGA", "C0INCIDENTS", "/oncall")
	h.WaitEphemeral(t, "U0ENGA", "On call now")
	require.NoError(t, h.Sim.Redeliver(id))
	h.Slash(t, "U0ENGA", "C0INCIDENTS", "/oncall schedule 1")
	h.WaitEphemeral(t, "U0ENGA", "Next 1 shifts")
	n := 0
	for _, m := range h.Ephemerals("U0ENGA") {
		if strings.Contains(m.Text, "On call now") {
			n++
		}
	}
	require.Equal(t, 1, n)
}

// TestSlackRateLimitRetried answers through chat.postEphemeral after a 429
// with Retry-After: the answer arrives once.
func TestSlackRateLimitRetried(t *testing.T) {
	t.Parallel()
	h := apptest.New(t, apptest.Options{})
	h.Sim.FailNext("chat.postMessage", 1, http.StatusTooManyRequests, 1, "ratelimited")
	_, err := h.App.Deps.Slack.Post(t.Context(), "C0ENGINEERING", msg("hello after a 429"))
	require.NoError(t, err)
	n := 0
	for _, m := range h.Sim.Messages() {
		if m.Text == "hello after a 429" {
			n++
		}
	}
	require.Equal(t, 1, n)
	calls := h.Sim.Calls("chat.postMessage")
	require.GreaterOrEqual(t, len(calls), 2)

	h.Sim.FailNext("chat.postMessage", 1, http.StatusInternalServerError, 0, "internal_error")
	_, err = h.App.Deps.Slack.Post(t.Context(), "C0ENGINEERING", msg("hello after a 500"))
	require.NoError(t, err)
}

func msg(text string) commands.Message { return commands.Message{Text: text} }

// TestDisconnectStorm sends a command, then a storm of disconnects and
// dropped sockets, redelivering the command across them: it is answered
// once, and the bot serves after the storm.
func TestDisconnectStorm(t *testing.T) {
	t.Parallel()
	h := apptest.New(t, apptest.Options{})
	id := h.Slash(t, "U0ENGA", "C0INCIDENTS", "/oncall")
	for i := range 6 {
		before := h.Sim.Connections()
		if i%2 == 0 {
			h.Sim.Disconnect("refresh_requested")
		} else {
			h.Sim.DropConnection()
		}
		require.Eventually(t, func() bool { return h.Sim.Connections() > before }, 15*time.Second, 5*time.Millisecond)
		require.NoError(t, h.Sim.Redeliver(id))
	}
	require.NoError(t, h.App.WaitConnected(10*time.Second))
	h.Slash(t, "U0ENGB", "C0INCIDENTS", "/oncall schedule 1")
	h.WaitEphemeral(t, "U0ENGB", "Next 1 shifts")
	// An ack written as its socket closes is lost, as on Slack, which then
	// delivers again: the delivery on the calm connection is acked.
	acked := len(h.Sim.Acks(id))
	require.NoError(t, h.Sim.Redeliver(id))
	require.Eventually(t, func() bool { return len(h.Sim.Acks(id)) > acked }, 10*time.Second, 10*time.Millisecond, "the last delivery is acked")
	n := 0
	for _, m := range h.Ephemerals("U0ENGA") {
		if strings.Contains(m.Text, "On call now") {
			n++
		}
	}
	require.Equal(t, 1, n, "answered once across the storm")
}
