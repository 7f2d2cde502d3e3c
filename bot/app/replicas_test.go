package app_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/bot/app/apptest"
	"github.com/contextinject/oncallbot/bot/slacksim"
	"github.com/contextinject/oncallbot/commands/config"
	"github.com/contextinject/oncallbot/commands/incident"
	"github.com/contextinject/oncallbot/store"
)

// TestTwoReplicasBurst runs two replicas on one database, both connected to
// the simulated Slack, which spreads envelopes over them as Slack does. A
// burst of commands, each also redelivered (so the copy usually lands on
// the other replica), and double Acknowledge clicks: every incident is
// declared once, paged once per step, acknowledged once.
func TestTwoReplicasBurst(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	simOpts := apptest.SimOptions(cfg)
	simOpts.MultiConnection = true
	sim, err := slacksim.New(simOpts)
	require.NoError(t, err)
	t.Cleanup(sim.Close)

	now := time.Now().UTC()
	first := apptest.New(t, apptest.Options{Sim: sim, Now: now})
	second := apptest.New(t, apptest.Options{Sim: sim, Now: now, DatabaseURL: first.DBURL})
	require.Eventually(t, func() bool { return sim.Live() == 2 }, 10*time.Second, 10*time.Millisecond)

	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			id, err := sim.SlashCommand("U0ENGA", "C0INCIDENTS", "/incident", fmt.Sprintf("P2 burst %02d", i))
			if err != nil {
				t.Errorf("send: %v", err)
				return
			}
			if err := sim.Redeliver(id); err != nil {
				t.Errorf("redeliver: %v", err)
			}
		})
	}
	wg.Wait()

	parents := func() map[string]*slacksim.Message {
		out := map[string]*slacksim.Message{}
		for _, m := range sim.Messages() {
			if m.Channel == "C0INCIDENTS" && !m.Ephemeral && m.ThreadTS == "" && strings.Contains(m.Text, "burst ") {
				out[m.TS] = m
			}
		}
		return out
	}
	require.Eventually(t, func() bool { return len(parents()) >= n }, 30*time.Second, 20*time.Millisecond)
	// Let stragglers (a second parent would be a bug) arrive.
	time.Sleep(500 * time.Millisecond)
	ps := parents()
	if len(ps) != n {
		for _, m := range ps {
			t.Logf("%s %q", m.TS, m.Text)
		}
	}
	require.Len(t, ps, n, "each incident declared exactly once")

	// Every redelivery was acked and dropped, by whichever replica got it.
	require.Eventually(t, func() bool {
		return testutil.ToFloat64(first.App.Metrics.Duplicates)+testutil.ToFloat64(second.App.Metrics.Duplicates) == n
	}, 10*time.Second, 20*time.Millisecond)
	require.Positive(t, testutil.ToFloat64(second.App.Metrics.Envelopes.WithLabelValues("slash_commands")), "both replicas took envelopes")
	require.Positive(t, testutil.ToFloat64(first.App.Metrics.Envelopes.WithLabelValues("slash_commands")), "both replicas took envelopes")

	// Double clicks on every parent: both land, on either replica.
	for _, p := range ps {
		for _, u := range []string{"U0ENGB", "U0ENGA"} {
			wg.Go(func() {
				if _, err := sim.Click(u, p, incident.ActionAcknowledge); err != nil {
					t.Logf("click: %v", err)
				}
			})
		}
	}
	wg.Wait()
	require.Eventually(t, func() bool {
		entries, err := store.ListAudit(t.Context(), first.App.DB.Pool, "", 1000)
		require.NoError(t, err)
		acks := 0
		for _, e := range entries {
			if strings.Contains(e.Action, "ack") && strings.HasPrefix(e.Action, "incident") {
				acks++
			}
		}
		if acks != n {
			t.Logf("acks %d", acks)
		}
		return acks == n
	}, 30*time.Second, 50*time.Millisecond, "one acknowledgement per incident")

	// Every incident paged its first step exactly once.
	pages := map[string]int{}
	for _, m := range sim.Messages() {
		if m.DMTo != "" && strings.Contains(m.Text, "You are paged") {
			for i := range n {
				if strings.Contains(m.Text, fmt.Sprintf("burst %02d", i)) {
					pages[fmt.Sprint(i)]++
				}
			}
		}
	}
	for k, v := range pages {
		require.Equal(t, 1, v, "incident %s paged %d times", k, v)
	}
}
