package calendar

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/commands/rotation"
)

const (
	engA = "U0ENGA"
	engB = "U0ENGB"
	lead = "U0LEAD"
	cto  = "U0CTO"
)

var (
	start0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	week   = 7 * 24 * time.Hour
)

func builtin() rotation.Rotation {
	return rotation.Rotation{Pool: []string{engA, engB}, Start: start0, Length: week, Location: time.UTC}
}

// at returns the start of shift w of the built-in rotation plus d.
func at(w int, d time.Duration) time.Time { return start0.Add(time.Duration(w)*week + d) }

// ov builds an override.
func ov(id int64, role rotation.Role, user, replaces string, from, to time.Time, source, ref, by string) Override {
	return Override{
		Override:  rotation.Override{ID: id, Role: role, UserID: user, Replaces: replaces, Start: from, End: to, Source: source},
		Ref:       ref,
		CreatedBy: by,
		CreatedAt: from.Add(-48 * time.Hour),
	}
}

// swapOverrides are what an accepted swap stores in a pool of two: a gives
// shift wa (primary) to b and takes b's shift wb; in each window the
// secondary (the taker) becomes the giver.
func swapOverrides(id int64, a, b string, wa, wb int, by string) []Override {
	ref := "swap:1"
	return []Override{
		ov(id, rotation.Primary, b, a, at(wa, 0), at(wa+1, 0), "swap", ref, by),
		ov(id+1, rotation.Secondary, a, b, at(wa, 0), at(wa+1, 0), "swap", ref, by),
		ov(id+2, rotation.Primary, a, b, at(wb, 0), at(wb+1, 0), "swap", ref, by),
		ov(id+3, rotation.Secondary, b, a, at(wb, 0), at(wb+1, 0), "swap", ref, by),
	}
}

type runWant struct {
	key        string
	user       string
	start, end time.Time
}

func TestRuns(t *testing.T) {
	t.Parallel()
	mid := at(0, 50*time.Hour)
	cases := []struct {
		name string
		rot  rotation.Rotation
		ovs  []Override
		want []runWant
	}{
		{
			name: "formula",
			rot:  builtin(),
			want: []runWant{
				{"0-primary-U0ENGA", engA, at(0, 0), at(1, 0)},
				{"0-secondary-U0ENGB", engB, at(0, 0), at(1, 0)},
				{"1-primary-U0ENGB", engB, at(1, 0), at(2, 0)},
				{"1-secondary-U0ENGA", engA, at(1, 0), at(2, 0)},
			},
		},
		{
			name: "a swap keeps each person's keys at the new times",
			rot:  builtin(),
			ovs:  swapOverrides(1, engA, engB, 0, 1, engB),
			want: []runWant{
				{"1-primary-U0ENGB", engB, at(0, 0), at(1, 0)},
				{"1-secondary-U0ENGA", engA, at(0, 0), at(1, 0)},
				{"0-primary-U0ENGA", engA, at(1, 0), at(2, 0)},
				{"0-secondary-U0ENGB", engB, at(1, 0), at(2, 0)},
			},
		},
		{
			name: "an emergency handoff shortens the primary and adds runs",
			rot:  builtin(),
			ovs: []Override{
				ov(1, rotation.Primary, engB, engA, mid, at(1, 0), "emergency", "emergency:1", engA),
				ov(2, rotation.Secondary, lead, engB, mid, at(1, 0), "emergency", "emergency:1", lead),
			},
			want: []runWant{
				{"0-primary-U0ENGA", engA, at(0, 0), mid},
				{"0-secondary-U0ENGB", engB, at(0, 0), mid},
				{"0-primary-U0ENGB", engB, mid, at(1, 0)},
				{"0-secondary-U0LEAD", lead, mid, at(1, 0)},
				{"1-primary-U0ENGB", engB, at(1, 0), at(2, 0)},
				{"1-secondary-U0ENGA", engA, at(1, 0), at(2, 0)},
			},
		},
		{
			name: "a run split by an override numbers its pieces",
			rot:  builtin(),
			ovs:  []Override{ov(1, rotation.Primary, cto, engA, at(0, 24*time.Hour), at(0, 48*time.Hour), "pagerduty", "", "pagerduty")},
			want: []runWant{
				{"0-primary-U0ENGA", engA, at(0, 0), at(0, 24*time.Hour)},
				{"0-secondary-U0ENGB", engB, at(0, 0), at(1, 0)},
				{"0-primary-U0CTO", cto, at(0, 24*time.Hour), at(0, 48*time.Hour)},
				{"0-primary-U0ENGA-2", engA, at(0, 48*time.Hour), at(1, 0)},
				{"1-primary-U0ENGB", engB, at(1, 0), at(2, 0)},
				{"1-secondary-U0ENGA", engA, at(1, 0), at(2, 0)},
			},
		},
		{
			name: "a pool of one has primary runs only",
			rot:  rotation.Rotation{Pool: []string{engA}, Start: start0, Length: week},
			want: []runWant{
				{"0-primary-U0ENGA", engA, at(0, 0), at(1, 0)},
				{"1-primary-U0ENGA", engA, at(1, 0), at(2, 0)},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runs := Runs(tc.rot, at(0, 0), at(2, 0), tc.ovs)
			var got []runWant
			for _, r := range runs {
				got = append(got, runWant{r.Key, r.User, r.Start, r.End})
			}
			require.ElementsMatch(t, tc.want, got)
			keys := map[string]bool{}
			for _, r := range runs {
				require.False(t, keys[r.Key], "duplicate key %s", r.Key)
				keys[r.Key] = true
			}
		})
	}
}

func TestRunsOthers(t *testing.T) {
	t.Parallel()
	mid := at(0, 50*time.Hour)
	ovs := []Override{ov(1, rotation.Secondary, lead, engB, mid, at(1, 0), "emergency", "emergency:1", lead)}
	runs := RunsOf(Runs(builtin(), at(0, 0), at(1, 0), ovs), engA)
	require.Len(t, runs, 1)
	require.Equal(t, []string{engB, lead}, runs[0].Others)
	f := Feed{NameOf: func(id string) string {
		return map[string]string{engA: "Engineer A", engB: "Engineer B", lead: "Engineering Lead"}[id]
	}}
	require.Equal(t, "On-call primary: Engineer A (secondary Engineer B, then Engineering Lead)", f.Title(runs[0]))
}
