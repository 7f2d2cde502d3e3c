package handoff

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/commands/config"
	"github.com/contextinject/oncallbot/commands/rotation"
)

func TestPrefillSaysNoneWhenNothingHappened(t *testing.T) {
	t.Parallel()
	f := Prefill(config.Default(), nil, nil, nil, nil)
	require.Equal(t, Fields{Active: "- None", Recent: "- None this week", Changes: "- None", Maintenance: "- None scheduled", Watch: "- All clear"}, f)
}

func TestPrefillFromData(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	created := utc("2026-11-04T10:00:00Z")
	open := []Incident{{ID: 7, Title: "API  returning\nerrors", Severity: "P2", Status: "acknowledged", Owner: "U0ENGA", CreatedAt: created, AckedAt: created.Add(5 * time.Minute), LatestUpdate: "Rolled back; watching"}}
	recent := []Incident{
		{ID: 5, Title: "Queue depth", Severity: "P3", CreatedAt: created, ResolvedAt: created.Add(65 * time.Minute), Outcome: "scaled workers"},
		open[0],
	}
	changes := []Change{{Kind: "deploy", Name: "production", Status: "success", Actor: "octocat", At: utc("2026-11-05T10:03:00Z"), URL: "https://github.com/acme/infra/deployments"},
		{Kind: "workflow", Name: "Build", Status: "failure", At: utc("2026-11-05T11:00:00Z")}}
	next := []rotation.Override{{Role: rotation.Primary, UserID: "U0ENGA", Replaces: "U0ENGB", Start: utc("2026-11-10T09:00:00Z"), End: utc("2026-11-11T09:00:00Z"), Source: "swap"}}
	f := Prefill(cfg, open, recent, changes, next)
	require.Equal(t, "- #7 API returning errors (P2): acknowledged, owner Engineer A; latest: Rolled back; watching", f.Active)
	require.Equal(t, "- #5 Queue depth (P3): resolved after 1h5m — scaled workers\n- #7 API returning errors (P2): still acknowledged", f.Recent)
	require.Equal(t, "- Deploy production: success by octocat, Thu 5 Nov 10:03 UTC https://github.com/acme/infra/deployments\n- Workflow Build: failure, Thu 5 Nov 11:00 UTC", f.Changes)
	require.Equal(t, "- Engineer A covers primary for Engineer B from Tue 10 Nov 09:00 UTC to Wed 11 Nov 09:00 UTC (swap)", f.Watch)

	many := make([]Incident, 200)
	for i := range many {
		many[i] = Incident{ID: int64(i), Title: strings.Repeat("x", 40), Severity: "P3"}
	}
	long := Prefill(cfg, many, nil, nil, nil).Active
	require.LessOrEqual(t, len(long), maxPrefill)
	require.Contains(t, long, "more")
}

func TestNormalize(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{"- a", "- b", "- c", "- d"}, Normalize("- a\n\n  b \r\n• c\n* d\n"))
	require.Empty(t, Normalize(" \n - \n"))
}

// The runbook's handoff message template (runbook §7) with nothing to report.
const runbookMessage = `On-Call Handoff: Engineer A -> Engineer B
Week of: <!date^1794214800^{date_long}|Monday 9 November 2026>

Active Issues:
- None

Recent Incidents:
- None this week

Infrastructure Changes:
- None

Upcoming Maintenance:
- None scheduled

Things to Watch:
- All clear

<@U0ENGB> — you are now on-call. Questions?`

func TestMessageIsTheRunbookTemplate(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	b := utc("2026-11-09T09:00:00Z")
	require.Equal(t, runbookMessage, Message(cfg, "U0ENGA", "U0ENGB", b, Prefill(cfg, nil, nil, nil, nil)))
	// Blank sections still say the runbook's words; typed lines become bullets.
	got := Message(cfg, "U0ENGA", "U0ENGB", b, Fields{Active: "Disk on db-1: watching\n- cert renewal: due Friday", Watch: "  "})
	require.Contains(t, got, "Active Issues:\n- Disk on db-1: watching\n- cert renewal: due Friday\n\nRecent Incidents:\n- None this week")
	require.Contains(t, got, "Things to Watch:\n- All clear")
}

func TestComputeNumbers(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	wed := utc("2026-11-04T10:00:00Z")
	sat := utc("2026-11-07T10:00:00Z")
	now := utc("2026-11-09T09:00:00Z")
	recent := []Incident{
		// P2 acked after 45m (target 30m): a miss; resolved in 2h (target 4h).
		{ID: 1, Title: "API errors", Severity: "P2", CreatedAt: wed, AckedAt: wed.Add(45 * time.Minute), ResolvedAt: wed.Add(2 * time.Hour)},
		// P2 acked in 10m, resolved in 3h: no miss.
		{ID: 2, Title: "Latency", Severity: "P2", CreatedAt: wed, AckedAt: wed.Add(10 * time.Minute), ResolvedAt: wed.Add(3 * time.Hour)},
		// P1 acked in 5m and never resolved: the 1h resolve target is missed.
		{ID: 3, Title: "Outage", Severity: "P1", CreatedAt: wed, AckedAt: wed.Add(5 * time.Minute)},
		// P3 on Saturday: its clocks start Monday 09:00 (next business
		// morning), so an ack on Monday at 10:00 is within 2h.
		{ID: 4, Title: "Queue", Severity: "P3", CreatedAt: sat, AckedAt: utc("2026-11-09T10:00:00Z")},
	}
	open := []Incident{recent[2], {ID: 9, Title: "Unacked", Severity: "P4", CreatedAt: wed}}
	n := ComputeNumbers(cfg, recent, open, nil, utc("2026-11-02T09:00:00Z"), now, now)
	require.Len(t, n.Severities, 4)
	p1, p2, p3, p4 := n.Severities[0], n.Severities[1], n.Severities[2], n.Severities[3]
	require.Equal(t, 1, p1.Pages)
	require.Equal(t, 2, p2.Pages)
	require.Equal(t, 1, p3.Pages)
	require.Equal(t, 0, p4.Pages)
	require.Equal(t, 1, p2.AckMisses)
	require.Equal(t, 0, p2.ResolveMisses)
	require.Equal(t, (45*time.Minute+10*time.Minute)/2, p2.MedianAck)
	require.Equal(t, 150*time.Minute, p2.MedianResolve)
	require.Equal(t, 0, p3.AckMisses)
	require.Equal(t, 1, p1.ResolveMisses)
	require.Len(t, n.Misses, 2)
	require.Equal(t, Miss{Incident: recent[0], What: "acknowledge", Took: 45 * time.Minute, Due: wed.Add(30 * time.Minute), Target: "30m"}, n.Misses[0])
	require.Equal(t, "resolve", n.Misses[1].What)
	require.Zero(t, n.Misses[1].Took)
	require.Equal(t, []Incident{recent[2]}, n.AckedUnresolved)

	text := n.Text(cfg)
	for _, want := range []string{
		"Pages by severity: P1 1 · P2 2 · P3 1 · P4 0",
		"P2: acknowledged 2/2, median 27m (target 30m, 1 missed); resolved 2/2, median 2h30m (target 4h, 0 missed)",
		"• #1 API errors (P2): acknowledge — took 45m, target 30m",
		"• #3 Outage (P1): resolve — not done yet, due",
		"Acknowledged but unresolved:\n• #3 Outage (P1)",
		"Swaps and overrides next shift: none",
	} {
		require.Contains(t, text, want)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	all := []string{"active", "alerts", "changes", "issues", "maintenance", "pagerduty", "post"}
	ok := Fields{Active: "- None", Recent: "None this week", Changes: "None", Maintenance: "None scheduled", Watch: "All clear"}
	require.Nil(t, Validate(all, ok))
	errs := Validate(all[:5], Fields{Active: " ", Recent: "x", Changes: "x", Maintenance: "x", Watch: strings.Repeat("y", maxSection+1)})
	require.Contains(t, errs[blockChecklist], "Update PagerDuty schedule")
	require.Equal(t, `Write "None" when there is nothing to report.`, errs[blockActive])
	require.Contains(t, errs[blockWatch], "under")
	require.NotContains(t, errs, blockRecent)
}

func TestShort(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		45 * time.Second: "45s", 12 * time.Minute: "12m", time.Hour: "1h", 65 * time.Minute: "1h5m",
		49 * time.Hour: "2d1h", 48 * time.Hour: "2d", -time.Second: "0s",
	} {
		require.Equal(t, want, short(d))
	}
}
