package bot_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/bot"
	"github.com/contextinject/oncallbot/bot/slacksim"
	"github.com/contextinject/oncallbot/commands"
)

// memDedup is an in-memory Deduper: this file tests the transport; the
// real Redis/PostgreSQL de-duplication is tested in store and end to end.
type memDedup struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (d *memDedup) First(_ context.Context, key string, _ time.Time) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.seen[key] {
		return false, nil
	}
	d.seen[key] = true
	return true, nil
}

type bundle struct {
	sim *slacksim.Server
	bot *bot.Bot
	m   *bot.Metrics
}

func start(t *testing.T, reg *commands.Registry) bundle {
	t.Helper()
	sim, err := slacksim.New(slacksim.Options{
		Users:    []slacksim.User{{ID: "U0ENGA", Name: "a", RealName: "Engineer A"}},
		Channels: []slacksim.Channel{{ID: "C0INCIDENTS", Name: "incidents"}},
	})
	require.NoError(t, err)
	t.Cleanup(sim.Close)
	api := slack.New(slacksim.BotToken, slack.OptionAPIURL(sim.APIURL()), slack.OptionAppLevelToken(slacksim.AppToken))
	m := bot.NewMetrics(prometheus.NewRegistry())
	b := bot.New(bot.Options{
		Client: socketmode.New(api), Registry: reg, Dedup: &memDedup{seen: map[string]bool{}},
		Metrics: m, Messenger: bot.NewMessenger(api, http.DefaultClient, sim.APIURL()),
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx, 5*time.Second) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Error("bot did not stop")
		}
	})
	require.Eventually(t, b.Connected, 5*time.Second, 5*time.Millisecond)
	return bundle{sim: sim, bot: b, m: m}
}

func waitEphemeral(t *testing.T, sim *slacksim.Server, contains string) *slacksim.Message {
	t.Helper()
	m, err := sim.WaitMessage(5*time.Second, func(m *slacksim.Message) bool {
		return m.Ephemeral && m.EphemeralTo == "U0ENGA" && strings.Contains(m.AllText(), contains)
	})
	require.NoError(t, err)
	return m
}

func TestHandlerPanicIsAnsweredAndBotKeepsServing(t *testing.T) {
	t.Parallel()
	reg := commands.NewRegistry()
	reg.Slash("/oncall", "boom", "", func(context.Context, commands.Slash) (commands.Response, error) {
		var steps []string
		_ = steps[len(steps)] // index out of range: a real runtime panic
		return commands.Response{}, nil
	})
	reg.Slash("/oncall", "", "", func(context.Context, commands.Slash) (commands.Response, error) {
		return commands.Text("still here"), nil
	})
	b := start(t, reg)

	id, err := b.sim.SlashCommand("U0ENGA", "C0INCIDENTS", "/oncall", "boom")
	require.NoError(t, err)
	_, err = b.sim.WaitAck(id, 5*time.Second)
	require.NoError(t, err)
	m := waitEphemeral(t, b.sim, "Something went wrong (ref ")
	require.NotContains(t, m.Text, "index out of range", "the panic text must not reach Slack")

	_, err = b.sim.SlashCommand("U0ENGA", "C0INCIDENTS", "/oncall", "")
	require.NoError(t, err)
	waitEphemeral(t, b.sim, "still here")
}

func TestUserErrorsShownInternalErrorsHidden(t *testing.T) {
	t.Parallel()
	reg := commands.NewRegistry()
	reg.Slash("/oncall", "bad", "", func(context.Context, commands.Slash) (commands.Response, error) {
		return commands.Response{}, commands.Errorf(commands.Invalid, "No shift of yours on 2026-12-01.")
	})
	reg.Slash("/oncall", "leak", "", func(context.Context, commands.Slash) (commands.Response, error) {
		return commands.Response{}, errors.New("dial postgres://admin:hunter2@db:5432: refused")
	})
	b := start(t, reg)
	_, err := b.sim.SlashCommand("U0ENGA", "C0INCIDENTS", "/oncall", "bad")
	require.NoError(t, err)
	waitEphemeral(t, b.sim, "No shift of yours on 2026-12-01.")
	_, err = b.sim.SlashCommand("U0ENGA", "C0INCIDENTS", "/oncall", "leak")
	require.NoError(t, err)
	m := waitEphemeral(t, b.sim, "Something went wrong")
	require.NotContains(t, m.AllText(), "hunter2")
}

func TestEnvelopeAckedBeforeSlowHandlerAndRedeliveryDropped(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var calls sync.WaitGroup
	calls.Add(1)
	var mu sync.Mutex
	n := 0
	reg := commands.NewRegistry()
	reg.Slash("/oncall", "", "", func(ctx context.Context, _ commands.Slash) (commands.Response, error) {
		mu.Lock()
		n++
		first := n == 1
		mu.Unlock()
		if first {
			calls.Done()
			<-release
		}
		return commands.Text("done"), nil
	})
	b := start(t, reg)
	id, err := b.sim.SlashCommand("U0ENGA", "C0INCIDENTS", "/oncall", "")
	require.NoError(t, err)
	// The ack arrives while the handler is still blocked.
	_, err = b.sim.WaitAck(id, 5*time.Second)
	require.NoError(t, err)
	calls.Wait()
	require.NoError(t, b.sim.Redeliver(id))
	require.Eventually(t, func() bool { return len(b.sim.Acks(id)) == 2 }, 5*time.Second, 5*time.Millisecond)
	close(release)
	waitEphemeral(t, b.sim, "done")
	require.Eventually(t, func() bool {
		return testutilCount(b.m.Duplicates) == 1
	}, 5*time.Second, 5*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, 1, n)
}
