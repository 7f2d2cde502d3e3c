package calendar

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/commands/rotation"
)

var people = []string{engA, engB, lead, cto}

func known(id string) bool { return slices.Contains(people, id) }

// detect runs what Check does for every person between a snapshot taken at
// t1 with old overrides and a check at t2 with cur: the changes, and those
// each person is told about.
func detect(rotOld, rotCur rotation.Rotation, old, cur []Override, t1, t2 time.Time) (all, told map[string][]Change) {
	all, told = map[string][]Change{}, map[string][]Change{}
	f1, u1 := Window(t1)
	f2, u2 := Window(t2)
	before := Runs(rotOld, f1, u1, old)
	after := Runs(rotCur, f2, u2, cur)
	every := append(append([]Override(nil), old...), cur...)
	for _, p := range people {
		prev := Snapshot{TakenAt: t1, Until: u1, Runs: Snap(RunsOf(before, p), t1, u1)}
		changes := Diff(prev, Snap(RunsOf(after, p), t1, u2), t2)
		for i := range changes {
			Explain(p, &changes[i], old, cur)
			all[p] = append(all[p], changes[i])
			if !AlreadyTold(p, changes[i], every, known) {
				told[p] = append(told[p], changes[i])
			}
		}
	}
	return all, told
}

func count(m map[string][]Change) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		out[k] = len(v)
	}
	return out
}

func TestDiffAndWhoIsTold(t *testing.T) {
	t.Parallel()
	now := at(0, 51*time.Hour)
	mid := at(0, 52*time.Hour)
	swap := swapOverrides(10, engA, engB, 2, 3, engB)
	cases := []struct {
		name       string
		rotCur     rotation.Rotation
		old, cur   []Override
		t2         time.Time
		changes    map[string]int
		told       map[string]int
		whyContain string
	}{
		{name: "nothing changed", t2: now.Add(time.Minute), changes: map[string]int{}, told: map[string]int{}},
		{name: "shifts ending and the horizon growing are not changes", t2: at(3, 2*time.Hour), changes: map[string]int{}, told: map[string]int{}},
		{
			name: "a swap: both parties were shown it",
			cur:  swap, t2: now.Add(time.Minute),
			changes: map[string]int{engA: 2, engB: 2}, told: map[string]int{},
		},
		{
			name: "undoing a swap: both parties were shown it",
			old:  swap, t2: now.Add(time.Minute),
			changes: map[string]int{engA: 2, engB: 2}, told: map[string]int{},
		},
		{
			name:    "PagerDuty drift tells everyone it moves",
			cur:     []Override{ov(20, rotation.Primary, cto, engB, at(1, 0), at(2, 0), "pagerduty", "", "pagerduty")},
			t2:      now.Add(time.Minute),
			changes: map[string]int{engB: 1, cto: 1}, told: map[string]int{engB: 1, cto: 1},
			whyContain: "a PagerDuty schedule change by pagerduty",
		},
		{
			name: "a person's override without a ref: everyone moved but its creator",
			cur:  []Override{ov(30, rotation.Primary, engB, engA, at(2, 0), at(3, 0), "command", "", engB)},
			t2:   now.Add(time.Minute),
			// Engineer B, secondary of that shift, becomes its primary too: a new
			// primary run, and the secondary run is gone (no separate secondary).
			changes: map[string]int{engA: 1, engB: 2}, told: map[string]int{engA: 1},
			whyContain: "a command by Engineer B",
		},
		{
			name:    "an admin's override without a ref tells both people moved",
			cur:     []Override{ov(31, rotation.Secondary, cto, engB, at(2, 0), at(3, 0), "command", "", lead)},
			t2:      now.Add(time.Minute),
			changes: map[string]int{engB: 1, cto: 1}, told: map[string]int{engB: 1, cto: 1},
		},
		{
			name: "an emergency handoff: its parties were shown it",
			cur: []Override{
				ov(40, rotation.Primary, engB, engA, mid, at(1, 0), "emergency", "emergency:1", engA),
				ov(41, rotation.Secondary, lead, engB, mid, at(1, 0), "emergency", "emergency:1", lead),
			},
			t2:      now.Add(time.Minute),
			changes: map[string]int{engA: 1, engB: 2, lead: 1}, told: map[string]int{},
		},
		{
			name:   "a new rotation in the configuration tells everyone",
			rotCur: rotation.Rotation{Pool: []string{engB, engA}, Start: start0, Length: week},
			t2:     now.Add(time.Minute),
			// Every future run of both changes hands: all but the current shift's
			// keys disappear and new ones appear.
			whyContain: "the rotation in the team configuration changed",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rotCur := tc.rotCur
			if rotCur.Pool == nil {
				rotCur = builtin()
			}
			all, told := detect(builtin(), rotCur, tc.old, tc.cur, now, tc.t2)
			if tc.changes != nil {
				require.Equal(t, tc.changes, count(all), "changes")
				require.Equal(t, tc.told, count(told), "told")
			} else {
				require.NotEmpty(t, told[engA])
				require.NotEmpty(t, told[engB])
			}
			if tc.whyContain != "" {
				for p, ch := range told {
					text := NoticeText(ch, func(id string) string { return names[id] }, known)
					require.Contains(t, text, tc.whyContain, p)
				}
			}
		})
	}
}

func TestNoticeTextSaysWhatChangedFromWhatToWhat(t *testing.T) {
	t.Parallel()
	now := at(0, 51*time.Hour)
	// An emergency handoff run by the engineering lead for Engineer A, and
	// no one among those moved created it: A is told their shift got shorter.
	cur := []Override{ov(40, rotation.Primary, engB, engA, at(0, 52*time.Hour), at(1, 0), "emergency", "", lead)}
	cur[0].Reason = "family emergency"
	_, told := detect(builtin(), builtin(), nil, cur, now, now.Add(2*time.Hour))
	require.Len(t, told[engA], 1)
	c := told[engA][0]
	require.Equal(t, at(1, 0), c.Old.End)
	require.Equal(t, at(0, 52*time.Hour), c.New.End)
	text := NoticeText(told[engA], func(id string) string { return names[id] }, known)
	require.Contains(t, text, "Your *primary* shift")
	require.Contains(t, text, "is now")
	require.Contains(t, text, "Why: an emergency handoff (family emergency) by Engineering Lead.")
	require.Equal(t, 1, strings.Count(text, "•"))

	// Removing it again gives the shift back, explained as undone.
	_, told = detect(builtin(), builtin(), cur, nil, now.Add(2*time.Hour), now.Add(3*time.Hour))
	text = NoticeText(told[engA], func(id string) string { return names[id] }, known)
	require.Contains(t, text, "was undone")
}

func TestLastFire(t *testing.T) {
	t.Parallel()
	weekly := scheduleFunc(func(t time.Time) time.Time { // Mondays 09:00 UTC
		n := time.Date(t.Year(), t.Month(), t.Day(), 9, 0, 0, 0, time.UTC)
		for !n.After(t) || n.Weekday() != time.Monday {
			n = n.Add(24 * time.Hour)
		}
		return n
	})
	minutely := scheduleFunc(func(t time.Time) time.Time { return t.Truncate(time.Minute).Add(time.Minute) })
	never := scheduleFunc(func(time.Time) time.Time { return time.Time{} })
	for _, tc := range []struct {
		name string
		s    scheduleFunc
		now  time.Time
		want time.Time
		ok   bool
	}{
		{"weekly mid-week", weekly, at(0, 51*time.Hour), at(0, 0), true},
		{"weekly at the instant", weekly, at(1, 0), at(1, 0), true},
		{"every minute", minutely, at(0, 90*time.Second), at(0, time.Minute), true},
		{"never", never, at(0, 0), time.Time{}, false},
	} {
		got, ok := LastFire(tc.s, tc.now)
		require.Equal(t, tc.ok, ok, tc.name)
		require.True(t, tc.want.Equal(got), "%s: got %s", tc.name, got)
	}
}

type scheduleFunc func(time.Time) time.Time

func (f scheduleFunc) Next(t time.Time) time.Time { return f(t) }
