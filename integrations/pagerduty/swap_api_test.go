package pagerduty_test

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/integrations/pagerduty"
	"github.com/contextinject/oncallbot/integrations/pagerduty/pagerdutytest"
)

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

const week = 168 * time.Hour

type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(_ context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return nil
}

func newFake(t *testing.T) (*pagerdutytest.Server, *pagerduty.Client, *sleeps) {
	t.Helper()
	f := pagerdutytest.New(t)
	f.AddUser("PENGA", "Engineer A", "engineer-a@contextinject.ai")
	f.AddUser("PENGB", "Engineer B", "engineer-b@contextinject.ai")
	f.AddUser("PENGAB", "Engineer Abe", "engineer-abe@contextinject.ai")
	f.SetSchedule("PPRIMARY", pagerdutytest.Rotation([]string{"PENGA", "PENGB"}, 0, t0, week, 10))
	f.SetSchedule("PSECONDARY", pagerdutytest.Rotation([]string{"PENGA", "PENGB"}, 1, t0, week, 10))
	s := &sleeps{}
	c := pagerduty.New(pagerduty.Options{Token: pagerdutytest.Token, BaseURL: f.URL, Sleep: s.sleep})
	return f, c, s
}

func TestOnCallsFollowScheduleAndOverrides(t *testing.T) {
	t.Parallel()
	f, c, _ := newFake(t)
	ctx := context.Background()
	at := t0.Add(50 * time.Hour)
	got, err := c.OnCalls(ctx, []string{"PPRIMARY", "PSECONDARY"}, at, at.Add(time.Second))
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, "PPRIMARY", got[0].ScheduleID)
	require.Equal(t, "PENGA", got[0].User.ID)
	require.Equal(t, "engineer-a@contextinject.ai", got[0].User.Email)
	require.Equal(t, t0, got[0].Start)
	require.Equal(t, t0.Add(week), got[0].End)
	require.Equal(t, "PENGB", got[1].User.ID)

	calls := f.Calls(http.MethodGet, "/oncalls")
	require.Len(t, calls, 1)
	require.Equal(t, []string{"PPRIMARY", "PSECONDARY"}, calls[0].Query["schedule_ids[]"])
	require.Equal(t, at.Format(time.RFC3339), calls[0].Query.Get("since"))

	o, err := c.CreateOverride(ctx, pagerduty.Override{ScheduleID: "PPRIMARY", UserID: "PENGB", Start: t0.Add(48 * time.Hour), End: t0.Add(72 * time.Hour)})
	require.NoError(t, err)
	require.NotEmpty(t, o.ID)
	got, err = c.OnCalls(ctx, []string{"PPRIMARY"}, at, at.Add(time.Second))
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "PENGB", got[0].User.ID)
	require.Equal(t, t0.Add(48*time.Hour), got[0].Start)
}

func TestCreateOverrideSendsLegacyBodyAndListsDeletes(t *testing.T) {
	t.Parallel()
	f, c, _ := newFake(t)
	ctx := context.Background()
	start, end := t0.Add(week), t0.Add(2*week)
	o, err := c.CreateOverride(ctx, pagerduty.Override{ScheduleID: "PPRIMARY", UserID: "PENGA", Start: start, End: end})
	require.NoError(t, err)
	require.Equal(t, pagerduty.Override{ID: o.ID, ScheduleID: "PPRIMARY", UserID: "PENGA", Start: start, End: end}, o)

	posts := f.Calls(http.MethodPost, "/schedules/PPRIMARY/overrides")
	require.Len(t, posts, 1)
	var body map[string]map[string]any
	require.NoError(t, json.Unmarshal(posts[0].Body, &body))
	require.Equal(t, "2026-11-09T09:00:00Z", body["override"]["start"])
	require.Equal(t, map[string]any{"id": "PENGA", "type": "user_reference"}, body["override"]["user"])

	list, err := c.ListOverrides(ctx, "PPRIMARY", start, end)
	require.NoError(t, err)
	require.Equal(t, []pagerduty.Override{o}, list)

	require.NoError(t, c.DeleteOverride(ctx, "PPRIMARY", o.ID))
	require.NoError(t, c.DeleteOverride(ctx, "PPRIMARY", o.ID), "an override already gone counts as removed")
	require.Empty(t, f.Overrides("PPRIMARY"))
}

func TestRateLimitedThenSuccessIsRetriedHonouringRetryAfter(t *testing.T) {
	t.Parallel()
	f, c, s := newFake(t)
	f.FailNext(http.MethodPost, "/schedules/", 1, http.StatusTooManyRequests, 7)
	_, err := c.CreateOverride(context.Background(), pagerduty.Override{ScheduleID: "PPRIMARY", UserID: "PENGB", Start: t0, End: t0.Add(time.Hour)})
	require.NoError(t, err)
	require.Len(t, f.Calls(http.MethodPost, "/schedules/PPRIMARY/overrides"), 2)
	require.Equal(t, []time.Duration{7 * time.Second}, s.d)
	require.Len(t, f.Overrides("PPRIMARY"), 1, "one override, not two")
}

func TestErrorsAreClassified(t *testing.T) {
	t.Parallel()
	f, c, _ := newFake(t)
	ctx := context.Background()
	_, err := c.CreateOverride(ctx, pagerduty.Override{ScheduleID: "PPRIMARY", UserID: "PNOBODY", Start: t0, End: t0.Add(time.Hour)})
	require.Error(t, err)
	require.False(t, pagerduty.IsTemporary(err), "an unknown user is not worth retrying: %v", err)

	f.SetDown(true)
	_, err = c.ListOverrides(ctx, "PPRIMARY", t0, t0.Add(time.Hour))
	require.Error(t, err)
	require.True(t, pagerduty.IsTemporary(err))
	f.SetDown(false)

	_, err = c.ListOverrides(ctx, "PNOPE", t0, t0.Add(time.Hour))
	require.True(t, pagerduty.IsNotFound(err))
}

func TestUserByEmailMatchesExactly(t *testing.T) {
	t.Parallel()
	f, c, _ := newFake(t)
	ctx := context.Background()
	u, err := c.UserByEmail(ctx, "Engineer-A@ContextInject.ai")
	require.NoError(t, err)
	require.Equal(t, pagerduty.User{ID: "PENGA", Name: "Engineer A", Email: "engineer-a@contextinject.ai"}, u)
	require.Equal(t, "Engineer-A@ContextInject.ai", f.Calls(http.MethodGet, "/users")[0].Query.Get("query"))

	_, err = c.UserByEmail(ctx, "engineer@contextinject.ai")
	require.ErrorIs(t, err, pagerduty.ErrNoUser)
}
