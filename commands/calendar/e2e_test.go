package calendar_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	ics "github.com/arran4/golang-ical"
	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/bot/app/apptest"
	"github.com/contextinject/oncallbot/bot/slacksim"
	"github.com/contextinject/oncallbot/commands/config"
	"github.com/contextinject/oncallbot/store"
)

// syncBuffer collects the app's logs from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var feedURL = regexp.MustCompile(`http://localhost:(\d+)/calendar/([A-Za-z0-9_-]{43})\.ics`)

// harness starts the bot whose public URL is its loopback listener.
func harness(t *testing.T, now time.Time) (*apptest.Harness, *syncBuffer) {
	t.Helper()
	cfg := config.Default()
	cfg.HTTP.PublicURL = "" // http://localhost:<port of HTTP_ADDR>
	logs := &syncBuffer{}
	h := apptest.New(t, apptest.Options{Config: cfg, Now: now,
		Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	return h, logs
}

func fetch(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, string(body)
}

// urls waits for the /oncall calendar answer to user and returns its two
// feed URLs (personal, team) and tokens.
func urls(t *testing.T, h *apptest.Harness, user string, parts ...string) (urls, tokens []string) {
	t.Helper()
	msg := h.WaitEphemeral(t, user, append(parts, "/calendar/")...)
	for _, m := range feedURL.FindAllStringSubmatch(msg.AllText(), -1) {
		urls = append(urls, m[0])
		tokens = append(tokens, m[2])
	}
	require.Len(t, urls, 2, msg.AllText())
	return urls, tokens
}

func TestCalendarEndToEnd(t *testing.T) {
	t.Parallel()
	h, logs := harness(t, apptest.DefaultNow)
	_, port, err := net.SplitHostPort(h.App.HTTPAddr())
	require.NoError(t, err)

	h.Slash(t, "U0ENGA", "C0INCIDENTS", "/oncall calendar")
	first, firstTokens := urls(t, h, "U0ENGA", "Google Calendar", "Outlook", "Apple Calendar")
	require.Contains(t, first[0], "http://localhost:"+port+"/calendar/", "the URL is served by this bot")

	code, hdr, body := fetch(t, first[0])
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "text/calendar; charset=utf-8", hdr.Get("Content-Type"))
	require.NotEmpty(t, hdr.Get("ETag"))
	cal, err := ics.ParseCalendar(strings.NewReader(body))
	require.NoError(t, err)
	byUID := map[string]*ics.VEvent{}
	for _, ev := range cal.Events() {
		byUID[ev.Id()] = ev
	}
	ev := byUID["shift-0-primary-U0ENGA@localhost"]
	require.NotNil(t, ev, "Engineer A's first primary shift")
	start, err := ev.GetStartAt()
	require.NoError(t, err)
	require.Equal(t, time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC), start)
	require.Equal(t, "On-call primary: Engineer A (secondary Engineer B)", ev.GetProperty(ics.ComponentPropertySummary).Value)
	require.Len(t, ev.Alarms(), 1)

	code, _, body = fetch(t, first[1])
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "UID:shift-1-team@localhost")

	// An unknown token: 404, nothing said.
	unknown := strings.Replace(first[0], firstTokens[0], strings.Repeat("x", 43), 1)
	code, hdr, body = fetch(t, unknown)
	require.Equal(t, http.StatusNotFound, code)
	require.Empty(t, body)
	require.Empty(t, hdr.Get("Content-Type"))

	// Reset: the old links die, the new ones work.
	h.Slash(t, "U0ENGA", "C0INCIDENTS", "/oncall calendar reset")
	second, secondTokens := urls(t, h, "U0ENGA", "revoked")
	for _, u := range first {
		code, _, body := fetch(t, u)
		require.Equal(t, http.StatusNotFound, code)
		require.Empty(t, body)
	}
	for _, u := range second {
		code, _, _ := fetch(t, u)
		require.Equal(t, http.StatusOK, code)
	}

	// No token ever reaches the logs (debug level included).
	out := logs.String()
	for _, tok := range append(firstTokens, secondTokens...) {
		require.NotContains(t, out, tok)
	}
}

func TestShiftMovedDMEndToEnd(t *testing.T) {
	t.Parallel()
	h, _ := harness(t, apptest.DefaultNow)
	ctx := context.Background()
	require.NoError(t, h.App.Calendar.Check(ctx)) // the snapshot (if the periodic run has not taken it yet)

	// PagerDuty drift moves Engineer B's primary shift 1 to the CTO.
	now := h.Clock.Now()
	_, err := store.InsertOverride(ctx, h.App.DB.Pool, store.Override{
		Role: "primary", UserID: "U0CTO", Replaces: "U0ENGB", Source: "pagerduty", Reason: "PagerDuty schedule drift",
		Start: time.Date(2026, 11, 9, 9, 0, 0, 0, time.UTC), End: time.Date(2026, 11, 16, 9, 0, 0, 0, time.UTC),
		CreatedBy: "pagerduty", CreatedAt: now,
	})
	require.NoError(t, err)
	require.NoError(t, h.App.Calendar.Check(ctx))
	b := h.WaitIn(t, "U0ENGB", "Your on-call shifts changed", "no longer yours", "PagerDuty schedule drift")
	h.WaitIn(t, "U0CTO", "Your on-call shifts changed", "New *primary* shift")
	require.Contains(t, apptest.Plain(b.Text), "Mon 9 Nov 2026 09:00 UTC")

	require.NoError(t, h.App.Calendar.Check(ctx))
	dms := map[string]int{}
	for _, m := range h.Sim.Messages() {
		if m.DMTo != "" && strings.Contains(m.Text, "Your on-call shifts changed") {
			dms[m.DMTo]++
		}
	}
	require.Equal(t, map[string]int{"U0ENGB": 1, "U0CTO": 1}, dms)
}

func TestLookAheadEditedInPlaceEndToEnd(t *testing.T) {
	t.Parallel()
	monday := time.Date(2026, 11, 2, 9, 5, 0, 0, time.UTC)
	h, _ := harness(t, monday)
	ctx := context.Background()
	require.NoError(t, h.App.Calendar.LookAhead(ctx))
	post := h.WaitIn(t, "C0ENGINEERING", "On-call look-ahead")

	// Wednesday: Engineer A and B swap shifts 2 and 3 (as the swap feature
	// stores it); the look-ahead is edited, not posted again.
	wed := time.Date(2026, 11, 4, 12, 0, 0, 0, time.UTC)
	h.Clock.Set(wed)
	for _, o := range []store.Override{
		{Role: "primary", UserID: "U0ENGB", Replaces: "U0ENGA", Start: time.Date(2026, 11, 16, 9, 0, 0, 0, time.UTC), End: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)},
		{Role: "secondary", UserID: "U0ENGA", Replaces: "U0ENGB", Start: time.Date(2026, 11, 16, 9, 0, 0, 0, time.UTC), End: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)},
		{Role: "primary", UserID: "U0ENGA", Replaces: "U0ENGB", Start: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC), End: time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)},
		{Role: "secondary", UserID: "U0ENGB", Replaces: "U0ENGA", Start: time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC), End: time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)},
	} {
		o.Source, o.Ref, o.CreatedBy, o.CreatedAt = "swap", "swap:1", "U0ENGB", wed
		_, err := store.InsertOverride(ctx, h.App.DB.Pool, o)
		require.NoError(t, err)
	}
	require.NoError(t, h.App.Calendar.Check(ctx))
	edited := h.WaitMessage(t, func(m *slacksim.Message) bool {
		return m.Channel == "C0ENGINEERING" && m.TS == post.TS && m.Updates > 0
	})
	require.Contains(t, edited.Text, "primary Engineer B _(swap, instead of Engineer A)_")
	n := 0
	for _, m := range h.Sim.Messages() {
		if m.Channel == "C0ENGINEERING" && strings.Contains(m.Text, "On-call look-ahead") {
			n++
		}
	}
	require.Equal(t, 1, n, "one message for the week")
	require.Equal(t, 1, edited.Updates)
}
