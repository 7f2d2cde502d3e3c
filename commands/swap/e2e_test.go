package swap_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/bot/app/apptest"
	"github.com/contextinject/oncallbot/bot/slacksim"
	"github.com/contextinject/oncallbot/commands/swap"
	"github.com/contextinject/oncallbot/store"
)

const (
	engA = "U0ENGA"
	engB = "U0ENGB"
	lead = "U0LEAD"
	eng  = "C0ENGINEERING"
)

// dm waits for a DM to user containing parts.
func dm(t *testing.T, h *apptest.Harness, user string, parts ...string) *slacksim.Message {
	t.Helper()
	return h.WaitIn(t, user, parts...)
}

// count returns how many messages (DMs to user, or in channel) contain part.
func count(h *apptest.Harness, where, part string) int {
	n := 0
	for _, m := range h.Sim.Messages() {
		if (m.Channel == where || m.DMTo == where) && !m.Ephemeral && strings.Contains(m.AllText(), part) {
			n++
		}
	}
	return n
}

func swapStatus(t *testing.T, h *apptest.Harness, id int64) string {
	t.Helper()
	var status string
	require.NoError(t, h.App.DB.Pool.QueryRow(context.Background(), `SELECT status FROM swaps WHERE id = $1`, id).Scan(&status))
	return status
}

func audited(t *testing.T, h *apptest.Harness, subject string) []string {
	t.Helper()
	entries, err := store.ListAudit(context.Background(), h.App.DB.Pool, subject, 100)
	require.NoError(t, err)
	var out []string
	for i := len(entries) - 1; i >= 0; i-- {
		out = append(out, entries[i].Action)
	}
	return out
}

// schedule returns the answer to a new `/oncall schedule 4` of user.
func schedule(t *testing.T, h *apptest.Harness, user string) string {
	t.Helper()
	seen := map[string]bool{}
	for _, m := range h.Ephemerals(user) {
		seen[m.TS] = true
	}
	h.Slash(t, user, eng, "/oncall schedule 4")
	m := h.WaitMessage(t, func(m *slacksim.Message) bool {
		return m.Ephemeral && m.EphemeralTo == user && strings.Contains(m.Text, "Next 4 shifts") && !seen[m.TS]
	})
	return apptest.Plain(m.Text)
}

// staleClick presses a button of msg as it was when captured, as a Slack
// client showing an outdated copy would (the sim only clicks current
// buttons).
func staleClick(t *testing.T, h *apptest.Harness, user string, msg *slacksim.Message, actionID string) {
	t.Helper()
	var b slacksim.Button
	for _, x := range msg.Buttons() {
		if x.ActionID == actionID {
			b = x
		}
	}
	require.NotEmpty(t, b.ActionID, "message has no button %s", actionID)
	payload, err := json.Marshal(map[string]any{
		"type": "block_actions", "api_app_id": slacksim.AppID, "team": map[string]any{"id": slacksim.TeamID},
		"user":      map[string]any{"id": user},
		"channel":   map[string]any{"id": msg.Channel},
		"container": map[string]any{"type": "message", "message_ts": msg.TS, "channel_id": msg.Channel},
		"actions":   []any{map[string]any{"type": "button", "action_id": b.ActionID, "block_id": b.BlockID, "value": b.Value, "action_ts": "1.0"}},
	})
	require.NoError(t, err)
	require.NoError(t, h.Sim.Send(slacksim.Envelope{Type: "interactive", Payload: payload}))
}

// home returns user's App Home as readable text once it contains want.
func home(t *testing.T, h *apptest.Harness, user, want string) (*slacksim.View, string) {
	t.Helper()
	unescape := strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&")
	v, err := h.Sim.WaitView(10*time.Second, func(v *slacksim.View) bool {
		return v.User == user && v.Type == "home" && strings.Contains(apptest.Plain(unescape.Replace(string(v.Raw))), want)
	})
	require.NoError(t, err)
	return v, apptest.Plain(unescape.Replace(string(v.Raw)))
}

// request sends a swap request from B to A at DefaultNow: B's shift 1
// (Mon 9 Nov → Mon 16 Nov) for A's shift 2 (Mon 16 Nov → Mon 23 Nov).
func request(t *testing.T, h *apptest.Harness) (answer, invite *slacksim.Message) {
	t.Helper()
	h.Slash(t, engB, eng, "/oncall swap <@U0ENGA>")
	answer = h.WaitEphemeral(t, engB, "Swap request #1 sent to Engineer A")
	invite = dm(t, h, engA, "Engineer B (<@U0ENGB>) asks to swap primary on-call shifts with you", "Accept")
	return answer, invite
}

func TestSwapRequestAcceptedChangesTheSchedule(t *testing.T) {
	t.Parallel()
	h := apptest.New(t, apptest.Options{})
	require.Contains(t, schedule(t, h, engA), "Mon 9 Nov 2026 09:00 UTC → Mon 16 Nov 2026 09:00 UTC: primary Engineer B, secondary Engineer A")

	answer, invite := request(t, h)
	text := apptest.Plain(invite.AllText())
	require.Contains(t, text, "Engineer A (<@U0ENGA>) takes primary Mon 9 Nov 2026 09:00 UTC → Mon 16 Nov 2026 09:00 UTC (Engineer B's shift)")
	require.Contains(t, text, "Engineer B (<@U0ENGB>) takes primary Mon 16 Nov 2026 09:00 UTC → Mon 23 Nov 2026 09:00 UTC (Engineer A's shift)")
	require.Contains(t, text, "expires Thu 5 Nov 2026 12:00 UTC")
	require.Equal(t, swap.ActionCancel, answer.Buttons()[0].ActionID)

	acceptEnv := h.Click(t, engA, invite, swap.ActionAccept)
	for _, who := range []string{engA, engB} {
		c := dm(t, h, who, "Swap #1 is agreed", "Undo swap")
		require.Contains(t, apptest.Plain(c.AllText()), "Mon 16 Nov 2026 09:00 UTC → Mon 23 Nov 2026 09:00 UTC")
	}
	notice := h.WaitIn(t, eng, "On-call swap #1 between Engineer B (<@U0ENGB>) and Engineer A (<@U0ENGA>)")
	require.Contains(t, apptest.Plain(notice.Text), "Engineer A (<@U0ENGA>) takes primary Mon 9 Nov 2026 09:00 UTC → Mon 16 Nov 2026 09:00 UTC")
	h.WaitMessage(t, func(m *slacksim.Message) bool {
		return m.TS == invite.TS && strings.Contains(m.Text, "was accepted") && len(m.Buttons()) == 0
	})

	sched := schedule(t, h, engB)
	require.Contains(t, sched, "Mon 9 Nov 2026 09:00 UTC → Mon 16 Nov 2026 09:00 UTC: primary Engineer A _(swap, instead of Engineer B, until Mon 16 Nov 2026 09:00 UTC)_, secondary Engineer B _(swap")
	require.Contains(t, sched, "Mon 16 Nov 2026 09:00 UTC → Mon 23 Nov 2026 09:00 UTC: primary Engineer B _(swap, instead of Engineer A")
	require.Equal(t, "accepted", swapStatus(t, h, 1))
	require.Equal(t, []string{"swap.request", "swap.accept", "swap.accepted"}, audited(t, h, "swap:1"))

	// After the swap, who is on call during shift 1 follows it.
	h.Clock.Set(time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC))
	h.Slash(t, engA, eng, "/oncall")
	h.WaitEphemeral(t, engA, "Primary: Engineer A", "Secondary: Engineer B")

	// Races and repeats change nothing and answer clearly.
	require.NoError(t, h.Sim.Redeliver(acceptEnv))
	staleClick(t, h, engA, invite, swap.ActionAccept)
	h.WaitEphemeral(t, engA, "Swap request #1 was already accepted by Engineer A")
	staleClick(t, h, engA, invite, swap.ActionDecline)
	h.Click(t, engB, answer, swap.ActionCancel)
	h.WaitEphemeral(t, engB, "Swap request #1 was already accepted", "Nothing changed")
	require.Equal(t, 1, count(h, engA, "Swap #1 is agreed"))
	require.Equal(t, 1, count(h, eng, "On-call swap #1"))
	require.Equal(t, "accepted", swapStatus(t, h, 1))
	var n int
	require.NoError(t, h.App.DB.Pool.QueryRow(context.Background(), `SELECT count(*) FROM overrides WHERE ref = 'swap:1' AND deleted_at IS NULL`).Scan(&n))
	require.Equal(t, 4, n, "two primary and two secondary overrides (pool of two)")
}

func TestSwapDeclineCancelAndStrangers(t *testing.T) {
	t.Parallel()
	h := apptest.New(t, apptest.Options{})
	_, invite := request(t, h)

	// Someone else's click changes nothing.
	h.Click(t, lead, invite, swap.ActionAccept)
	h.WaitEphemeral(t, lead, "Swap request #1 is for Engineer A, not you; nothing changed.")
	h.Click(t, engB, invite, swap.ActionAccept)
	h.WaitEphemeral(t, engB, "Swap request #1 is for Engineer A, not you")
	require.Equal(t, "pending", swapStatus(t, h, 1))

	h.Click(t, engA, invite, swap.ActionDecline)
	dm(t, h, engB, "Engineer A (<@U0ENGA>) declined swap request #1")
	staleClick(t, h, engA, invite, swap.ActionAccept)
	h.WaitEphemeral(t, engA, "Swap request #1 was declined by Engineer A", "Nothing changed.")
	require.Equal(t, "declined", swapStatus(t, h, 1))
	require.Contains(t, schedule(t, h, engA), "Mon 9 Nov 2026 09:00 UTC → Mon 16 Nov 2026 09:00 UTC: primary Engineer B, secondary Engineer A")

	// A new request for the same shifts is allowed once the first is over;
	// cancelled by the caller, a late Accept changes nothing.
	h.Slash(t, engB, eng, "/oncall swap <@U0ENGA>")
	answer := h.WaitEphemeral(t, engB, "Swap request #2 sent")
	invite2 := dm(t, h, engA, "request #2", "Accept")
	staleClick(t, h, engA, answer, swap.ActionCancel)
	h.WaitEphemeral(t, engA, "Only Engineer B, who asked, can cancel swap request #2; nothing changed.")
	h.Click(t, engB, answer, swap.ActionCancel)
	h.WaitEphemeral(t, engB, "Swap request #2 is cancelled")
	staleClick(t, h, engA, invite2, swap.ActionAccept)
	h.WaitEphemeral(t, engA, "Swap request #2 was cancelled by Engineer B", "Nothing changed.")
	require.Equal(t, "cancelled", swapStatus(t, h, 2))
	require.Equal(t, []string{"swap.request", "swap.cancel"}, audited(t, h, "swap:2"))
}

func TestTwoPendingRequestsForTheSameShiftAreRefused(t *testing.T) {
	t.Parallel()
	h := apptest.New(t, apptest.Options{})
	request(t, h)
	// A's shift 2 is held by request #1; A asking B for it is refused.
	h.Slash(t, engA, eng, "/oncall swap <@U0ENGB> 2026-11-17")
	h.WaitEphemeral(t, engA, "There is already a pending swap request for one of these shifts: #1 between Engineer B and Engineer A")
	var n int
	require.NoError(t, h.App.DB.Pool.QueryRow(context.Background(), `SELECT count(*) FROM swaps`).Scan(&n))
	require.Equal(t, 1, n)
}

func TestSwapExpiresByRiverJob(t *testing.T) {
	t.Parallel()
	h := apptest.New(t, apptest.Options{})
	_, invite := request(t, h)
	h.Clock.Advance(24*time.Hour + time.Minute)
	ctx := context.Background()
	// The expiry job is scheduled at the request's deadline; the bot's
	// clock has passed it, so make River run it now rather than wait.
	require.Eventually(t, func() bool {
		res, err := h.App.Jobs.JobList(ctx, river.NewJobListParams().Kinds("swap_expire"))
		if err != nil || len(res.Jobs) == 0 {
			return false
		}
		for _, j := range res.Jobs {
			if _, err := h.App.Jobs.JobRetry(ctx, j.ID); err != nil {
				return false
			}
		}
		return true
	}, 10*time.Second, 20*time.Millisecond)
	dm(t, h, engB, "Swap request #1 expired without an answer from Engineer A")
	require.Equal(t, "expired", swapStatus(t, h, 1))
	staleClick(t, h, engA, invite, swap.ActionAccept)
	h.WaitEphemeral(t, engA, "Swap request #1 expired", "Nothing changed.")
	require.Equal(t, []string{"swap.request", "swap.expire"}, audited(t, h, "swap:1"))
}

func TestSwapAcceptAfterDeadlineBeforeJobExpires(t *testing.T) {
	t.Parallel()
	h := apptest.New(t, apptest.Options{})
	_, invite := request(t, h)
	h.Clock.Advance(25 * time.Hour)
	h.Click(t, engA, invite, swap.ActionAccept)
	h.WaitEphemeral(t, engA, "Swap request #1 expired", "nothing changed")
	require.Equal(t, "expired", swapStatus(t, h, 1))
}

func TestSwapBadInput(t *testing.T) {
	t.Parallel()
	h := apptest.New(t, apptest.Options{})
	cases := []struct{ user, line, want string }{
		{engA, "/oncall swap", "Tell me who to swap with."},
		{engA, "/oncall swap <@U0NOBODY>", "<@U0NOBODY> is not in the on-call configuration."},
		{engA, "/oncall swap <@U0LEAD>", "Engineering Lead (<@U0LEAD>) is not in the on-call pool"},
		{engA, "/oncall swap <@U0ENGA|engineer.a>", "You can't swap with yourself"},
		{engA, "/oncall swap <@U0ENGB> 2026-11-01", "2026-11-01 is in the past"},
		{engA, "/oncall swap <@U0ENGB> 2026-11-10", "You have no primary shift on Tue 10 Nov 2026. The next one is"},
		{engA, "/oncall swap <@U0ENGB> 2026-13-45", "`2026-13-45` is not a date in the form YYYY-MM-DD."},
		{engA, "/oncall swap <@U0ENGB> tomorrow", "`tomorrow` is not a date in the form YYYY-MM-DD."},
		{engA, "/oncall swap bob", "I don't know who `bob` is"},
		{engA, "/oncall swap <@U0ENGB> <@U0ENGA>", "Only admins can arrange a swap"},
		{lead, "/oncall swap <@U0ENGB>", "You are not in the on-call pool"},
		{lead, "/oncall swap <@U0ENGB> <@U0ENGB>", "Name two different people."},
		{engA, "/oncall swap undo", "You have no accepted swap that can still be undone"},
		{engA, "/oncall stats bob", "I don't know who `bob` is"},
	}
	for _, tc := range cases {
		h.Slash(t, tc.user, eng, tc.line)
		m := h.WaitEphemeral(t, tc.user, tc.want)
		require.Contains(t, m.Text, "Usage", tc.line)
	}
	var n int
	require.NoError(t, h.App.DB.Pool.QueryRow(context.Background(), `SELECT count(*) FROM swaps`).Scan(&n))
	require.Zero(t, n)
	for _, m := range h.Sim.Messages() {
		require.True(t, m.Ephemeral, "unexpected message %q", m.Text)
	}
}

func TestSwapUndoneBeforeItStarts(t *testing.T) {
	t.Parallel()
	h := apptest.New(t, apptest.Options{})
	_, invite := request(t, h)
	h.Click(t, engA, invite, swap.ActionAccept)
	confirm := dm(t, h, engA, "Swap #1 is agreed", "Undo swap")

	// B asks to undo by command; A confirms with the button.
	h.Slash(t, engB, eng, "/oncall swap undo")
	h.WaitEphemeral(t, engB, "I asked Engineer A to confirm undoing swap #1.")
	ask := dm(t, h, engA, "Engineer B (<@U0ENGB>) wants to undo swap #1", "Confirm undo")
	h.Click(t, engB, ask, swap.ActionUndoConfirm)
	h.WaitEphemeral(t, engB, "You asked to undo swap #1; Engineer A has to confirm.")
	h.Click(t, engA, confirm, swap.ActionUndo) // A pressing Undo too is the confirmation
	h.WaitIn(t, eng, "Swap #1 between Engineer B (<@U0ENGB>) and Engineer A (<@U0ENGA>) is undone")
	dm(t, h, engB, "is undone (asked by Engineer B, confirmed by Engineer A)")
	require.Equal(t, "undone", swapStatus(t, h, 1))
	require.Contains(t, schedule(t, h, engA), "Mon 9 Nov 2026 09:00 UTC → Mon 16 Nov 2026 09:00 UTC: primary Engineer B, secondary Engineer A")
	staleClick(t, h, engA, ask, swap.ActionUndoConfirm)
	h.WaitEphemeral(t, engA, "Swap #1 was undone by Engineer A", "Nothing changed.")
	require.Equal(t, []string{"swap.request", "swap.accept", "swap.accepted", "swap.undo_request", "swap.undone"}, audited(t, h, "swap:1"))

	// Once the first window has started, undo is refused.
	h.Slash(t, engB, eng, "/oncall swap <@U0ENGA>")
	inv := dm(t, h, engA, "request #2", "Accept")
	h.Click(t, engA, inv, swap.ActionAccept)
	dm(t, h, engB, "Swap #2 is agreed")
	h.Clock.Set(time.Date(2026, 11, 9, 10, 0, 0, 0, time.UTC))
	h.Slash(t, engA, eng, "/oncall swap undo #2")
	h.WaitEphemeral(t, engA, "Swap #2 started", "can no longer be undone")
}

func TestAdminArrangesSwapBothAccept(t *testing.T) {
	t.Parallel()
	h := apptest.New(t, apptest.Options{})
	h.Slash(t, lead, eng, "/oncall swap <@U0ENGA> <@U0ENGB> 2026-11-18")
	h.WaitEphemeral(t, lead, "Swap request #1 sent to Engineer A and Engineer B")
	invA := dm(t, h, engA, "Engineering Lead (<@U0LEAD>) proposes that Engineer A and Engineer B swap", "Both of you must accept")
	invB := dm(t, h, engB, "proposes that Engineer A and Engineer B swap", "Accept")
	require.Contains(t, apptest.Plain(invA.Text), "Engineer B (<@U0ENGB>) takes primary Mon 16 Nov 2026 09:00 UTC → Mon 23 Nov 2026 09:00 UTC (Engineer A's shift)")

	h.Click(t, engA, invA, swap.ActionAccept)
	h.WaitEphemeral(t, engA, "You accepted swap request #1; waiting for Engineer B.")
	dm(t, h, lead, "Engineer A accepted swap request #1; waiting for Engineer B.")
	require.Equal(t, "pending", swapStatus(t, h, 1))
	h.Click(t, engB, invB, swap.ActionAccept)
	dm(t, h, engA, "Swap #1 is agreed")
	dm(t, h, lead, "Swap request #1 was accepted")
	h.WaitIn(t, eng, "On-call swap #1")
	require.Contains(t, schedule(t, h, lead), "Mon 23 Nov 2026 09:00 UTC → Mon 30 Nov 2026 09:00 UTC: primary Engineer A _(swap")
}

func TestAppHomeShowsShiftsAndPendingSwaps(t *testing.T) {
	t.Parallel()
	h := apptest.New(t, apptest.Options{})
	request(t, h)
	_, err := h.Sim.OpenHome(engA)
	require.NoError(t, err)
	v, raw := home(t, h, engA, "Swap request #1")
	require.Contains(t, raw, "Your next shifts")
	require.Contains(t, raw, "primary: Wed 4 Nov 2026 12:00 UTC → Mon 9 Nov 2026 09:00 UTC")
	require.Contains(t, raw, "Next handoff: Mon 9 Nov 2026 09:00 UTC")
	var ids []string
	for _, b := range v.Buttons() {
		if strings.HasPrefix(b.ActionID, "swap.") {
			ids = append(ids, b.ActionID)
		}
	}
	require.Equal(t, []string{swap.ActionAccept, swap.ActionDecline}, ids)

	_, err = h.Sim.ClickView(engA, v.ID, swap.ActionAccept)
	require.NoError(t, err)
	dm(t, h, engB, "Swap #1 is agreed")
	// The home is republished with the agreed swap and its Undo button.
	_, raw = home(t, h, engA, "Swap #1* (agreed; can be undone until Mon 9 Nov 2026 09:00 UTC)")
	require.Contains(t, raw, swap.ActionUndo)

	// B, the requester, sees Cancel on a new request.
	h.Slash(t, engB, eng, "/oncall swap <@U0ENGA> 2026-11-30")
	h.WaitEphemeral(t, engB, "Swap request #2 sent")
	_, err = h.Sim.OpenHome(engB)
	require.NoError(t, err)
	_, raw = home(t, h, engB, "Swap request #2")
	require.Contains(t, raw, "waiting for Engineer A")
	require.Contains(t, raw, swap.ActionCancel)
}

type fakeIncidents struct{}

func (fakeIncidents) Stats(_ context.Context, user string, from, to time.Time) (int, time.Duration, error) {
	if user == engA {
		return 3, 4 * time.Minute, nil
	}
	return 0, 0, nil
}

func TestStats(t *testing.T) {
	t.Parallel()
	h := apptest.New(t, apptest.Options{Now: time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)})
	h.Slash(t, engA, eng, "/oncall stats")
	m := h.WaitEphemeral(t, engA, "On-call stats for Engineer A (<@U0ENGA>), 2026")
	require.Contains(t, m.Text, "Primary: 2 shifts (11 days 3 h)")
	require.Contains(t, m.Text, "Secondary: 1 shift (7 days)")
	require.Contains(t, m.Text, "Time off in lieu earned: 1.6 days")
	require.Contains(t, m.Text, "Swaps owed: +0")
	require.Contains(t, m.Text, "Incidents handled: no incidents yet")

	h.App.Swap.SetIncidentStats(fakeIncidents{})
	h.Slash(t, engB, eng, "/oncall stats <@U0ENGA>")
	m = h.WaitEphemeral(t, engB, "On-call stats for Engineer A")
	require.Contains(t, m.Text, "Incidents handled: 3 · median time to acknowledge: 4m0s")
	h.Slash(t, engB, eng, "/oncall stats")
	m = h.WaitEphemeral(t, engB, "On-call stats for Engineer B")
	require.Contains(t, m.Text, "Primary: 1 shift (7 days)")
	require.Contains(t, m.Text, "Incidents handled: no incidents yet")
}

func TestSwapOfTheCurrentShiftUpdatesUsergroupsNow(t *testing.T) {
	t.Parallel()
	h := apptest.New(t, apptest.Options{})
	require.Eventually(t, func() bool {
		g := h.Sim.Usergroup("S0PRIMARY")
		return len(g) == 1 && g[0] == engA
	}, 10*time.Second, 20*time.Millisecond)
	h.Slash(t, engA, eng, "/oncall swap <@U0ENGB>")
	h.WaitEphemeral(t, engA, "Swap request #1 sent to Engineer B")
	invite := dm(t, h, engB, "asks to swap", "Accept")
	require.Contains(t, apptest.Plain(invite.Text), "Engineer B (<@U0ENGB>) takes primary Wed 4 Nov 2026 12:00 UTC → Mon 9 Nov 2026 09:00 UTC")
	h.Click(t, engB, invite, swap.ActionAccept)
	dm(t, h, engA, "Swap #1 is agreed")
	require.Eventually(t, func() bool {
		p, s := h.Sim.Usergroup("S0PRIMARY"), h.Sim.Usergroup("S0SECONDARY")
		return len(p) == 1 && p[0] == engB && len(s) == 1 && s[0] == engA
	}, 10*time.Second, 20*time.Millisecond)
	h.Slash(t, engA, eng, "/oncall")
	h.WaitEphemeral(t, engA, "Primary: Engineer B (<@U0ENGB>) _(swap", "Secondary: Engineer A (<@U0ENGA>) _(swap")
}
