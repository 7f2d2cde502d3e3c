package triage_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/bot/app"
	"github.com/contextinject/oncallbot/bot/app/apptest"
	"github.com/contextinject/oncallbot/bot/slacksim"
	"github.com/contextinject/oncallbot/commands"
	"github.com/contextinject/oncallbot/commands/config"
	"github.com/contextinject/oncallbot/commands/triage"
	"github.com/contextinject/oncallbot/store/storetest"
)

// e2eIncidents stands in for the incident module: it posts a parent
// message in #incidents and records what triage asks of it.
type e2eIncidents struct {
	slack   commands.Messenger
	channel string

	mu    sync.Mutex
	next  int64
	notes map[int64]string
	escal []string
}

func (f *e2eIncidents) Open(ctx context.Context, req triage.OpenSpec) (triage.Opened, error) {
	f.mu.Lock()
	f.next++
	id := f.next
	f.mu.Unlock()
	ts, err := f.slack.Post(ctx, f.channel, commands.Message{Text: fmt.Sprintf(":rotating_light: INC-%d %s %s (opened by <@%s>)", id, req.Severity, req.Title, req.OpenedBy)})
	if err != nil {
		return triage.Opened{}, err
	}
	return triage.Opened{ID: id, Key: fmt.Sprintf("INC-%d", id), Channel: f.channel, TS: ts}, nil
}

func (f *e2eIncidents) Escalate(ctx context.Context, id int64, actor, reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.escal = append(f.escal, fmt.Sprintf("%d %s", id, reason))
	return nil
}

func (f *e2eIncidents) SetNote(_ context.Context, id int64, key, text string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.notes == nil {
		f.notes = map[int64]string{}
	}
	f.notes[id] = text
	return nil
}

func (f *e2eIncidents) IsResolved(context.Context, int64) (bool, error) { return false, nil }

func (f *e2eIncidents) escalations() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.escal...)
}

// seedQueue writes BullMQ-shaped keys of a queue with a unique name into the
// test Redis and removes them at the end.
func seedQueue(t *testing.T) string {
	t.Helper()
	rdb, _ := storetest.Redis(t)
	var b [4]byte
	_, _ = rand.Read(b[:])
	q := "e2e-" + hex.EncodeToString(b[:])
	ctx := context.Background()
	keys := []string{"bull:" + q + ":wait", "bull:" + q + ":active", "bull:" + q + ":failed", "bull:" + q + ":delayed", "bull:" + q + ":meta"}
	t.Cleanup(func() { rdb.Del(context.Background(), keys...) })
	for i := 0; i < 612; i++ {
		require.NoError(t, rdb.RPush(ctx, keys[0], fmt.Sprint(i)).Err())
	}
	require.NoError(t, rdb.RPush(ctx, keys[1], "j1", "j2", "j3").Err())
	for i := 0; i < 17; i++ {
		require.NoError(t, rdb.ZAdd(ctx, keys[2], redisZ(i)).Err())
	}
	require.NoError(t, rdb.HSet(ctx, keys[4], "version", "bullmq:6.2.0").Err())
	return q
}

func TestTriageEndToEnd(t *testing.T) {
	queue := seedQueue(t)
	cfg := config.Default()
	cfg.Diagnostics.Redis.Queues = []string{queue}
	cfg.Diagnostics.Timeout = config.Duration(3 * time.Second)
	h := apptest.New(t, apptest.Options{Config: cfg, Env: map[string]string{"DIAG_REDIS_URL": storetest.DefaultRedisURL}})
	inc := &e2eIncidents{slack: h.App.Deps.Slack, channel: cfg.Channels.Incidents}
	h.App.Triage.SetIncidents(inc)

	// Bad input: unknown alert lists the playbooks; bad severity says so.
	h.Slash(t, "U0ENGA", "C0ENGINEERING", "/triage cpu-melting")
	h.WaitEphemeral(t, "U0ENGA", "I have no playbook for `cpu-melting`", "`queue-depth` (queue)", "Usage: /triage")
	h.Slash(t, "U0ENGA", "C0ENGINEERING", "/triage queue P9")
	h.WaitEphemeral(t, "U0ENGA", "`P9` is not a severity: use P1, P2, P3, P4.")

	// Run elsewhere: the incident goes to #incidents, the caller gets a link.
	h.Slash(t, "U0ENGA", "C0ENGINEERING", "/triage queue-depth P2 ingest backlog")
	h.WaitEphemeral(t, "U0ENGA", "Opened *INC-1*", "running playbook `queue-depth` in <#C0INCIDENTS>", "|open the thread>")
	parent := h.WaitIn(t, "C0INCIDENTS", "INC-1 P2 Queue Depth Growing")

	inThread := func(parts ...string) *slacksim.Message {
		return h.WaitMessage(t, func(m *slacksim.Message) bool {
			if m.Channel != "C0INCIDENTS" || m.ThreadTS != parent.TS {
				return false
			}
			all := m.AllText()
			for _, p := range parts {
				if !strings.Contains(all, p) {
					return false
				}
			}
			return true
		})
	}
	step1 := inThread("*Step 1/4 · Check worker health*", "*BullMQ queues*",
		fmt.Sprintf("`%s`: waiting *612* · active 3 · delayed 0 · failed 17", queue), "backlog 612 is over 500")
	_ = step1
	inThread("*Step 2/4 · Check for blocked workers*", "*Redis* · ", "memory *", "round trip")
	inThread("*Step 3/4 · Scale workers*")
	inThread("*Step 4/4 · If queue is unrecoverable*", "the bot never runs these", "redis-cli DEL bull:ingest-document:failed")

	// Done (first click wins is covered by the unit tests: the simulator
	// refuses a click on a button that is gone).
	step1 = inThread("*Step 1/4")
	h.Click(t, "U0ENGA", step1, triage.ActionDone)
	done := inThread("*Step 1/4", ":white_check_mark: Done by Engineer A (<@U0ENGA>)")
	require.NotContains(t, fmt.Sprint(done.Buttons()), triage.ActionDone)
	require.Eventually(t, func() bool {
		inc.mu.Lock()
		defer inc.mu.Unlock()
		return strings.Contains(inc.notes[1], "*1/4 steps done*")
	}, 10*time.Second, 10*time.Millisecond)

	// Re-run refreshes the step's result.
	h.Click(t, "U0ENGB", done, triage.ActionRerun)
	h.WaitMessage(t, func(m *slacksim.Message) bool { return m.TS == done.TS && m.Updates > done.Updates })

	// A playbook with "escalate if not resolved within" escalates by timer
	// (River's clock is past the test clock's deadline, so it fires now).
	h.Slash(t, "U0ENGB", "C0INCIDENTS", "/triage errors")
	h.WaitEphemeral(t, "U0ENGB", "Opened *INC-2*", "in the thread below it")
	h.WaitIn(t, "C0INCIDENTS", "Not resolved within 30m, as playbook `high-error-rate` asks: escalated")
	require.Equal(t, []string{"2 Not resolved within 30m (playbook high-error-rate)."}, inc.escalations())

	// The thread as people see it (go test -v shows it).
	for _, m := range h.Sim.Messages() {
		if m.Channel == "C0INCIDENTS" && (m.TS == parent.TS || m.ThreadTS == parent.TS) {
			t.Logf("[%s] %s", m.TS, apptest.Plain(m.AllText()))
		}
	}

	// /diag answers the caller only.
	h.Slash(t, "U0ENGB", "C0ENGINEERING", "/diag queue")
	h.WaitEphemeral(t, "U0ENGB", "*BullMQ queues*", "waiting *612*")
	h.Slash(t, "U0ENGB", "C0ENGINEERING", "/diag postgres")
	h.WaitEphemeral(t, "U0ENGB", "*PostgreSQL* is not configured: diagnostics.postgres.url_env names DIAG_POSTGRES_URL, which is not set.")
	h.Slash(t, "U0ENGB", "C0ENGINEERING", "/diag rm -rf")
	h.WaitEphemeral(t, "U0ENGB", "I have no check `rm -rf`.", "Usage: /diag")
	h.Slash(t, "U0ENGB", "C0ENGINEERING", "/triage list")
	h.WaitEphemeral(t, "U0ENGB", "*Playbooks*", "`disk-space` (disk)", "escalates if not resolved within 30m")
}

func TestTriageUnavailableWithoutIncidents(t *testing.T) {
	h := apptest.New(t, apptest.Options{})
	h.App.Triage.SetIncidents(nil)
	h.Slash(t, "U0ENGA", "C0INCIDENTS", "/triage disk")
	h.WaitEphemeral(t, "U0ENGA", "Incidents are not available in this bot right now")
}

func redisZ(i int) redis.Z { return redis.Z{Score: float64(i), Member: fmt.Sprint(i)} }

func TestExtraPlaybooksFromConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "search.yaml")
	require.NoError(t, os.WriteFile(good, []byte("name: search-down\naliases: [search]\nalert: search answers 5xx\nseverity: P1\n"+
		"steps:\n  - title: Check Qdrant\n    text: \"- is it up?\"\n    diagnostic: qdrant\n"), 0o644))
	cfg := config.Default()
	cfg.Playbooks = []string{good}
	h := apptest.New(t, apptest.Options{Config: cfg})
	h.Slash(t, "U0ENGA", "C0INCIDENTS", "/triage list")
	h.WaitEphemeral(t, "U0ENGA", "• `search-down` (search) — search-down · P1 · alert `search answers 5xx` · 1 steps")

	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("name: broken\nalert: a\nsteps:\n  - title: t\n    diagnostic: shell\n"), 0o644))
	cfg = config.Default()
	cfg.Playbooks = []string{bad}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := app.Start(ctx, app.Options{Config: cfg, DatabaseURL: storetest.FreshURL(t), SlackAPIURL: "http://127.0.0.1:1/api/"})
	if err == nil {
		_ = a.Stop(ctx)
	}
	require.Error(t, err, "a bad playbook refuses the start")
	require.Contains(t, err.Error(), bad+":4: steps[0].text: is required")
	require.Contains(t, err.Error(), bad+":5: steps[0].diagnostic[0]: unknown diagnostic \"shell\"")
}
