package triage

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"
	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/commands"
	"github.com/contextinject/oncallbot/commands/config"
	"github.com/contextinject/oncallbot/commands/playbook"
	"github.com/contextinject/oncallbot/store"
	"github.com/contextinject/oncallbot/store/storetest"
)

// fakeSlack records what the module posts and checks Block Kit limits.
type fakeSlack struct {
	t  *testing.T
	mu sync.Mutex
	n  int
	// msgs by channel+ts; order of posts.
	msgs  map[string]commands.Message
	order []string
	// replies holds thread replies per parent ts.
	replies map[string][]string
	updates int
}

func newFakeSlack(t *testing.T) *fakeSlack {
	return &fakeSlack{t: t, msgs: map[string]commands.Message{}, replies: map[string][]string{}}
}

func (f *fakeSlack) check(msg commands.Message) {
	f.t.Helper()
	checkBlockKit(f.t, msg)
}

func (f *fakeSlack) Post(_ context.Context, channel string, msg commands.Message) (string, error) {
	f.check(msg)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	ts := fmt.Sprintf("1700000000.%06d", f.n)
	f.msgs[channel+"/"+ts] = msg
	f.order = append(f.order, channel+"/"+ts)
	return ts, nil
}

func (f *fakeSlack) Reply(ctx context.Context, channel, threadTS string, msg commands.Message) (string, error) {
	ts, err := f.Post(ctx, channel, msg)
	f.mu.Lock()
	f.replies[threadTS] = append(f.replies[threadTS], ts)
	f.mu.Unlock()
	return ts, err
}

func (f *fakeSlack) Update(_ context.Context, channel, ts string, msg commands.Message) error {
	f.check(msg)
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.msgs[channel+"/"+ts]; !ok {
		return fmt.Errorf("message_not_found %s/%s", channel, ts)
	}
	f.msgs[channel+"/"+ts] = msg
	f.updates++
	return nil
}

func (f *fakeSlack) Ephemeral(context.Context, string, string, commands.Message) error { return nil }
func (f *fakeSlack) OpenView(context.Context, string, slack.ModalViewRequest) error    { return nil }
func (f *fakeSlack) PublishHome(context.Context, string, slack.HomeTabViewRequest) error {
	return nil
}
func (f *fakeSlack) Permalink(_ context.Context, channel, ts string) (string, error) {
	return "https://slack.test/archives/" + channel + "/p" + strings.ReplaceAll(ts, ".", ""), nil
}
func (f *fakeSlack) SetUsergroup(context.Context, string, []string) error { return nil }

func (f *fakeSlack) msg(channel, ts string) commands.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.msgs[channel+"/"+ts]
}

func (f *fakeSlack) thread(parent string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.replies[parent]...)
}

// checkBlockKit enforces the limits slacksim enforces that our messages
// could reach: 50 blocks, 3000-character section texts, button text 75 and
// value 2000 characters.
func checkBlockKit(t *testing.T, msg commands.Message) {
	t.Helper()
	require.LessOrEqual(t, len(msg.Blocks), 50)
	require.LessOrEqual(t, utf8.RuneCountInString(msg.Text), 40000)
	raw, err := json.Marshal(msg.Blocks)
	require.NoError(t, err)
	var blocks []map[string]any
	require.NoError(t, json.Unmarshal(raw, &blocks))
	for _, b := range blocks {
		if txt, ok := b["text"].(map[string]any); ok {
			require.LessOrEqual(t, utf8.RuneCountInString(txt["text"].(string)), 3000)
		}
		els, _ := b["elements"].([]any)
		for _, e := range els {
			el := e.(map[string]any)
			if el["type"] == "button" {
				require.LessOrEqual(t, utf8.RuneCountInString(el["text"].(map[string]any)["text"].(string)), 75)
				require.LessOrEqual(t, utf8.RuneCountInString(el["value"].(string)), 2000)
				require.LessOrEqual(t, len(el["action_id"].(string)), 255)
			}
		}
	}
}

// fakeIncidents is the incident module as triage sees it.
type fakeIncidents struct {
	slack    commands.Messenger
	channel  string
	mu       sync.Mutex
	next     int64
	opened   []OpenSpec
	notes    map[int64]string
	escal    []string
	resolved map[int64]bool
	failOpen error
}

func (f *fakeIncidents) Open(ctx context.Context, req OpenSpec) (Opened, error) {
	f.mu.Lock()
	if f.failOpen != nil {
		f.mu.Unlock()
		return Opened{}, f.failOpen
	}
	f.next++
	id := f.next
	f.opened = append(f.opened, req)
	f.mu.Unlock()
	ts, err := f.slack.Post(ctx, f.channel, commands.Message{Text: fmt.Sprintf("INC-%d %s %s", id, req.Severity, req.Title)})
	if err != nil {
		return Opened{}, err
	}
	return Opened{ID: id, Key: fmt.Sprintf("INC-%d", id), Channel: f.channel, TS: ts}, nil
}

func (f *fakeIncidents) Escalate(_ context.Context, id int64, actor, reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.escal = append(f.escal, fmt.Sprintf("%d %s %s", id, actor, reason))
	return nil
}

func (f *fakeIncidents) SetNote(_ context.Context, id int64, key, text string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.notes == nil {
		f.notes = map[int64]string{}
	}
	f.notes[id] = key + ": " + text
	return nil
}

func (f *fakeIncidents) IsResolved(_ context.Context, id int64) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.resolved[id], nil
}

func (f *fakeIncidents) note(id int64) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.notes[id]
}

// bundle is a module on a fresh database, with fake Slack and incidents and
// fake checks, without River (diagnostics run inline).
type bundle struct {
	m     *Module
	slack *fakeSlack
	inc   *fakeIncidents
	db    *store.DB
	cfg   *config.Config
}

func newBundle(t *testing.T, checks map[string]CheckFunc) *bundle {
	t.Helper()
	cfg := config.Default()
	db := storetest.DB(t)
	fs := newFakeSlack(t)
	inc := &fakeIncidents{slack: fs, channel: cfg.Channels.Incidents, resolved: map[int64]bool{}}
	books, err := playbook.Load(nil, cfg.SeverityNames())
	require.NoError(t, err)
	d := commands.Deps{Config: cfg, DB: db, Slack: fs, Now: func() time.Time { return now }, Log: slog.New(slog.DiscardHandler)}
	diag := &Diagnostics{Timeout: time.Second, Checks: checks, Missing: map[string]string{}}
	m := New(d, books, diag)
	m.SetIncidents(inc)
	return &bundle{m: m, slack: fs, inc: inc, db: db, cfg: cfg}
}

func text(msg commands.Message) string {
	raw, _ := json.Marshal(msg.Blocks)
	// slack-go's block marshallers escape <, > and & as JSON allows.
	return msg.Text + "\n" + strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(string(raw))
}

func TestParseTriage(t *testing.T) {
	b := &Module{books: must(playbook.Load(nil, nil)), d: commands.Deps{Config: config.Default()}}
	tests := []struct {
		in, name, sev, note, err string
	}{
		{in: "queue-depth", name: "queue-depth", sev: "P3"},
		{in: "queue", name: "queue-depth", sev: "P3"},
		{in: "Errors p1 api pods restarting", name: "high-error-rate", sev: "P1", note: "api pods restarting"},
		{in: "latency  the p99 is 4s", name: "high-latency", sev: "P2", note: "the p99 is 4s"},
		{in: "tls P4", name: "cert-expiry", sev: "P4"},
		{in: "", err: "Which alert? Usage: /triage &lt;alert&gt;"},
		{in: "cpu-high P1", err: "I have no playbook for `cpu-high`.\n*Playbooks*\n• `high-error-rate` (error-rate, errors)"},
		{in: "disk P7 oh no", err: "`P7` is not a severity: use P1, P2, P3, P4."},
		{in: "disk P0", err: "`P0` is not a severity"},
		{in: "<!channel>", err: "I have no playbook for `&lt;!channel&gt;`"},
		{in: "disk " + strings.Repeat("n", 501), err: "The note is longer than 500 characters"},
	}
	for _, tt := range tests {
		a, err := b.parseTriage(tt.in)
		if tt.err != "" {
			require.Error(t, err, tt.in)
			msg, ok := commands.UserMessage(err)
			require.True(t, ok, tt.in)
			require.Contains(t, msg, tt.err, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		require.Equal(t, tt.name, a.Playbook.Name, tt.in)
		require.Equal(t, tt.sev, a.Severity, tt.in)
		require.Equal(t, tt.note, a.Note, tt.in)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestRoute(t *testing.T) {
	m := &Module{books: must(playbook.Load(nil, nil))}
	tests := []struct {
		labels        map[string]string
		playbook, sev string
		ok            bool
	}{
		{map[string]string{"alertname": "HighErrorRate"}, "high-error-rate", "P2", true},
		{map[string]string{"alertname": "HighErrorRate", "severity": "p1"}, "high-error-rate", "P1", true},
		{map[string]string{"alertname": "Whatever", "playbook": "queue"}, "queue-depth", "P3", true},
		{map[string]string{"alertname": "HighLatency", "playbook": "no-such"}, "high-latency", "P2", true},
		{map[string]string{"alertname": "HighLatency", "severity": "critical"}, "high-latency", "P2", true},
		{map[string]string{"alertname": "DiskUsageHigh", "severity": "P1"}, "disk-space", "P1", true},
		{map[string]string{"alertname": "Unknown", "severity": "P2"}, "", "P2", false},
		{map[string]string{"alertname": "Unknown", "severity": "warning"}, "", "P3", false},
		{map[string]string{}, "", "P3", false},
	}
	for _, tt := range tests {
		pb, sev, ok := m.Route(tt.labels)
		require.Equal(t, tt.playbook, pb, tt.labels)
		require.Equal(t, tt.sev, sev, tt.labels)
		require.Equal(t, tt.ok, ok, tt.labels)
	}
}

func TestTriageOpensThreadRunsDiagnosticsAndTicksSteps(t *testing.T) {
	b := newBundle(t, map[string]CheckFunc{
		"queue": func(context.Context) (Report, error) {
			return Report{Text: "• `ingest-document`: waiting *612*", Alert: true}, nil
		},
		"redis": func(context.Context) (Report, error) {
			return Report{}, fmt.Errorf("Redis at 10.1.1.1:6379 refused the connection")
		},
	})
	ctx := context.Background()
	resp, err := b.m.triage(ctx, commands.Slash{UserID: "U0ENGA", ChannelID: "C0ENGINEERING", Command: "/triage", Args: "queue P2 ingest stuck"})
	require.NoError(t, err)
	require.Contains(t, resp.Ephemeral.Text, ":rotating_light: Opened *INC-1* (P2, Queue Depth Growing) running playbook `queue-depth` in <#C0INCIDENTS>: <https://slack.test/archives/C0INCIDENTS/p1700000000000001|open the thread> — 4 steps; its 2 diagnostic(s) are running")
	require.Equal(t, []OpenSpec{{Severity: "P2", Title: "Queue Depth Growing", Playbook: "queue-depth", OpenedBy: "U0ENGA", Note: "ingest stuck"}}, b.inc.opened)

	parent := "1700000000.000001"
	steps := b.slack.thread(parent)
	require.Len(t, steps, 4, "one reply per step")
	s1 := b.slack.msg("C0INCIDENTS", steps[0])
	require.Contains(t, text(s1), "*Step 1/4 · Check worker health*")
	require.Contains(t, text(s1), "- Is the worker process running?")
	require.Contains(t, text(s1), ":warning: *BullMQ queues*")
	require.Contains(t, text(s1), "waiting *612*")
	require.Contains(t, text(s1), `"action_id":"triage.done"`)
	require.Contains(t, text(s1), `"action_id":"triage.rerun"`)
	s2 := b.slack.msg("C0INCIDENTS", steps[1])
	require.Contains(t, text(s2), ":x: *Redis* failed after")
	require.Contains(t, text(s2), "refused the connection")
	s3 := b.slack.msg("C0INCIDENTS", steps[2])
	require.NotContains(t, text(s3), "triage.rerun", "no diagnostic, no Re-run")
	s4 := b.slack.msg("C0INCIDENTS", steps[3])
	require.Contains(t, text(s4), "Destructive — for a human to run after checking; the bot never runs these:")
	require.Contains(t, text(s4), "redis-cli DEL bull:ingest-document:failed")
	require.Equal(t, "triage: :clipboard: Playbook `queue-depth` (alert `bullmq_waiting_count &gt; 500 for 10 minutes`): *0/4 steps done*", b.inc.note(1))

	// Done: first click wins, a second click (another person) changes nothing.
	resp, err = b.m.done(ctx, commands.Action{UserID: "U0ENGA", ActionID: ActionDone, Value: "1:0", ChannelID: "C0INCIDENTS", MessageTS: steps[0]})
	require.NoError(t, err)
	require.Nil(t, resp.Ephemeral)
	s1 = b.slack.msg("C0INCIDENTS", steps[0])
	require.Contains(t, text(s1), ":white_check_mark: Done by Engineer A (<@U0ENGA>)")
	require.NotContains(t, text(s1), "triage.done")
	require.Contains(t, text(s1), "triage.rerun", "Re-run stays")
	require.Contains(t, b.inc.note(1), "*1/4 steps done*")

	resp, err = b.m.done(ctx, commands.Action{UserID: "U0ENGB", ActionID: ActionDone, Value: "1:0"})
	require.NoError(t, err)
	require.Equal(t, "Step 1 was already marked done by Engineer A (<@U0ENGA>).", resp.Ephemeral.Text)
	require.Contains(t, b.inc.note(1), "*1/4 steps done*")
	entries, err := store.ListAudit(ctx, b.db.Pool, "incident:1", 10)
	require.NoError(t, err)
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.Action+" "+e.Actor)
	}
	require.Equal(t, []string{"triage.step_done U0ENGA", "triage.start U0ENGA"}, actions)

	for i := 1; i < 4; i++ {
		_, err = b.m.done(ctx, commands.Action{UserID: "U0ENGB", ActionID: ActionDone, Value: fmt.Sprintf("1:%d", i)})
		require.NoError(t, err)
	}
	require.Contains(t, b.inc.note(1), "*4/4 steps done* :white_check_mark:")

	// Strangers and forged values are refused.
	_, err = b.m.done(ctx, commands.Action{UserID: "U0STRANGER", Value: "1:0"})
	requireUserError(t, err, "Only people of the on-call configuration")
	_, err = b.m.done(ctx, commands.Action{UserID: "U0ENGA", Value: "1:x"})
	requireUserError(t, err, "That button is not one of mine anymore")
	_, err = b.m.done(ctx, commands.Action{UserID: "U0ENGA", Value: "99:0"})
	requireUserError(t, err, "I no longer know that triage step")
}

func requireUserError(t *testing.T, err error, part string) {
	t.Helper()
	require.Error(t, err)
	msg, ok := commands.UserMessage(err)
	require.True(t, ok, "%v is not a user error", err)
	require.Contains(t, msg, part)
}

func TestRerunShowsNewResults(t *testing.T) {
	var mu sync.Mutex
	n := 0
	b := newBundle(t, map[string]CheckFunc{
		"tls": func(context.Context) (Report, error) {
			mu.Lock()
			defer mu.Unlock()
			n++
			return Report{Text: fmt.Sprintf("run %d", n)}, nil
		},
	})
	ctx := context.Background()
	_, err := b.m.triage(ctx, commands.Slash{UserID: "U0ENGB", ChannelID: "C0INCIDENTS", Args: "cert"})
	require.NoError(t, err)
	steps := b.slack.thread("1700000000.000001")
	require.Len(t, steps, 4)
	require.Contains(t, text(b.slack.msg("C0INCIDENTS", steps[0])), "run 1")
	_, err = b.m.rerun(ctx, commands.Action{UserID: "U0ENGA", ActionID: ActionRerun, Value: "1:0"})
	require.NoError(t, err)
	s := text(b.slack.msg("C0INCIDENTS", steps[0]))
	require.Contains(t, s, "run 2")
	require.NotContains(t, s, "run 1")
	resp, err := b.m.rerun(ctx, commands.Action{UserID: "U0ENGA", ActionID: ActionRerun, Value: "1:1"})
	require.NoError(t, err)
	require.Equal(t, "Step 2 has no diagnostic to run.", resp.Ephemeral.Text)
}

func TestStartIsIdempotentAndEscalationFiresOnce(t *testing.T) {
	b := newBundle(t, nil) // no check configured: each says so
	ctx := context.Background()
	opened, err := b.inc.Open(ctx, OpenSpec{Severity: "P2", Title: "HighErrorRate", Playbook: "high-error-rate", OpenedBy: "alertmanager"})
	require.NoError(t, err)
	require.NoError(t, b.m.Start(ctx, opened, "high-error-rate"))
	require.NoError(t, b.m.Start(ctx, opened, "errors"), "a redelivered webhook")
	steps := b.slack.thread(opened.TS)
	require.Len(t, steps, 5, "no step posted twice")
	require.Contains(t, text(b.slack.msg("C0INCIDENTS", steps[0])), "*Recent deploys* is not configured")

	require.NoError(t, b.m.EscalateIfUnresolved(ctx, opened.ID))
	require.NoError(t, b.m.EscalateIfUnresolved(ctx, opened.ID), "a retried timer")
	require.Equal(t, []string{"1 oncallbot Not resolved within 30m (playbook high-error-rate)."}, b.inc.escal)
	thread := b.slack.thread(opened.TS)
	require.Len(t, thread, 6)
	require.Contains(t, b.slack.msg("C0INCIDENTS", thread[5]).Text, "Not resolved within 30m, as playbook `high-error-rate` asks: escalated")

	// A resolved incident is not escalated.
	other, err := b.inc.Open(ctx, OpenSpec{Severity: "P2", Title: "x", Playbook: "high-error-rate", OpenedBy: "U0ENGA"})
	require.NoError(t, err)
	require.NoError(t, b.m.Start(ctx, other, "high-error-rate"))
	b.inc.resolved[other.ID] = true
	require.NoError(t, b.m.EscalateIfUnresolved(ctx, other.ID))
	require.Len(t, b.inc.escal, 1)

	require.ErrorContains(t, b.m.Start(ctx, opened, "nope"), `no playbook "nope"`)
}

func TestTriageWithoutIncidentsOrAsStranger(t *testing.T) {
	b := newBundle(t, nil)
	ctx := context.Background()
	_, err := b.m.triage(ctx, commands.Slash{UserID: "U0STRANGER", Args: "queue"})
	requireUserError(t, err, "Only people of the on-call configuration can open incidents")
	b.m.SetIncidents(nil)
	_, err = b.m.triage(ctx, commands.Slash{UserID: "U0ENGA", Args: "queue"})
	requireUserError(t, err, "Incidents are not available")
	b.m.SetIncidents(b.inc)
	b.inc.failOpen = commands.Errorf(commands.Conflict, "An incident for this alert is already open.")
	_, err = b.m.triage(ctx, commands.Slash{UserID: "U0ENGA", Args: "queue"})
	requireUserError(t, err, "already open")
}

func TestListAndDiag(t *testing.T) {
	b := newBundle(t, map[string]CheckFunc{"health": func(context.Context) (Report, error) { return Report{Text: "200 OK"}, nil }})
	ctx := context.Background()
	resp, err := b.m.list(ctx, commands.Slash{UserID: "U0ENGA"})
	require.NoError(t, err)
	require.Contains(t, resp.Ephemeral.Text, "• `high-error-rate` (error-rate, errors) — High Error Rate · P2 · alert `http_error_rate &gt; 1% for 5 minutes` · 5 steps · escalates if not resolved within 30m")
	require.Contains(t, resp.Ephemeral.Text, "• `cert-expiry` (cert, tls) — Certificate Expiration · P3")

	resp, err = b.m.diagCmd(ctx, commands.Slash{UserID: "U0ENGA", Args: "health"})
	require.NoError(t, err)
	checkBlockKit(t, *resp.Ephemeral)
	require.Contains(t, text(*resp.Ephemeral), ":white_check_mark: *API health*")
	require.Contains(t, resp.Ephemeral.Text, "API health: ok")

	resp, err = b.m.diagCmd(ctx, commands.Slash{UserID: "U0ENGA", Args: "ALL"})
	require.NoError(t, err)
	checkBlockKit(t, *resp.Ephemeral)
	require.Len(t, resp.Ephemeral.Blocks, 8)
	require.Contains(t, resp.Ephemeral.Text, "Qdrant: not configured")

	for _, bad := range []string{"", "shell", "health tls", "postgres-sizes"} {
		_, err = b.m.diagCmd(ctx, commands.Slash{UserID: "U0ENGA", Args: bad})
		requireUserError(t, err, "Usage: /diag &lt;health|deploys|postgres|redis|queue|qdrant|tls|all&gt;")
	}
	_, err = b.m.diagCmd(ctx, commands.Slash{UserID: "U0STRANGER", Args: "all"})
	requireUserError(t, err, "Only people of the on-call configuration can run diagnostics")
}

func TestStepRenderingStaysInsideBlockKit(t *testing.T) {
	long := strings.Repeat("y", 2000)
	r := run{IncidentID: 1, Def: definition{Name: "x", Alert: "a", Steps: []playbook.Step{{
		Title: strings.Repeat("T", 150), Text: long,
		Diagnostics: []string{"postgres", "redis", "queue", "qdrant"},
		Destructive: []string{strings.Repeat("d", 300), strings.Repeat("e", 300), strings.Repeat("f", 300), strings.Repeat("g", 300), strings.Repeat("h", 300)},
	}}}, Steps: []stepRow{{Results: []string{strings.Repeat("r", 5000), "b", "c", "d"}, ResultsAt: &now}}}
	checkBlockKit(t, renderStep(config.Default(), r, 0))
}
