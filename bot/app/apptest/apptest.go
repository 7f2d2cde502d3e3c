// Package apptest starts the whole bot against the simulated Slack, a fresh
// PostgreSQL database and the test Redis, for end-to-end tests that read like
// a user story: as U0ENGB send "/oncall swap <@U0ENGA>", expect a DM, click.
package apptest

import (
	"context"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/contextinject/oncallbot/bot/app"
	"github.com/contextinject/oncallbot/bot/slacksim"
	"github.com/contextinject/oncallbot/commands/config"
	"github.com/contextinject/oncallbot/store/storetest"
)

// Clock is a settable clock shared by the app and the test.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock stopped at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Options customise a Harness.
type Options struct {
	Config *config.Config    // default: the built-in configuration
	Now    time.Time         // default: 2026-11-04T12:00:00Z (shift 0, Engineer A primary)
	Env    map[string]string // what the app reads through Getenv (PAGERDUTY_TOKEN, …)
	// DatabaseURL reuses a database (two replicas); default a fresh one.
	DatabaseURL string
	// Sim reuses a simulated Slack (two replicas); default a new one.
	Sim *slacksim.Server
	// NoRedis runs on PostgreSQL alone.
	NoRedis bool
	// Log receives the app's logs; default: discarded unless ONCALLBOT_TEST_LOG=1.
	Log *slog.Logger
}

// Harness is a running bot with its simulated Slack.
type Harness struct {
	Sim    *slacksim.Server
	App    *app.App
	Clock  *Clock
	Config *config.Config
	DBURL  string
}

// DefaultNow is a Wednesday of shift 0 of the built-in rotation.
var DefaultNow = time.Date(2026, 11, 4, 12, 0, 0, 0, time.UTC)

// New starts a bot for t and stops it when t ends.
func New(t testing.TB, o Options) *Harness {
	t.Helper()
	if o.Config == nil {
		o.Config = config.Default()
	}
	if o.Now.IsZero() {
		o.Now = DefaultNow
	}
	if o.Log == nil {
		var w io.Writer = io.Discard
		if os.Getenv("ONCALLBOT_TEST_LOG") == "1" {
			w = os.Stderr
		}
		o.Log = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	h := &Harness{Clock: NewClock(o.Now), Config: o.Config}
	h.Sim = o.Sim
	if h.Sim == nil {
		sim, err := slacksim.New(SimOptions(o.Config))
		if err != nil {
			t.Fatalf("apptest: start simulated Slack: %v", err)
		}
		t.Cleanup(sim.Close)
		h.Sim = sim
	}
	h.DBURL = o.DatabaseURL
	if h.DBURL == "" {
		h.DBURL = storetest.FreshURL(t)
	}
	redisURL := os.Getenv("TEST_REDIS_URL")
	if redisURL == "" {
		redisURL = storetest.DefaultRedisURL
	}
	if o.NoRedis {
		redisURL = ""
	}
	getenv := func(k string) string { return o.Env[k] }
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := app.Start(ctx, app.Options{
		Config: o.Config, DatabaseURL: h.DBURL, RedisURL: redisURL,
		SlackAPIURL: h.Sim.APIURL(), AppToken: slacksim.AppToken, BotToken: slacksim.BotToken,
		HTTPAddr: "127.0.0.1:0", Log: o.Log, Now: h.Clock.Now, Getenv: getenv, Drain: 5 * time.Second,
	})
	if err != nil {
		t.Fatalf("apptest: start app: %v", err)
	}
	h.App = a
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := a.Stop(sctx); err != nil {
			t.Errorf("apptest: stop app: %v", err)
		}
	})
	if err := a.WaitConnected(10 * time.Second); err != nil {
		t.Fatalf("apptest: %v", err)
	}
	return h
}

// SimOptions returns simulated-Slack options holding cfg's people and channels.
func SimOptions(cfg *config.Config) slacksim.Options {
	o := slacksim.Options{}
	for _, p := range cfg.People {
		o.Users = append(o.Users, slacksim.User{ID: p.SlackID, Name: strings.ToLower(strings.ReplaceAll(p.Name, " ", ".")), RealName: p.Name, Email: p.Email, TZ: "UTC"})
	}
	for _, c := range []slacksim.Channel{
		{ID: cfg.Channels.Incidents, Name: "incidents"},
		{ID: cfg.Channels.Engineering, Name: "engineering"},
		{ID: cfg.Channels.Monitoring, Name: "monitoring"},
	} {
		if c.ID != "" {
			o.Channels = append(o.Channels, c)
		}
	}
	return o
}

// Slash sends a slash command line ("/oncall schedule 2") as user in channel
// and returns the envelope id.
func (h *Harness) Slash(t testing.TB, user, channel, line string) string {
	t.Helper()
	cmd, text, _ := strings.Cut(strings.TrimSpace(line), " ")
	id, err := h.Sim.SlashCommand(user, channel, cmd, text)
	if err != nil {
		t.Fatalf("apptest: send %q: %v", line, err)
	}
	return id
}

// WaitMessage waits for a message matching pred.
func (h *Harness) WaitMessage(t testing.TB, pred func(*slacksim.Message) bool) *slacksim.Message {
	t.Helper()
	m, err := h.Sim.WaitMessage(10*time.Second, pred)
	if err != nil {
		t.Fatalf("apptest: %v", err)
	}
	return m
}

// WaitEphemeral waits for an answer shown only to user that contains every
// one of parts.
func (h *Harness) WaitEphemeral(t testing.TB, user string, parts ...string) *slacksim.Message {
	t.Helper()
	return h.WaitMessage(t, func(m *slacksim.Message) bool {
		return m.Ephemeral && m.EphemeralTo == user && containsAll(m.AllText(), parts)
	})
}

// WaitIn waits for a message in channel (or a DM to a user ID) containing every one of parts.
func (h *Harness) WaitIn(t testing.TB, channel string, parts ...string) *slacksim.Message {
	t.Helper()
	return h.WaitMessage(t, func(m *slacksim.Message) bool {
		in := m.Channel == channel || m.DMTo == channel
		return in && !m.Ephemeral && containsAll(m.AllText(), parts)
	})
}

// Click presses the button actionID of msg as user.
func (h *Harness) Click(t testing.TB, user string, msg *slacksim.Message, actionID string) string {
	t.Helper()
	id, err := h.Sim.Click(user, msg, actionID)
	if err != nil {
		t.Fatalf("apptest: click %s: %v", actionID, err)
	}
	return id
}

// Ephemerals returns the answers shown to user so far.
func (h *Harness) Ephemerals(user string) []*slacksim.Message {
	var out []*slacksim.Message
	for _, m := range h.Sim.Messages() {
		if m.Ephemeral && m.EphemeralTo == user {
			out = append(out, m)
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

var dateToken = regexp.MustCompile(`<!date\^\d+\^[^|>]*\|([^>]*)>`)

// Plain replaces Slack date tokens with their fallback text, as a reader in
// UTC would see them.
func Plain(s string) string { return dateToken.ReplaceAllString(s, "$1") }

// DefaultConfig returns the built-in configuration.
func DefaultConfig() *config.Config { return config.Default() }
