package incident

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/slack-go/slack"
	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/commands"
	"github.com/contextinject/oncallbot/commands/config"
	"github.com/contextinject/oncallbot/store"
	"github.com/contextinject/oncallbot/store/storetest"
)

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// sent is one message the fake Slack received.
type sent struct {
	Op, Channel, TS, ThreadTS, Text string
	Buttons                         []string // action IDs
}

// fakeSlack records what the module posts.
type fakeSlack struct {
	mu    sync.Mutex
	seq   int
	msgs  []sent
	fail  map[string]bool // channel → Post fails
	homes []string
}

var _ commands.Messenger = (*fakeSlack)(nil)

func flatten(msg commands.Message) (string, []string) {
	parts := []string{msg.Text}
	var buttons []string
	if len(msg.Blocks) > 0 {
		raw, _ := json.Marshal(msg.Blocks)
		var v any
		_ = json.Unmarshal(raw, &v)
		var walk func(any)
		walk = func(x any) {
			switch t := x.(type) {
			case []any:
				for _, e := range t {
					walk(e)
				}
			case map[string]any:
				if t["type"] == "button" {
					buttons = append(buttons, fmt.Sprint(t["action_id"]))
				}
				if s, ok := t["text"].(string); ok {
					parts = append(parts, s)
				}
				for k, e := range t {
					if k != "text" || func() bool { _, ok := e.(string); return !ok }() {
						walk(e)
					}
				}
			}
		}
		walk(v)
	}
	return strings.Join(parts, "\n"), buttons
}

func (f *fakeSlack) add(op, channel, ts, thread string, msg commands.Message) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ts == "" {
		f.seq++
		ts = fmt.Sprintf("1700000000.%06d", f.seq)
	}
	text, buttons := flatten(msg)
	f.msgs = append(f.msgs, sent{Op: op, Channel: channel, TS: ts, ThreadTS: thread, Text: text, Buttons: buttons})
	return ts
}

func (f *fakeSlack) Post(_ context.Context, channel string, msg commands.Message) (string, error) {
	f.mu.Lock()
	failing := f.fail[channel]
	f.mu.Unlock()
	if failing {
		return "", fmt.Errorf("channel_not_found")
	}
	return f.add("post", channel, "", "", msg), nil
}
func (f *fakeSlack) Reply(_ context.Context, channel, thread string, msg commands.Message) (string, error) {
	return f.add("reply", channel, "", thread, msg), nil
}
func (f *fakeSlack) Update(_ context.Context, channel, ts string, msg commands.Message) error {
	f.add("update", channel, ts, "", msg)
	return nil
}
func (f *fakeSlack) Ephemeral(context.Context, string, string, commands.Message) error { return nil }
func (f *fakeSlack) OpenView(context.Context, string, slack.ModalViewRequest) error    { return nil }
func (f *fakeSlack) PublishHome(_ context.Context, user string, _ slack.HomeTabViewRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.homes = append(f.homes, user)
	return nil
}
func (f *fakeSlack) Permalink(context.Context, string, string) (string, error) { return "", nil }
func (f *fakeSlack) SetUsergroup(context.Context, string, []string) error      { return nil }

// find returns the messages matching op, channel ("" any) and text parts.
func (f *fakeSlack) find(op, channel string, parts ...string) []sent {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []sent
	for _, m := range f.msgs {
		if (op == "" || m.Op == op) && (channel == "" || m.Channel == channel) && containsAll(m.Text, parts) {
			out = append(out, m)
		}
	}
	return out
}

// last returns the latest version of message ts (post or update).
func (f *fakeSlack) last(ts string) sent {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out sent
	for _, m := range f.msgs {
		if m.TS == ts && m.Op != "reply" {
			out = m
		}
	}
	return out
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// fakeRoster: shift 0 of the built-in rotation.
type fakeRoster struct{ cfg *config.Config }

func (r fakeRoster) Role(_ context.Context, word string, _ time.Time) []string {
	switch word {
	case "primary":
		return []string{"U0ENGA"}
	case "secondary":
		return []string{"U0ENGB"}
	case "engineers":
		return []string{"U0ENGA", "U0ENGB"}
	case "engineering_lead", "cto":
		return r.cfg.WithRole(word)
	}
	if r.cfg.Known(word) {
		return []string{word}
	}
	return nil
}

// bundle is a module on a fresh database with an insert-only River client
// (jobs are inspected and run by hand at exact instants), a fake Slack and
// a settable clock.
type bundle struct {
	m     *Module
	db    *store.DB
	clock *testClock
	slack *fakeSlack
	cfg   *config.Config
}

func newBundle(t testing.TB, o Options) *bundle {
	t.Helper()
	db := storetest.DB(t)
	cfg := config.Default()
	log := slog.New(slog.DiscardHandler)
	jobs, err := store.NewRiver(db, nil, log, store.RiverOptions{})
	require.NoError(t, err)
	b := &bundle{db: db, clock: &testClock{t: at("2026-11-04T12:00:00Z")}, slack: &fakeSlack{}, cfg: cfg}
	if o.Roster == nil {
		o.Roster = fakeRoster{cfg}
	}
	o.Wall = b.clock.Now
	b.m = New(commands.Deps{Config: cfg, DB: db, Jobs: jobs, Slack: b.slack, Now: b.clock.Now, Log: log}, o)
	return b
}

// jobArgs returns the args of every job of kind, decoded into T.
func jobArgs[T any](t testing.TB, b *bundle, kind string) []T {
	t.Helper()
	res, err := b.m.d.Jobs.JobList(context.Background(), river.NewJobListParams().Kinds(kind).First(10000))
	require.NoError(t, err)
	out := make([]T, 0, len(res.Jobs))
	for _, j := range res.Jobs {
		var v T
		require.NoError(t, json.Unmarshal(j.EncodedArgs, &v))
		out = append(out, v)
	}
	return out
}

func (b *bundle) open(t testing.TB, sev, title string) *Incident {
	t.Helper()
	inc, err := b.m.Open(context.Background(), OpenRequest{Severity: sev, Title: title, OpenedBy: "U0ENGA"})
	require.NoError(t, err)
	return inc
}

func (b *bundle) get(t testing.TB, id int64) *Incident {
	t.Helper()
	inc, err := b.m.Get(context.Background(), id)
	require.NoError(t, err)
	return inc
}

// pages counts the fired steps of an incident.
func (b *bundle) pages(t testing.TB, id int64) []page {
	t.Helper()
	p, err := listPages(context.Background(), b.db.Pool, id)
	require.NoError(t, err)
	return p
}

var _ = pgx.ErrNoRows
