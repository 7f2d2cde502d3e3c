package swap_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/bot/app/apptest"
	"github.com/contextinject/oncallbot/commands/config"
	"github.com/contextinject/oncallbot/commands/swap"
	"github.com/contextinject/oncallbot/integrations/pagerduty/pagerdutytest"
)

var rotStart = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

func day(d, h int) time.Time { return time.Date(2026, 11, d, h, 0, 0, 0, time.UTC) }

// pdHarness starts the bot with PagerDuty at a fake mirroring the built-in
// rotation on PPRIMARY and PSECONDARY. edit may change the configuration.
func pdHarness(t *testing.T, edit func(*config.Config)) (*apptest.Harness, *pagerdutytest.Server) {
	t.Helper()
	f := pagerdutytest.New(t)
	cfg := config.Default()
	for _, p := range cfg.People {
		f.AddUser(p.PagerDutyID, p.Name, p.Email)
	}
	f.SetSchedule("PPRIMARY", pagerdutytest.Rotation([]string{"PENGA", "PENGB"}, 0, rotStart, 168*time.Hour, 30))
	f.SetSchedule("PSECONDARY", pagerdutytest.Rotation([]string{"PENGA", "PENGB"}, 1, rotStart, 168*time.Hour, 30))
	if edit != nil {
		edit(cfg)
	}
	h := apptest.New(t, apptest.Options{Config: cfg, Env: map[string]string{
		"PAGERDUTY_TOKEN": pagerdutytest.Token, "PAGERDUTY_API_URL": f.URL,
	}})
	return h, f
}

type ov struct {
	user       string
	start, end time.Time
}

func overrides(f *pagerdutytest.Server, schedule string) []ov {
	var out []ov
	for _, o := range f.Overrides(schedule) {
		out = append(out, ov{o.UserID, o.Start.UTC(), o.End.UTC()})
	}
	return out
}

func waitOverrides(t *testing.T, f *pagerdutytest.Server, n int) {
	t.Helper()
	f.Wait(t, 15*time.Second, "PagerDuty overrides", func(f *pagerdutytest.Server) bool {
		return len(f.Overrides("PPRIMARY"))+len(f.Overrides("PSECONDARY")) == n
	})
}

// wantSwap is what B's shift 1 for A's shift 2 writes to PagerDuty.
var (
	wantPrimary   = []ov{{"PENGA", day(9, 9), day(16, 9)}, {"PENGB", day(16, 9), day(23, 9)}}
	wantSecondary = []ov{{"PENGB", day(9, 9), day(16, 9)}, {"PENGA", day(16, 9), day(23, 9)}}
)

func TestPagerDutyOverridesFollowSwapAndUndo(t *testing.T) {
	t.Parallel()
	// Engineer B has no pagerduty_id: found by email.
	h, f := pdHarness(t, func(c *config.Config) { c.People[1].PagerDutyID = "" })
	_, invite := request(t, h)
	h.Click(t, engA, invite, swap.ActionAccept)
	dm(t, h, engB, "Swap #1 is agreed", "PagerDuty overrides are being written")
	waitOverrides(t, f, 4)
	require.Equal(t, wantPrimary, overrides(f, "PPRIMARY"))
	require.Equal(t, wantSecondary, overrides(f, "PSECONDARY"))
	require.Equal(t, "engineer-b@contextinject.ai", f.Calls(http.MethodGet, "/users")[0].Query.Get("query"))
	require.Eventually(t, func() bool {
		n := 0
		for _, a := range audited(t, h, "swap:1") {
			if a == "swap.pagerduty_override" {
				n++
			}
		}
		return n == 4
	}, 10*time.Second, 20*time.Millisecond)

	// Who is on call is read from PagerDuty, which now holds the swap.
	h.Clock.Set(day(10, 12))
	h.Slash(t, engB, eng, "/oncall")
	m := h.WaitEphemeral(t, engB, "On call now")
	require.Contains(t, m.Text, "Primary: Engineer A (<@U0ENGA>) _(swap")
	require.NotContains(t, m.Text, "PagerDuty could not be reached")
	require.NotEmpty(t, f.Calls(http.MethodGet, "/oncalls"))

	// Undo removes them again.
	h.Clock.Set(apptest.DefaultNow)
	h.Slash(t, engA, eng, "/oncall swap undo")
	ask := dm(t, h, engB, "wants to undo swap #1", "Confirm undo")
	h.Click(t, engB, ask, swap.ActionUndoConfirm)
	h.WaitIn(t, eng, "Swap #1 between", "is undone")
	f.Wait(t, 15*time.Second, "four DELETEs", func(f *pagerdutytest.Server) bool { return len(f.Calls(http.MethodDelete, "/schedules/")) == 4 })
	waitOverrides(t, f, 0)
}

func TestPagerDutyRateLimitIsRetried(t *testing.T) {
	t.Parallel()
	h, f := pdHarness(t, nil)
	f.FailNext(http.MethodPost, "/schedules/", 1, http.StatusTooManyRequests, 1)
	_, invite := request(t, h)
	h.Click(t, engA, invite, swap.ActionAccept)
	f.Wait(t, 15*time.Second, "five POSTs", func(f *pagerdutytest.Server) bool { return len(f.Calls(http.MethodPost, "/schedules/")) == 5 })
	waitOverrides(t, f, 4)
	require.Equal(t, wantPrimary, overrides(f, "PPRIMARY"))
	require.Equal(t, wantSecondary, overrides(f, "PSECONDARY"))
	posts := f.Calls(http.MethodPost, "/schedules/")
	require.Len(t, posts, 5, "one 429 retried, then four overrides")
	require.Equal(t, http.StatusTooManyRequests, posts[0].Status)
	require.Equal(t, "accepted", swapStatus(t, h, 1))
	require.Zero(t, count(h, eng, "called off"))
}

func TestPagerDutyHalfASwapIsRolledBack(t *testing.T) {
	t.Parallel()
	h, f := pdHarness(t, nil)
	// The primary override is written, the secondary one refused.
	f.FailNext(http.MethodPost, "/schedules/PSECONDARY/", 1, http.StatusBadRequest, 0)
	_, invite := request(t, h)
	h.Click(t, engA, invite, swap.ActionAccept)
	for _, who := range []string{engA, engB, eng} {
		m := h.WaitIn(t, who, "Swap #1 between Engineer B (<@U0ENGB>) and Engineer A (<@U0ENGA>) is called off", "PagerDuty refused it")
		require.Contains(t, apptest.Plain(m.Text), "Engineer B keeps primary Mon 9 Nov 2026 09:00 UTC → Mon 16 Nov 2026 09:00 UTC")
	}
	f.Wait(t, 15*time.Second, "the DELETE", func(f *pagerdutytest.Server) bool {
		return len(f.Calls(http.MethodDelete, "/schedules/PPRIMARY/")) == 1
	})
	waitOverrides(t, f, 0)
	require.Len(t, f.Calls(http.MethodPost, "/schedules/PPRIMARY/"), 1)
	require.Equal(t, "failed", swapStatus(t, h, 1))
	sched := schedule(t, h, engA)
	require.NotContains(t, sched, "swap")
	require.Contains(t, audited(t, h, "swap:1"), "swap.pagerduty_failed")
}

func TestPagerDutyIsTheSourceAndDownFallsBack(t *testing.T) {
	t.Parallel()
	h, f := pdHarness(t, nil)
	// An override made in PagerDuty itself shows in /oncall.
	f.AddOverride(pagerdutytest.Override{ScheduleID: "PPRIMARY", UserID: "PCTO", Start: day(4, 10), End: day(4, 14)})
	h.Slash(t, engA, eng, "/oncall")
	m := h.WaitEphemeral(t, engA, "On call now")
	require.Contains(t, m.Text, "Primary: CTO (<@U0CTO>) _(pagerduty")

	f.SetDown(true)
	h.Clock.Advance(time.Minute) // past the cache
	h.Slash(t, engB, eng, "/oncall")
	m = h.WaitEphemeral(t, engB, "On call now")
	require.Contains(t, m.Text, "PagerDuty could not be reached; this is the bot's own schedule.")
	require.Contains(t, m.Text, "Primary: Engineer A")
}

func TestDriftIsReportedOnceAndFollowed(t *testing.T) {
	t.Parallel()
	h, f := pdHarness(t, nil)
	_, invite := request(t, h)
	h.Click(t, engA, invite, swap.ActionAccept)
	waitOverrides(t, f, 4)
	ctx := context.Background()
	require.NoError(t, h.App.Swap.CheckDrift(ctx))
	require.Zero(t, count(h, eng, "in PagerDuty"))

	// Deleted in PagerDuty's UI: A's primary override for shift 1.
	prim := f.Overrides("PPRIMARY")
	require.True(t, f.RemoveOverride("PPRIMARY", prim[0].ID))
	require.NoError(t, h.App.Swap.CheckDrift(ctx))
	require.NoError(t, h.App.Swap.CheckDrift(ctx))
	h.WaitIn(t, eng, "The PagerDuty override of swap #1", "Engineer A (<@U0ENGA>) as primary", "was deleted in PagerDuty")
	dm(t, h, engA, "was deleted in PagerDuty")
	dm(t, h, engB, "was deleted in PagerDuty")
	require.Equal(t, 1, count(h, eng, "was deleted in PagerDuty"))
	require.Contains(t, schedule(t, h, engA), "Mon 9 Nov 2026 09:00 UTC → Mon 16 Nov 2026 09:00 UTC: primary Engineer B, secondary none _(swap, instead of Engineer A")

	// Edited in PagerDuty's UI: B's primary override for shift 2 now names the lead.
	require.True(t, f.EditOverride("PPRIMARY", prim[1].ID, func(o *pagerdutytest.Override) { o.UserID = "PLEAD" }))
	require.NoError(t, h.App.Swap.CheckDrift(ctx))
	h.WaitIn(t, eng, "was changed in PagerDuty: it now puts Engineering Lead (<@U0LEAD>)")
	dm(t, h, lead, "was changed in PagerDuty")
	require.NoError(t, h.App.Swap.CheckDrift(ctx))
	require.Equal(t, 1, count(h, eng, "was changed in PagerDuty"))
	require.Contains(t, schedule(t, h, engA), "Mon 16 Nov 2026 09:00 UTC → Mon 23 Nov 2026 09:00 UTC: primary Engineering Lead _(pagerduty, instead of Engineer A")
	n := 0
	for _, a := range audited(t, h, "swap:1") {
		if a == "swap.drift" {
			n++
		}
	}
	require.Equal(t, 2, n)
}
