package calendar

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/commands"
	"github.com/contextinject/oncallbot/commands/config"
	"github.com/contextinject/oncallbot/store"
	"github.com/contextinject/oncallbot/store/storetest"
)

// sent is a message the fake Slack received.
type sent struct {
	Channel, TS, Text string
}

// fakeSlack records posts and updates; FailPosts makes the next posts fail.
type fakeSlack struct {
	mu        sync.Mutex
	posts     []sent
	updates   []sent
	FailPosts int
}

func (f *fakeSlack) Post(_ context.Context, channel string, msg commands.Message) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.FailPosts > 0 {
		f.FailPosts--
		return "", errors.New("slack: ratelimited")
	}
	ts := fmt.Sprintf("1700000000.%06d", len(f.posts)+1)
	f.posts = append(f.posts, sent{channel, ts, msg.Text})
	return ts, nil
}

func (f *fakeSlack) Update(_ context.Context, channel, ts string, msg commands.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.updates = append(f.updates, sent{channel, ts, msg.Text})
	return nil
}

func (f *fakeSlack) Reply(context.Context, string, string, commands.Message) (string, error) {
	return "", errors.New("not used")
}
func (f *fakeSlack) Ephemeral(context.Context, string, string, commands.Message) error { return nil }
func (f *fakeSlack) OpenView(context.Context, string, slack.ModalViewRequest) error    { return nil }
func (f *fakeSlack) PublishHome(context.Context, string, slack.HomeTabViewRequest) error {
	return nil
}
func (f *fakeSlack) Permalink(context.Context, string, string) (string, error) { return "", nil }
func (f *fakeSlack) SetUsergroup(context.Context, string, []string) error      { return nil }

// to returns the posts to channel (a user ID for DMs).
func (f *fakeSlack) to(channel string) []sent {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []sent
	for _, p := range f.posts {
		if p.Channel == channel {
			out = append(out, p)
		}
	}
	return out
}

func (f *fakeSlack) counts() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for _, p := range f.posts {
		out[p.Channel]++
	}
	return out
}

func (f *fakeSlack) updated() []sent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sent(nil), f.updates...)
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// bundle is a module over a fresh database.
type bundle struct {
	m     *Module
	db    *store.DB
	slack *fakeSlack
	clock *clock
	cfg   *config.Config
}

func newBundle(t *testing.T, db *store.DB, cfg *config.Config, c *clock) *bundle {
	t.Helper()
	if cfg == nil {
		cfg = config.Default()
	}
	if c == nil {
		c = &clock{t: at(0, 51*time.Hour)}
	}
	fs := &fakeSlack{}
	m, err := New(commands.Deps{Config: cfg, DB: db, Slack: fs, Now: c.Now, Log: slog.New(slog.DiscardHandler)},
		Options{BaseURL: func() string { return "https://oncall.example.com/" }})
	require.NoError(t, err)
	return &bundle{m: m, db: db, slack: fs, clock: c, cfg: cfg}
}

var urlRE = regexp.MustCompile(`https://oncall\.example\.com/calendar/([A-Za-z0-9_-]+)\.ics`)

// tokens runs /oncall calendar [args] as user and returns the personal and
// team tokens of the answer.
func (b *bundle) tokens(t *testing.T, user, args string) (personal, team string) {
	t.Helper()
	resp, err := b.m.command(context.Background(), commands.Slash{UserID: user, Command: "/oncall", Sub: "calendar", Args: args})
	require.NoError(t, err)
	m := urlRE.FindAllStringSubmatch(resp.Ephemeral.Text, -1)
	require.Len(t, m, 2, resp.Ephemeral.Text)
	return m[0][1], m[1][1]
}

func (b *bundle) get(t *testing.T, path string, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	b.m.ServeHTTP(rec, req)
	return rec
}

func (b *bundle) insert(t *testing.T, o Override) {
	t.Helper()
	_, err := store.InsertOverride(context.Background(), b.db.Pool, store.Override{
		Role: string(o.Role), UserID: o.UserID, Start: o.Start, End: o.End, Reason: o.Reason, Replaces: o.Replaces,
		Source: o.Source, Ref: o.Ref, CreatedBy: o.CreatedBy, CreatedAt: o.CreatedAt,
	})
	require.NoError(t, err)
}

func TestCalendarCommandAndTokens(t *testing.T) {
	t.Parallel()
	b := newBundle(t, storetest.DB(t), nil, nil)
	ctx := context.Background()

	personal, team := b.tokens(t, engA, "")
	for _, tok := range []string{personal, team} {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		require.NoError(t, err)
		require.GreaterOrEqual(t, len(raw)*8, 128, "at least 128 bits")
	}
	require.NotEqual(t, personal, team)

	// At rest: a selector and a hash, never the token.
	var dump string
	require.NoError(t, b.db.Pool.QueryRow(ctx, `SELECT string_agg(row_to_json(t)::text, ' ') FROM calendar_tokens t`).Scan(&dump))
	require.NotContains(t, dump, personal)
	require.NotContains(t, dump, team)
	raw, _ := base64.RawURLEncoding.DecodeString(personal)
	require.NotContains(t, dump, fmt.Sprintf("%x", raw), "the full token is not stored in hex either")

	rec := b.get(t, "/calendar/"+personal+".ics")
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "text/calendar; charset=utf-8", rec.Header().Get("Content-Type"))
	require.Equal(t, cacheControl, rec.Header().Get("Cache-Control"))
	_, evs := parse(t, rec.Body.String())
	require.Contains(t, evs, "shift-0-primary-U0ENGA@oncall.example.com")
	require.NotContains(t, evs, "shift-0-secondary-U0ENGB@oncall.example.com", "only Engineer A's shifts")

	rec = b.get(t, "/calendar/"+personal+".ics", "If-None-Match", rec.Header().Get("ETag"))
	require.Equal(t, http.StatusNotModified, rec.Code)
	require.Empty(t, rec.Body.String())

	rec = b.get(t, "/calendar/"+team+".ics")
	require.Equal(t, http.StatusOK, rec.Code)
	_, evs = parse(t, rec.Body.String())
	require.Contains(t, evs, "shift-0-team@oncall.example.com")

	// Wrong tokens of every shape: 404 and nothing else.
	wrong := []byte(raw)
	wrong[20] ^= 0xff // same selector, different secret: fails the constant-time compare
	for _, path := range []string{
		"/calendar/" + base64.RawURLEncoding.EncodeToString(wrong) + ".ics",
		"/calendar/" + strings.Repeat("A", 43) + ".ics",
		"/calendar/short.ics",
		"/calendar/" + personal,
		"/calendar/" + personal + ".ics/x",
		"/calendar/.ics",
	} {
		rec := b.get(t, path)
		require.Equal(t, http.StatusNotFound, rec.Code, path)
		require.Empty(t, rec.Body.String(), path)
		require.Empty(t, rec.Header().Get("Content-Type"), path)
	}

	// Another /oncall calendar issues new links; the old ones keep working.
	p2, _ := b.tokens(t, engA, "")
	require.NotEqual(t, personal, p2)
	require.Equal(t, http.StatusOK, b.get(t, "/calendar/"+personal+".ics").Code)

	// Reset revokes every earlier link and issues working ones.
	p3, t3 := b.tokens(t, engA, "reset")
	for _, old := range []string{personal, team, p2} {
		require.Equal(t, http.StatusNotFound, b.get(t, "/calendar/"+old+".ics").Code)
	}
	require.Equal(t, http.StatusOK, b.get(t, "/calendar/"+p3+".ics").Code)
	require.Equal(t, http.StatusOK, b.get(t, "/calendar/"+t3+".ics").Code)

	audit, err := store.ListAudit(ctx, b.db.Pool, "calendar:"+engA, 100)
	require.NoError(t, err)
	actions := map[string]int{}
	for _, e := range audit {
		actions[e.Action]++
		require.Equal(t, engA, e.Actor)
	}
	require.Equal(t, map[string]int{"calendar.token.issue": 6, "calendar.token.revoke": 1}, actions)
}

func TestCalendarCommandRefusals(t *testing.T) {
	t.Parallel()
	b := newBundle(t, storetest.DB(t), nil, nil)
	ctx := context.Background()
	for _, tc := range []struct {
		user, args string
		code       commands.Code
		says       string
	}{
		{"U0STRANGER", "", commands.Forbidden, "people of the on-call configuration"},
		{engA, "now", commands.Invalid, "Usage: /oncall calendar [reset]"},
		{engA, "reset please", commands.Invalid, "takes nothing or `reset`"},
	} {
		_, err := b.m.command(ctx, commands.Slash{UserID: tc.user, Args: tc.args})
		var ue *commands.Error
		require.ErrorAs(t, err, &ue, tc.args)
		require.Equal(t, tc.code, ue.Code)
		require.Contains(t, ue.Message, tc.says)
	}
	var n int
	require.NoError(t, b.db.Pool.QueryRow(ctx, `SELECT count(*) FROM calendar_tokens`).Scan(&n))
	require.Zero(t, n, "nothing issued")

	for range maxActive {
		b.tokens(t, engB, "")
	}
	_, err := b.m.command(ctx, commands.Slash{UserID: engB})
	var ue *commands.Error
	require.ErrorAs(t, err, &ue)
	require.Equal(t, commands.Conflict, ue.Code)
	b.tokens(t, engB, "reset")
}

func TestFeedOfSomeoneRemovedFromTheConfiguration(t *testing.T) {
	t.Parallel()
	db := storetest.DB(t)
	b := newBundle(t, db, nil, nil)
	personal, team := b.tokens(t, cto, "")
	require.Equal(t, http.StatusOK, b.get(t, "/calendar/"+team+".ics").Code)

	cfg := config.Default()
	cfg.People = cfg.People[:3] // without the CTO
	b2 := newBundle(t, db, cfg, nil)
	for _, tok := range []string{personal, team} {
		rec := b2.get(t, "/calendar/"+tok+".ics")
		require.Equal(t, http.StatusNotFound, rec.Code)
		require.Empty(t, rec.Body.String())
	}
}

func TestCheckTellsOncePerPerson(t *testing.T) {
	t.Parallel()
	b := newBundle(t, storetest.DB(t), nil, nil)
	ctx := context.Background()
	now := b.clock.Now()

	// The first check only takes snapshots.
	require.NoError(t, b.m.Check(ctx))
	require.Empty(t, b.slack.counts())

	// A swap accepted by Engineer B: both parties were shown it, no DMs.
	for _, o := range swapOverrides(0, engA, engB, 2, 3, engB) {
		o.CreatedAt = now
		b.insert(t, o)
	}
	b.clock.Set(now.Add(time.Minute))
	require.NoError(t, b.m.Check(ctx))
	require.Empty(t, b.slack.counts())

	// PagerDuty drift puts the CTO on Engineer B's primary shift 1.
	drift := ov(0, "primary", cto, engB, at(1, 0), at(2, 0), "pagerduty", "", "pagerduty")
	drift.Reason, drift.CreatedAt = "PagerDuty schedule PPRIMARY differs", now
	b.insert(t, drift)
	b.clock.Set(now.Add(2 * time.Minute))
	require.NoError(t, b.m.Check(ctx))
	require.Equal(t, map[string]int{engB: 1, cto: 1}, b.slack.counts())
	require.Contains(t, b.slack.to(cto)[0].Text, "New *primary* shift")
	require.Contains(t, b.slack.to(engB)[0].Text, "is no longer yours")
	require.Contains(t, b.slack.to(engB)[0].Text, "PagerDuty schedule PPRIMARY differs")

	// Nothing new: nothing sent.
	b.clock.Set(now.Add(3 * time.Minute))
	require.NoError(t, b.m.Check(ctx))
	require.Equal(t, map[string]int{engB: 1, cto: 1}, b.slack.counts())

	// Engineer A takes Engineer B's shift 5 with an override of their own
	// (no ref): B is told, A (its creator) is not.
	take := ov(0, "primary", engA, engB, at(5, 0), at(6, 0), "command", "", engA)
	take.CreatedAt = now
	b.insert(t, take)
	b.clock.Set(now.Add(4 * time.Minute))
	require.NoError(t, b.m.Check(ctx))
	require.Equal(t, map[string]int{engB: 2, cto: 1}, b.slack.counts())

	audit, err := store.ListAudit(ctx, b.db.Pool, "calendar:"+engA, 10)
	require.NoError(t, err)
	require.NotEmpty(t, audit, "changes are audited, told or not")
}

func TestCheckRetriesAFailedDM(t *testing.T) {
	t.Parallel()
	b := newBundle(t, storetest.DB(t), nil, nil)
	ctx := context.Background()
	now := b.clock.Now()
	require.NoError(t, b.m.Check(ctx))
	drift := ov(0, "secondary", cto, engB, at(2, 0), at(3, 0), "pagerduty", "", "pagerduty")
	drift.CreatedAt = now
	b.insert(t, drift)
	b.slack.FailPosts = 1
	require.NoError(t, b.m.Check(ctx))
	require.Equal(t, map[string]int{cto: 1}, b.slack.counts(), "the first DM failed, the second went out")
	require.NoError(t, b.m.Check(ctx))
	require.Equal(t, map[string]int{engB: 1, cto: 1}, b.slack.counts(), "the failed one is retried once")
	require.NoError(t, b.m.Check(ctx))
	require.Equal(t, map[string]int{engB: 1, cto: 1}, b.slack.counts())
}

// TestCheckAcrossReplicas: two replicas checking at once tell each person once.
func TestCheckAcrossReplicas(t *testing.T) {
	t.Parallel()
	db := storetest.DB(t)
	c := &clock{t: at(0, 51*time.Hour)}
	r1, r2 := newBundle(t, db, nil, c), newBundle(t, db, nil, c)
	shared := &fakeSlack{}
	r1.m.d.Slack, r2.m.d.Slack = shared, shared
	ctx := context.Background()
	require.NoError(t, r1.m.Check(ctx))
	for i, o := range []Override{
		ov(0, "primary", cto, engA, at(2, 0), at(3, 0), "pagerduty", "", "pagerduty"),
		ov(0, "secondary", lead, engA, at(3, 0), at(4, 0), "pagerduty", "", "pagerduty"),
	} {
		o.CreatedAt = c.Now().Add(time.Duration(i) * time.Second)
		r1.insert(t, o)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 4 {
		for _, r := range []*bundle{r1, r2} {
			wg.Go(func() { errs <- r.m.Check(ctx) })
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, map[string]int{engA: 1, cto: 1, lead: 1}, shared.counts())
	require.Equal(t, 2, strings.Count(shared.to(engA)[0].Text, "•"), "one DM listing both changes")
}

func TestLookAheadPostedOnceAndEditedInPlace(t *testing.T) {
	t.Parallel()
	b := newBundle(t, storetest.DB(t), nil, &clock{t: at(0, 30*time.Minute)})
	ctx := context.Background()
	// The clock stands at Monday 09:30, half an hour after the handoff reminder.

	require.NoError(t, b.m.LookAhead(ctx))
	require.NoError(t, b.m.LookAhead(ctx))
	posts := b.slack.to("C0ENGINEERING")
	require.Len(t, posts, 1, "once per slot")
	require.Equal(t, 4, strings.Count(posts[0].Text, "• "), posts[0].Text)
	require.Contains(t, posts[0].Text, "primary Engineer A, secondary Engineer B")

	require.NoError(t, b.m.Check(ctx))
	require.Empty(t, b.slack.updated(), "nothing changed, nothing edited")

	// A swap on Wednesday: the message is edited, not posted again.
	now := at(0, 51*time.Hour)
	b.clock.Set(now)
	for _, o := range swapOverrides(0, engA, engB, 2, 3, engB) {
		o.CreatedAt = now
		b.insert(t, o)
	}
	require.NoError(t, b.m.Check(ctx))
	require.NoError(t, b.m.Check(ctx))
	up := b.slack.updated()
	require.Len(t, up, 1)
	require.Equal(t, posts[0].TS, up[0].TS)
	require.Contains(t, up[0].Text, "primary Engineer B _(swap, instead of Engineer A)_")
	require.Len(t, b.slack.to("C0ENGINEERING"), 1)

	// The next Monday's reminder posts a new one.
	b.clock.Set(at(1, time.Minute))
	require.NoError(t, b.m.LookAhead(ctx))
	require.Len(t, b.slack.to("C0ENGINEERING"), 2)

	// A reminder slot missed by more than the grace is skipped.
	b.clock.Set(at(2, 13*time.Hour))
	require.NoError(t, b.m.LookAhead(ctx))
	require.Len(t, b.slack.to("C0ENGINEERING"), 2)
	var n int
	require.NoError(t, b.db.Pool.QueryRow(ctx, `SELECT count(*) FROM cron_runs WHERE job = $1`, lookAheadJob).Scan(&n))
	require.Equal(t, 2, n)

	// The console's `run lookahead` posts it anyway, still once.
	require.NoError(t, b.m.LookAheadNow(ctx))
	require.NoError(t, b.m.LookAheadNow(ctx))
	require.Len(t, b.slack.to("C0ENGINEERING"), 3)
}

func TestLookAheadRetriesAFailedPost(t *testing.T) {
	t.Parallel()
	b := newBundle(t, storetest.DB(t), nil, &clock{t: at(0, time.Minute)})
	ctx := context.Background()
	b.slack.FailPosts = 1
	require.Error(t, b.m.LookAhead(ctx))
	require.Empty(t, b.slack.to("C0ENGINEERING"))
	require.NoError(t, b.m.Check(ctx))
	require.Len(t, b.slack.to("C0ENGINEERING"), 1)
}
