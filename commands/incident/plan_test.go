package incident

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/commands/config"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// step is a compact expectation: loop, step, instant, first notify word.
type step struct {
	loop, step int
	at         string
	notify     string
}

func TestPlanIncidentTimelines(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	// The built-in chain: primary, secondary, lead 15m apart, CTO with
	// after 0m, twice (loops: 2).
	chain := func(start string) []step {
		s := at(start)
		m := func(n int) string { return s.Add(time.Duration(n) * time.Minute).Format(time.RFC3339) }
		return []step{
			{0, 0, m(0), "primary"}, {0, 1, m(15), "secondary"}, {0, 2, m(30), "engineering_lead"}, {0, 3, m(45), "cto"},
			{1, 0, m(45), "primary"}, {1, 1, m(60), "secondary"}, {1, 2, m(75), "engineering_lead"}, {1, 3, m(90), "cto"},
		}
	}
	cases := []struct {
		name, sev, created                     string
		ack, investigate, firstUpdate, resolve string // "" = not applicable
		broadcast                              []string
		steps                                  []step
	}{
		{
			name: "P1 in business hours", sev: "P1", created: "2026-11-04T12:00:00Z",
			ack: "2026-11-04T12:15:00Z", investigate: "2026-11-04T12:15:00Z", firstUpdate: "2026-11-04T12:30:00Z", resolve: "2026-11-04T13:00:00Z",
			broadcast: []string{"cto", "engineers"}, steps: chain("2026-11-04T12:00:00Z"),
		},
		{
			name: "P1 at night: same targets, paged at once", sev: "P1", created: "2026-11-07T03:00:00Z",
			ack: "2026-11-07T03:15:00Z", investigate: "2026-11-07T03:15:00Z", firstUpdate: "2026-11-07T03:30:00Z", resolve: "2026-11-07T04:00:00Z",
			broadcast: []string{"cto", "engineers"}, steps: chain("2026-11-07T03:00:00Z"),
		},
		{
			name: "P2 in business hours", sev: "P2", created: "2026-11-04T12:00:00Z",
			ack: "2026-11-04T12:30:00Z", investigate: "2026-11-04T12:30:00Z", firstUpdate: "2026-11-04T13:00:00Z", resolve: "2026-11-04T16:00:00Z",
			steps: chain("2026-11-04T12:00:00Z"),
		},
		{
			name: "P2 on Saturday: same", sev: "P2", created: "2026-11-07T23:00:00Z",
			ack: "2026-11-07T23:30:00Z", investigate: "2026-11-07T23:30:00Z", firstUpdate: "2026-11-08T00:00:00Z", resolve: "2026-11-08T03:00:00Z",
			steps: chain("2026-11-07T23:00:00Z"),
		},
		{
			name: "P3 in business hours", sev: "P3", created: "2026-11-04T12:00:00Z",
			ack: "2026-11-04T14:00:00Z", investigate: "2026-11-04T14:00:00Z", firstUpdate: "2026-11-04T16:00:00Z", resolve: "2026-11-05T12:00:00Z",
			steps: chain("2026-11-04T12:00:00Z"),
		},
		{
			name: "P3 Friday night: clocks and paging start Monday 09:00", sev: "P3", created: "2026-11-06T22:00:00Z",
			ack: "2026-11-09T11:00:00Z", investigate: "2026-11-09T11:00:00Z", firstUpdate: "2026-11-09T13:00:00Z", resolve: "2026-11-10T09:00:00Z",
			steps: chain("2026-11-09T09:00:00Z"),
		},
		{
			name: "P3 at 08:59: starts at 09:00 the same day", sev: "P3", created: "2026-11-04T08:59:00Z",
			ack: "2026-11-04T11:00:00Z", investigate: "2026-11-04T11:00:00Z", firstUpdate: "2026-11-04T13:00:00Z", resolve: "2026-11-05T09:00:00Z",
			steps: chain("2026-11-04T09:00:00Z"),
		},
		{
			name: "P4 Wednesday noon: next business day's close", sev: "P4", created: "2026-11-04T12:00:00Z",
			ack: "2026-11-05T18:00:00Z", investigate: "2026-11-05T18:00:00Z", resolve: "2026-11-11T12:00:00Z",
			steps: chain("2026-11-04T12:00:00Z"),
		},
		{
			name: "P4 Saturday: Monday's close, resolve a week from Monday 09:00", sev: "P4", created: "2026-11-07T10:00:00Z",
			ack: "2026-11-09T18:00:00Z", investigate: "2026-11-09T18:00:00Z", resolve: "2026-11-16T09:00:00Z",
			steps: chain("2026-11-09T09:00:00Z"),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tl, err := PlanIncident(cfg, tc.sev, at(tc.created))
			require.NoError(t, err)
			opt := func(s string) time.Time {
				if s == "" {
					return time.Time{}
				}
				return at(s)
			}
			require.Equal(t, opt(tc.ack), tl.Deadlines.Acknowledge, "acknowledge")
			require.Equal(t, opt(tc.investigate), tl.Deadlines.Investigate, "investigate")
			require.Equal(t, opt(tc.firstUpdate), tl.Deadlines.FirstUpdate, "first update")
			require.Equal(t, opt(tc.resolve), tl.Deadlines.Resolve, "resolve")
			require.Equal(t, tc.broadcast, tl.Broadcast)
			require.Len(t, tl.Steps, len(tc.steps))
			for i, want := range tc.steps {
				got := tl.Steps[i]
				require.Equal(t, want.loop, got.Loop, "step %d loop", i)
				require.Equal(t, want.step, got.Step, "step %d", i)
				require.Equal(t, at(want.at), got.At, "step %d instant", i)
				require.Equal(t, want.notify, got.Notify[0], "step %d notify", i)
			}
		})
	}
}

func TestPlanLoopsAndEdges(t *testing.T) {
	t.Parallel()
	start := at("2026-11-04T12:00:00Z")
	d := func(s string) config.Duration { v, _ := config.ParseDuration(s); return v }
	esc := config.Escalation{Steps: []config.EscalationStep{{Notify: []string{"primary"}, After: d("5m")}, {Notify: []string{"cto"}, After: d("10m")}}, Loops: 3}
	got := Plan(esc, start)
	want := []time.Duration{0, 5, 15, 20, 30, 35}
	require.Len(t, got, len(want))
	for i, w := range want {
		require.Equal(t, start.Add(w*time.Minute), got[i].At, "step %d", i)
		require.Equal(t, i/2, got[i].Loop)
		require.Equal(t, i%2, got[i].Step)
	}
	// loops absent (0) runs once; no steps plans nothing.
	esc.Loops = 0
	require.Len(t, Plan(esc, start), 2)
	require.Empty(t, Plan(config.Escalation{}, start))

	_, _, ok := nextStep(esc, 0, 1)
	require.False(t, ok, "after the last step of the only loop")
	esc.Loops = 2
	l, s, ok := nextStep(esc, 0, 1)
	require.True(t, ok)
	require.Equal(t, [2]int{1, 0}, [2]int{l, s})
	require.Equal(t, "step 2 of 2, loop 1 of 2", stepLabel(esc, 0, 1))

	_, err := PlanIncident(config.Default(), "P9", start)
	require.Error(t, err)
}

func TestParseKeyAndValues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in string
		id int64
		ok bool
	}{{"INC-12", 12, true}, {"inc-7", 7, true}, {"#3", 3, true}, {"42", 42, true}, {"INC-0", 0, false}, {"INC-x", 0, false}, {"", 0, false}, {"-4", 0, false}, {"99999999999999999999", 0, false}} {
		id, ok := ParseKey(tc.in)
		require.Equal(t, tc.ok, ok, tc.in)
		require.Equal(t, tc.id, id, tc.in)
	}
	id, pos, ok := parseEscalateValue("12:1:0:3")
	require.True(t, ok)
	require.Equal(t, int64(12), id)
	require.Equal(t, Position{Round: 1, Loop: 0, Step: 3}, pos)
	for _, bad := range []string{"", "12", "12:1:0", "a:b:c:d", "12:-1:0:0", "0:0:0:0", "1:0:0:99999999"} {
		_, _, ok := parseEscalateValue(bad)
		require.False(t, ok, bad)
	}
	require.Equal(t, "1h 5m", human(65*time.Minute))
	require.Equal(t, "2d 3h", human(51*time.Hour))
	require.Equal(t, "45s", human(45*time.Second))
}
