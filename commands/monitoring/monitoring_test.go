package monitoring

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/commands"
	"github.com/contextinject/oncallbot/commands/config"
	"github.com/contextinject/oncallbot/store"
	"github.com/contextinject/oncallbot/store/storetest"
)

// fakeSlack records posts and edits; the module uses nothing else.
type fakeSlack struct {
	commands.Messenger
	mu      sync.Mutex
	n       int
	posts   map[string]string // ts → text
	updates int
	fail    bool
}

func (f *fakeSlack) Post(_ context.Context, channel string, msg commands.Message) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return "", errors.New("slack is down")
	}
	f.n++
	ts := fmt.Sprintf("1700000000.%06d", f.n)
	f.posts[ts] = channel + ": " + msg.Text
	return ts, nil
}

func (f *fakeSlack) Update(_ context.Context, channel, ts string, msg commands.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return errors.New("slack is down")
	}
	if _, ok := f.posts[ts]; !ok {
		return errors.New("message_not_found")
	}
	f.updates++
	f.posts[ts] = channel + ": " + msg.Text
	return nil
}

func (f *fakeSlack) state() (int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.posts), f.updates
}

func (f *fakeSlack) text(ts string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.posts[ts]
}

type bundle struct {
	m     *Module
	slack *fakeSlack
	db    *store.DB
	reg   *commands.Registry
}

func setup(t *testing.T) bundle {
	t.Helper()
	db := storetest.DB(t)
	slack := &fakeSlack{posts: map[string]string{}}
	d := commands.Deps{Config: config.Default(), DB: db, Slack: slack, Now: func() time.Time { return t0 }, Log: slog.New(slog.DiscardHandler)}
	m := New(d)
	reg := commands.NewRegistry()
	m.Register(reg)
	return bundle{m: m, slack: slack, db: db, reg: reg}
}

func (b bundle) event(t *testing.T, typ, user, channel, ts, emoji string) {
	t.Helper()
	for _, f := range b.reg.LookupEvent(typ) {
		require.NoError(t, f(context.Background(), commands.Event{Type: typ, UserID: user, ChannelID: channel, ItemTS: ts, Reaction: emoji}))
	}
}

func TestAlertPostsOnceAndEditsOnChange(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	g := group(Firing, alert("a1", Firing, "db-1", t0))
	require.NoError(t, b.m.Alert(ctx, g))
	require.NoError(t, b.m.Alert(ctx, g), "a repeated notification")
	posts, updates := b.slack.state()
	require.Equal(t, 1, posts)
	require.Equal(t, 0, updates)
	require.Equal(t, "C0MONITORING: [FIRING:1] DiskAlmostFull", b.slack.text("1700000000.000001"))

	require.NoError(t, b.m.Alert(ctx, group(Resolved, alert("a1", Resolved, "db-1", t0))))
	posts, updates = b.slack.state()
	require.Equal(t, 1, posts)
	require.Equal(t, 1, updates)
	require.Equal(t, "C0MONITORING: [RESOLVED] DiskAlmostFull", b.slack.text("1700000000.000001"))

	audit, err := store.ListAudit(ctx, b.db.Pool, subject(g.GroupKey), 10)
	require.NoError(t, err)
	require.Len(t, audit, 2)
	require.Equal(t, "monitoring.alert_update", audit[0].Action)
	require.Equal(t, "monitoring.alert_group", audit[1].Action)

	err = b.m.Alert(ctx, Group{GroupKey: "", Status: Firing})
	msg, ok := commands.UserMessage(err)
	require.True(t, ok)
	require.Contains(t, msg, "groupKey is empty")
}

func TestAlertSurvivesSlackFailure(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.slack.fail = true
	g := group(Firing, alert("a1", Firing, "db-1", t0))
	require.Error(t, b.m.Alert(ctx, g), "the webhook answers 5xx so Alertmanager retries")
	b.slack.fail = false
	require.NoError(t, b.m.Alert(ctx, g), "the retry posts what was stored")
	posts, _ := b.slack.state()
	require.Equal(t, 1, posts)
}

func TestConcurrentNotificationsPostOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := group(Firing, alert("a1", Firing, "db-1", t0), alert(fmt.Sprint("x", i%2), Firing, "db-x", t0))
			require.NoError(t, b.m.Alert(context.Background(), g))
		}()
	}
	wg.Wait()
	posts, _ := b.slack.state()
	require.Equal(t, 1, posts)
}

func TestReactions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	require.NoError(t, b.m.Alert(ctx, group(Firing, alert("a1", Firing, "db-1", t0))))
	require.NoError(t, b.m.Alert(ctx, Group{GroupKey: "other", Status: Firing, Alerts: []Alert{alert("o", Firing, "x", t0)}}))
	msg, other := "1700000000.000001", "1700000000.000002"

	step := func(typ, user, channel, ts, emoji string, wantUpdates int, wantText string) {
		t.Helper()
		b.event(t, typ, user, channel, ts, emoji)
		_, updates := b.slack.state()
		require.Equal(t, wantUpdates, updates, "%s %s %s", typ, user, emoji)
		require.Equal(t, wantText, b.slack.text(msg))
	}
	unacked := "C0MONITORING: [FIRING:1] DiskAlmostFull"
	step("reaction_added", "U0OUTSIDE", "C0MONITORING", msg, AckEmoji, 0, unacked) // not a person of the configuration
	step("reaction_added", "U0ENGA", "C0MONITORING", msg, "eyes", 0, unacked)      // another emoji
	step("reaction_added", "U0ENGA", "C0MONITORING", msg, "heavy_check_mark", 0, unacked)
	step("reaction_added", "U0ENGA", "C0ENGINEERING", msg, AckEmoji, 0, unacked)                // another channel
	step("reaction_added", "U0ENGA", "C0MONITORING", "1699999999.000001", AckEmoji, 0, unacked) // a message that is no alert group
	step("reaction_removed", "U0ENGA", "C0MONITORING", msg, AckEmoji, 0, unacked)               // nothing to take back

	acked := "C0MONITORING: [FIRING:1] DiskAlmostFull — acknowledged by Engineer A"
	step("reaction_added", "U0ENGA", "C0MONITORING", msg, AckEmoji, 1, acked)
	step("reaction_added", "U0ENGA", "C0MONITORING", msg, AckEmoji, 1, acked) // redelivered
	step("reaction_added", "U0ENGB", "C0MONITORING", other, AckEmoji, 2, acked)
	require.Equal(t, "C0MONITORING: [FIRING:1] DiskAlmostFull — acknowledged by Engineer B", b.slack.text(other))
	step("reaction_removed", "U0ENGB", "C0MONITORING", msg, AckEmoji, 2, acked) // B never reacted here
	step("reaction_removed", "U0OUTSIDE", "C0MONITORING", msg, AckEmoji, 2, acked)
	step("reaction_added", "U0CTO", "C0MONITORING", msg, AckEmoji, 3, acked) // shown as "also CTO"
	step("reaction_removed", "U0ENGA", "C0MONITORING", msg, AckEmoji, 4, "C0MONITORING: [FIRING:1] DiskAlmostFull — acknowledged by CTO")
	step("reaction_removed", "U0CTO", "C0MONITORING", msg, AckEmoji, 5, unacked)
	step("reaction_removed", "U0CTO", "C0MONITORING", msg, AckEmoji, 5, unacked) // redelivered

	audit, err := store.ListAudit(ctx, b.db.Pool, subject(group(Firing).GroupKey), 20)
	require.NoError(t, err)
	var actions []string
	for _, a := range audit {
		actions = append(actions, a.Actor+" "+a.Action)
	}
	require.Equal(t, []string{"U0CTO monitoring.unack", "U0ENGA monitoring.unack", "U0CTO monitoring.ack", "U0ENGA monitoring.ack", "alertmanager monitoring.alert_group"}, actions)
}
