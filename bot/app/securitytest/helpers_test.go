// Package securitytest_test is the security matrix of SPEC §13 (issue 7,
// item 3), driven through the whole bot (bot/app/apptest) against the
// simulated Slack (bot/slacksim) and real PostgreSQL and Redis:
//
//   - who may do what: for every state-changing command, button and modal,
//     the allowed actor's action takes effect (database rows and audit log),
//     and a forbidden actor — a person outside the configuration, a pool
//     member who is not the one asked, an admin acting where only the
//     parties may — gets a clear refusal while nothing changes: no database
//     row, no audit entry, no public message, no modal;
//   - secrets: tokens, DSN passwords, webhook secrets and calendar tokens
//     never appear in a log line (at debug level) or in anything posted to
//     Slack, including after failures;
//   - webhook authentication and body limits;
//   - diagnostics reach only the configured targets: slash text that looks
//     like a URL, a host, SQL or a shell command is answered with the usage,
//     connects nowhere and runs nothing.
//
// The directory holds only tests.
package securitytest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/bot/app/apptest"
	"github.com/contextinject/oncallbot/bot/slacksim"
	"github.com/contextinject/oncallbot/commands/config"
	"github.com/contextinject/oncallbot/store"
)

// The actors. With the team configuration (teamYAML) at apptest.DefaultNow
// (Wednesday of shift 0) Engineer A is primary, Engineer C secondary and
// Engineer B a pool member who is not on call; the lead and the CTO are
// admins outside the pool; the outsider is a member of the Slack workspace
// who is not in the configuration.
const (
	engA     = "U0ENGA"
	engB     = "U0ENGB"
	engC     = "U0ENGC"
	lead     = "U0LEAD"
	cto      = "U0CTO"
	outsider = "U0OUTSIDER"

	chIncidents   = "C0INCIDENTS"
	chEngineering = "C0ENGINEERING"
	chMonitoring  = "C0MONITORING"
)

// defaultDiagnostics is the built-in configuration's diagnostics block,
// which teamYAML replaces: its targets are on the internet.
var defaultDiagnostics = regexp.MustCompile(`(?s)\ndiagnostics:\n.*?\n\n`)

// teamYAML is the built-in configuration with a third engineer in the pool
// (shift 0: primary A, secondary C; B is off) and diagnostics replaced by
// diag (a YAML block starting "diagnostics:"), so no test reaches the
// internet.
func teamYAML(t *testing.T, diag string) string {
	t.Helper()
	y := string(config.DefaultYAML())
	for _, r := range []struct{ old, new string }{
		{"  - {slack_id: U0ENGB,", "  - {slack_id: U0ENGC, name: Engineer C, email: engineer-c@contextinject.ai, pagerduty_id: PENGC}\n  - {slack_id: U0ENGB,"},
		{"pool: [U0ENGA, U0ENGB]", "pool: [U0ENGA, U0ENGB, U0ENGC]"},
	} {
		require.Contains(t, y, r.old)
		y = strings.Replace(y, r.old, r.new, 1)
	}
	require.Regexp(t, defaultDiagnostics, y)
	return defaultDiagnostics.ReplaceAllLiteralString(y, "\n"+strings.TrimRight(diag, "\n")+"\n\n")
}

// quietDiagnostics configures checks whose environment variables the tests
// leave unset: they answer "not configured" and connect nowhere.
const quietDiagnostics = `diagnostics:
  postgres: {url_env: DIAG_POSTGRES_URL}
  redis: {url_env: DIAG_REDIS_URL, queues: [ingest-document]}
  timeout: 2s`

func parse(t *testing.T, y string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("security.yaml", []byte(y))
	require.NoError(t, err)
	return cfg
}

// teamConfig is teamYAML with quiet diagnostics.
func teamConfig(t *testing.T) *config.Config { return parse(t, teamYAML(t, quietDiagnostics)) }

// processLog receives what go-redis logs through its process-wide logger
// (failed dials), as cmd/oncallbot routes it into the bot's log.
var processLog = &logBuffer{}

func TestMain(m *testing.M) {
	redis.SetLogger(store.NewRedisLogger(slog.New(slog.NewTextHandler(processLog, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	os.Exit(m.Run())
}

// logBuffer collects every log line of a bot.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// count returns how many log lines hold every one of parts.
func (b *logBuffer) count(parts ...string) int {
	n := 0
	for _, line := range strings.Split(b.String(), "\n") {
		if containsAll(line, parts) {
			n++
		}
	}
	return n
}

// waitMore waits until more than n log lines hold every one of parts.
func (b *logBuffer) waitMore(t *testing.T, n int, parts ...string) {
	t.Helper()
	require.Eventually(t, func() bool { return b.count(parts...) > n }, 10*time.Second, 5*time.Millisecond, "no new log line with %q", parts)
}

// env is one running bot with the outsider in its Slack workspace.
type env struct {
	h   *apptest.Harness
	log *logBuffer
}

// options customise start.
type options struct {
	cfg         *config.Config
	env         map[string]string
	databaseURL string
}

// start runs a bot for t whose simulated Slack also holds the outsider,
// logging at debug level into a buffer.
func start(t *testing.T, o options) *env {
	t.Helper()
	if o.cfg == nil {
		o.cfg = teamConfig(t)
	}
	so := apptest.SimOptions(o.cfg)
	so.Users = append(so.Users, slacksim.User{ID: outsider, Name: "mallory", RealName: "Mallory Outsider", Email: "mallory@example.com", TZ: "UTC"})
	sim, err := slacksim.New(so)
	require.NoError(t, err)
	t.Cleanup(sim.Close) // registered first, so it runs after the bot stopped
	lb := &logBuffer{}
	log := slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := apptest.New(t, apptest.Options{Config: o.cfg, Sim: sim, Env: o.env, Log: log, DatabaseURL: o.databaseURL})
	e := &env{h: h, log: lb}
	// The start-up work (River's run-on-start periodic jobs: the handoff
	// reminder catch-up, the calendar look-ahead, …) is not an effect of
	// the first test step.
	lb.waitMore(t, 0, "PeriodicJobEnqueuer: Inserted RunOnStart jobs")
	e.settle(t)
	return e
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// stateTables are the tables holding what people change: a refused action
// must leave every one of them as it was. (Envelope de-duplication, cron
// slots, caches and calendar snapshots are bookkeeping, not state.)
var stateTables = []string{
	"audit_log", "overrides", "incidents", "incident_pages", "incident_reminders", "incident_messages",
	"incident_alerts", "swaps", "swap_pending_shifts", "swap_pd_overrides", "triage_runs", "triage_steps",
	"handoffs", "emergency_handoffs", "calendar_tokens", "monitoring_alerts",
}

// state is what a refused action must leave unchanged.
type state struct {
	Tables map[string]string // table → digest of its rows
	Audit  int               // audit entries
	Public []string          // every message others can see: channel/ts/updates/deleted
	Modals []string          // the actor's modals
}

// digestSQL reads, in one round trip, each state table's row count and a
// digest of its rows, and the number of audit entries.
var digestSQL = func() string {
	cols := make([]string, 0, len(stateTables)+1)
	for _, tbl := range stateTables {
		cols = append(cols, fmt.Sprintf(`(SELECT count(*) || ' rows ' || md5(coalesce(string_agg(t::text, E'\n' ORDER BY t::text), '')) FROM %s t)`, tbl))
	}
	cols = append(cols, `(SELECT count(*)::text FROM audit_log)`)
	return "SELECT " + strings.Join(cols, ", ")
}()

func (e *env) snapshot(t *testing.T, actor string) state {
	t.Helper()
	s := state{Tables: map[string]string{}}
	vals := make([]string, len(stateTables)+1)
	dst := make([]any, len(vals))
	for i := range vals {
		dst[i] = &vals[i]
	}
	require.NoError(t, e.h.App.DB.Pool.QueryRow(context.Background(), digestSQL).Scan(dst...))
	for i, tbl := range stateTables {
		s.Tables[tbl] = vals[i]
	}
	var err error
	s.Audit, err = strconv.Atoi(vals[len(stateTables)])
	require.NoError(t, err)
	for _, m := range e.h.Sim.Messages() {
		if m.Ephemeral || (actor != "" && m.DMTo == actor) {
			continue // only the actor sees these
		}
		s.Public = append(s.Public, fmt.Sprintf("%s/%s/%d/%v", m.Channel, m.TS, m.Updates, m.Deleted))
	}
	for _, v := range allViews(e.h) {
		if v.User == actor && v.Type == "modal" {
			s.Modals = append(s.Modals, v.ID+"/"+v.CallbackID)
		}
	}
	return s
}

// allViews returns every view the workspace has held.
func allViews(h *apptest.Harness) []*slacksim.View {
	var out []*slacksim.View
	_, _ = h.Sim.WaitView(0, func(v *slacksim.View) bool { out = append(out, v); return false })
	return out
}

// settle waits until the bot is idle: no River job due within 3 s, and the
// state and the messages unchanged across a short interval. Background work
// started by an earlier step (pages, thread entries, App Home publishes)
// then cannot be mistaken for an effect of the next one. A job that snoozed
// twice or more is polling the (stopped) test clock, not work in progress;
// one snooze is a timer waiting for its exact instant.
func (e *env) settle(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(15 * time.Second)
	prev := ""
	for time.Now().Before(deadline) {
		var due int
		require.NoError(t, e.h.App.DB.Pool.QueryRow(ctx,
			`SELECT count(*) FROM river_job WHERE state IN ('available', 'running', 'retryable', 'scheduled')
				AND scheduled_at <= now() + interval '3 seconds' AND coalesce((metadata->>'snoozes')::int, 0) < 2`).Scan(&due))
		cur := fmt.Sprintf("%d %v", due, e.snapshot(t, ""))
		if due == 0 && cur == prev {
			return
		}
		prev = cur
		// Polling a condition, not waiting for an event: there is no
		// "the bot is idle" event to wait on.
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the bot did not settle within 15s")
}

// seen returns the timestamps of every message so far.
func seen(h *apptest.Harness) map[string]bool {
	out := map[string]bool{}
	for _, m := range h.Sim.Messages() {
		out[m.Channel+"/"+m.TS] = true
	}
	return out
}

// answer waits for a new message only actor sees (an ephemeral answer, or
// a DM when a modal submission is refused after its ack) holding parts.
func answer(t *testing.T, h *apptest.Harness, actor string, before map[string]bool, parts ...string) *slacksim.Message {
	t.Helper()
	mine := func(m *slacksim.Message) bool {
		return ((m.Ephemeral && m.EphemeralTo == actor) || (!m.Ephemeral && m.DMTo == actor)) && !before[m.Channel+"/"+m.TS]
	}
	got, err := h.Sim.WaitMessage(10*time.Second, func(m *slacksim.Message) bool {
		return mine(m) && containsAll(apptest.Plain(m.AllText()), parts)
	})
	if err != nil {
		var told []string
		for _, m := range h.Sim.Messages() {
			if mine(m) {
				told = append(told, apptest.Plain(m.AllText()))
			}
		}
		t.Fatalf("%s was not told %q; was told %q", actor, parts, told)
	}
	return got
}

// refused runs do as actor, waits for the refusal holding parts shown to
// actor alone, and checks that nothing else changed.
func (e *env) refused(t *testing.T, actor string, do func(*testing.T), parts ...string) {
	t.Helper()
	e.settle(t)
	before := e.snapshot(t, actor)
	msgs := seen(e.h)
	do(t)
	got := answer(t, e.h, actor, msgs, parts...)
	require.NotContains(t, got.Text, "Something went wrong", "a refusal is a clear sentence")
	e.settle(t) // anything the action set off (jobs, posts) has happened
	after := e.snapshot(t, actor)
	require.Equal(t, before.Tables, after.Tables, "%s: a refused action changed the database", actor)
	require.Equal(t, before.Audit, after.Audit, "%s: a refused action wrote the audit log", actor)
	require.Equal(t, before.Public, after.Public, "%s: a refused action posted or edited a message", actor)
	require.Equal(t, before.Modals, after.Modals, "%s: a refused action opened a modal", actor)
}

// maxAuditID is the newest audit entry's ID (0 when none).
func (e *env) maxAuditID(t *testing.T) int64 {
	t.Helper()
	entries, err := store.ListAudit(context.Background(), e.h.App.DB.Pool, "", 1)
	require.NoError(t, err)
	if len(entries) == 0 {
		return 0
	}
	return entries[0].ID
}

// allowed runs do and waits until the audit log records action by actor
// (after everything before it); it returns that entry.
func (e *env) allowed(t *testing.T, actor, action string, do func(*testing.T)) store.AuditEntry {
	t.Helper()
	e.settle(t)
	after := e.maxAuditID(t)
	do(t)
	var got store.AuditEntry
	require.Eventually(t, func() bool {
		entries, err := store.ListAudit(context.Background(), e.h.App.DB.Pool, "", 100)
		if err != nil {
			return false
		}
		for _, en := range entries {
			if en.ID > after && en.Actor == actor && en.Action == action {
				got = en
				return true
			}
		}
		return false
	}, 15*time.Second, 10*time.Millisecond, "no audit entry %s by %s", action, actor)
	return got
}

// slash sends a slash command line as user in channel.
func (e *env) slash(user, channel, line string) func(*testing.T) {
	return func(t *testing.T) { e.h.Slash(t, user, channel, line) }
}

// click presses a button of a message the way Slack sends it.
func (e *env) click(user string, msg *slacksim.Message, actionID string) func(*testing.T) {
	return func(t *testing.T) { e.h.Click(t, user, msg, actionID) }
}

// forgeClick sends a block_actions payload for a button of msg as user,
// whether or not user can see msg (an ephemeral message of someone else, a
// DM of someone else): a handler must not rely on who can see a button.
func (e *env) forgeClick(user string, msg *slacksim.Message, actionID string) func(*testing.T) {
	return func(t *testing.T) {
		var b slacksim.Button
		for _, x := range msg.Buttons() {
			if x.ActionID == actionID {
				b = x
			}
		}
		require.NotEmpty(t, b.ActionID, "message has no button %s", actionID)
		e.forgeAction(user, msg.Channel, msg.TS, actionID, b.BlockID, b.Value)(t)
	}
}

// forgeAction sends a block_actions payload with any action and value.
func (e *env) forgeAction(user, channel, ts, actionID, blockID, value string) func(*testing.T) {
	return func(t *testing.T) {
		if blockID == "" {
			blockID = "forged"
		}
		payload, err := json.Marshal(map[string]any{
			"type": "block_actions", "api_app_id": slacksim.AppID, "team": map[string]any{"id": slacksim.TeamID},
			"user":       map[string]any{"id": user},
			"channel":    map[string]any{"id": channel},
			"container":  map[string]any{"type": "message", "message_ts": ts, "channel_id": channel},
			"trigger_id": "forged.trigger",
			"actions":    []any{map[string]any{"type": "button", "action_id": actionID, "block_id": blockID, "value": value, "action_ts": "1.0"}},
		})
		require.NoError(t, err)
		require.NoError(t, e.h.Sim.Send(slacksim.Envelope{Type: "interactive", Payload: payload}))
	}
}

// input is one value of a forged view submission.
type input struct {
	block, action string
	value         string   // plain text input
	selected      []string // checkboxes
}

// forgeSubmit sends a view_submission of a modal user never opened (the
// payload a client could craft): callbackID with privateMetadata and inputs.
func (e *env) forgeSubmit(user, callbackID, privateMetadata string, inputs ...input) func(*testing.T) {
	return func(t *testing.T) {
		values := map[string]any{}
		for _, in := range inputs {
			blk, _ := values[in.block].(map[string]any)
			if blk == nil {
				blk = map[string]any{}
				values[in.block] = blk
			}
			if in.selected != nil {
				var opts []any
				for _, s := range in.selected {
					opts = append(opts, map[string]any{"value": s, "text": map[string]any{"type": "plain_text", "text": s}})
				}
				blk[in.action] = map[string]any{"type": "checkboxes", "selected_options": opts}
			} else {
				blk[in.action] = map[string]any{"type": "plain_text_input", "value": in.value}
			}
		}
		payload, err := json.Marshal(map[string]any{
			"type": "view_submission", "api_app_id": slacksim.AppID, "team": map[string]any{"id": slacksim.TeamID},
			"user": map[string]any{"id": user}, "trigger_id": "forged.trigger",
			"view": map[string]any{"id": "VFORGED" + user, "type": "modal", "callback_id": callbackID,
				"private_metadata": privateMetadata, "state": map[string]any{"values": values}},
		})
		require.NoError(t, err)
		require.NoError(t, e.h.Sim.Send(slacksim.Envelope{Type: "interactive", Payload: payload, AcceptsResponsePayload: true}))
	}
}

// openModal waits for user's open modal with callbackID, other than those in skip.
func openModal(t *testing.T, h *apptest.Harness, user, callbackID string, skip ...string) *slacksim.View {
	t.Helper()
	v, err := h.Sim.WaitView(10*time.Second, func(v *slacksim.View) bool {
		return v.User == user && v.Type == "modal" && v.CallbackID == callbackID && !v.Closed && !slices.Contains(skip, v.ID)
	})
	require.NoError(t, err)
	return v
}

// modalIDs returns the IDs of every modal of user so far.
func modalIDs(h *apptest.Harness, user string) []string {
	var out []string
	for _, v := range allViews(h) {
		if v.User == user && v.Type == "modal" {
			out = append(out, v.ID)
		}
	}
	return out
}

// query reads one value.
func query[T any](t *testing.T, e *env, sql string, args ...any) T {
	t.Helper()
	var v T
	require.NoError(t, e.h.App.DB.Pool.QueryRow(context.Background(), sql, args...).Scan(&v))
	return v
}

// auditActions lists the actions recorded about subject, oldest first.
func auditActions(t *testing.T, e *env, subject string) []string {
	t.Helper()
	entries, err := store.ListAudit(context.Background(), e.h.App.DB.Pool, subject, 1000)
	require.NoError(t, err)
	var out []string
	for i := len(entries) - 1; i >= 0; i-- {
		out = append(out, entries[i].Actor+" "+entries[i].Action)
	}
	return out
}
