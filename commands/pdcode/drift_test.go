package pdcode_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/commands"
	"github.com/contextinject/oncallbot/commands/pdcode"
	"github.com/contextinject/oncallbot/store"
	"github.com/contextinject/oncallbot/store/storetest"
)

// fakeSlack records posts; only Post is used by the drift check.
type fakeSlack struct {
	commands.Messenger
	mu    sync.Mutex
	posts []string
	fail  bool
}

func (f *fakeSlack) Post(_ context.Context, channel string, msg commands.Message) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return "", errors.New("slack is down")
	}
	f.posts = append(f.posts, channel+": "+msg.Text)
	return "1.000001", nil
}

func (f *fakeSlack) Posts() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.posts...)
}

func TestDriftReportedOncePerChange(t *testing.T) {
	t.Parallel()
	b := setup(t)
	db := storetest.DB(t)
	slack := &fakeSlack{}
	var mu sync.Mutex
	notes := map[string]string{}
	clock := now
	d := commands.Deps{Config: b.cfg, DB: db, Slack: slack, Log: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return clock },
		Notes: func(name, detail string) {
			mu.Lock()
			defer mu.Unlock()
			notes[name] = detail
		}}
	note := func() string {
		mu.Lock()
		defer mu.Unlock()
		return notes[pdcode.NoteName]
	}
	drift := pdcode.NewDrift(d, b.pd)
	ctx := context.Background()
	check := func() {
		t.Helper()
		clock = clock.Add(24 * time.Hour)
		require.NoError(t, drift.Check(ctx))
	}

	check()
	require.Empty(t, slack.Posts(), "an equal PagerDuty at the first check is not news")
	require.Contains(t, note(), "in sync (checked 2026-11-05T12:00:00Z)")

	p := b.fake.Policy("PPOLICY")
	p["num_loops"] = 4
	b.fake.SetPolicy("PPOLICY", p)
	check()
	require.Len(t, slack.Posts(), 1)
	require.Contains(t, slack.Posts()[0], "C0MONITORING: :warning: *PagerDuty drifted from the configuration.*")
	require.Contains(t, slack.Posts()[0], "num_loops: PagerDuty has 4")
	require.Contains(t, note(), "1 difference (checked 2026-11-06T12:00:00Z)")
	require.Contains(t, note(), "num_loops: PagerDuty has 4")

	check()
	check()
	require.Len(t, slack.Posts(), 1, "the same drift is reported once")

	s := b.fake.Schedule("PPRIMARY")
	layer(s, 0)["rotation_turn_length_seconds"] = 3600
	b.fake.SetSchedule("PPRIMARY", s)
	slack.fail = true
	require.Error(t, drift.Check(ctx), "a failed announcement is an error for River to retry")
	require.Len(t, slack.Posts(), 1)
	slack.fail = false
	check()
	require.Len(t, slack.Posts(), 2, "the announcement that failed is made by the next check")
	require.Contains(t, slack.Posts()[1], "turn length: PagerDuty has 3600 seconds (1h)")
	check()
	require.Len(t, slack.Posts(), 2)

	rep, err := pdcode.Check(ctx, b.cfg, b.pd, clock)
	require.NoError(t, err)
	require.Empty(t, pdcode.Apply(ctx, b.pd, rep).Failed)
	check()
	require.Len(t, slack.Posts(), 3)
	require.Contains(t, slack.Posts()[2], "PagerDuty matches the configuration again")
	require.Contains(t, note(), "in sync")
	check()
	require.Len(t, slack.Posts(), 3)

	audit, err := store.ListAudit(ctx, db.Pool, "pagerduty", 10)
	require.NoError(t, err)
	require.Len(t, audit, 3, "one audit row per change")
	require.Equal(t, "pagerduty.drift", audit[0].Action)

	// PagerDuty unreachable: the readiness detail says so; nothing is posted.
	b.fake.Fail("GET", "/escalation_policies/PPOLICY", 503, 2)
	require.Error(t, drift.Check(ctx))
	require.Contains(t, note(), "could not compare PagerDuty with the configuration")
	require.Len(t, slack.Posts(), 3)
}
