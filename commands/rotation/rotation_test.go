package rotation

import (
	"math/rand"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var (
	start = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC) // the built-in rotation: a Monday
	week  = 168 * time.Hour
	day   = 24 * time.Hour
)

func builtin() Rotation {
	return Rotation{Pool: []string{"A", "B"}, Start: start, Length: week, Location: time.UTC}
}

func berlin(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	return loc
}

func TestAtFormula(t *testing.T) {
	t.Parallel()
	five := Rotation{Pool: []string{"P0", "P1", "P2", "P3", "P4"}, Start: start, Length: week}
	one := Rotation{Pool: []string{"SOLO"}, Start: start, Length: week}
	tests := []struct {
		name      string
		r         Rotation
		at        time.Time
		ok        bool
		index     int
		primary   string
		secondary string
		start     time.Time
	}{
		{"one second before start", builtin(), start.Add(-time.Second), false, 0, "", "", time.Time{}},
		{"long before start", builtin(), time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), false, 0, "", "", time.Time{}},
		{"at start", builtin(), start, true, 0, "A", "B", start},
		{"last second of shift 0", builtin(), start.Add(week - time.Second), true, 0, "A", "B", start},
		{"first instant of shift 1", builtin(), start.Add(week), true, 1, "B", "A", start.Add(week)},
		{"last nanosecond of shift 1", builtin(), start.Add(2*week - 1), true, 1, "B", "A", start.Add(week)},
		{"shift 2", builtin(), start.Add(2 * week), true, 2, "A", "B", start.Add(2 * week)},
		{"2026-12-31 23:59:59 in shift 8", builtin(), time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC), true, 8, "A", "B", time.Date(2026, 12, 28, 9, 0, 0, 0, time.UTC)},
		{"2027-01-01 00:00 still shift 8", builtin(), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), true, 8, "A", "B", time.Date(2026, 12, 28, 9, 0, 0, 0, time.UTC)},
		{"2027-01-04 08:59:59 still shift 8", builtin(), time.Date(2027, 1, 4, 8, 59, 59, 0, time.UTC), true, 8, "A", "B", time.Date(2026, 12, 28, 9, 0, 0, 0, time.UTC)},
		{"2027-01-04 09:00 shift 9", builtin(), time.Date(2027, 1, 4, 9, 0, 0, 0, time.UTC), true, 9, "B", "A", time.Date(2027, 1, 4, 9, 0, 0, 0, time.UTC)},
		{"year 2100", builtin(), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), true, 3817, "B", "A", time.Date(2099, 12, 28, 9, 0, 0, 0, time.UTC)},
		{"year 2526", builtin(), time.Date(2526, 6, 15, 0, 0, 0, 0, time.UTC), true, 26068, "A", "B", time.Date(2526, 6, 10, 9, 0, 0, 0, time.UTC)},
		{"year 2999", builtin(), time.Date(2999, 12, 31, 23, 59, 59, 0, time.UTC), true, 50777, "B", "A", time.Date(2999, 12, 30, 9, 0, 0, 0, time.UTC)},
		{"pool of 5, shift 0 wraps secondary", five, start, true, 0, "P0", "P4", start},
		{"pool of 5, shift 7", five, start.Add(7*week + time.Hour), true, 7, "P2", "P1", start.Add(7 * week)},
		{"pool of 5, year 2100", five, time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), true, 3817, "P2", "P1", time.Date(2099, 12, 28, 9, 0, 0, 0, time.UTC)},
		{"pool of 1", one, start.Add(3 * week), true, 3, "SOLO", "SOLO", start.Add(3 * week)},
		{"empty pool", Rotation{Start: start, Length: week}, start, false, 0, "", "", time.Time{}},
		{"zero length", Rotation{Pool: []string{"A"}, Start: start}, start, false, 0, "", "", time.Time{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, ok := tc.r.At(tc.at, nil)
			require.Equal(t, tc.ok, ok)
			if !ok {
				_, iok := tc.r.IndexAt(tc.at)
				require.False(t, iok)
				return
			}
			require.Equal(t, tc.index, s.Index)
			require.Equal(t, tc.primary, s.Primary)
			require.Equal(t, tc.secondary, s.Secondary)
			require.True(t, tc.start.Equal(s.Start), "start %s, want %s", s.Start, tc.start)
			require.Equal(t, week, s.End.Sub(s.Start))
			require.Nil(t, s.PrimaryOverride)
			require.Nil(t, s.SecondaryOverride)
		})
	}
}

func TestPoolOfOneHasNoSeparateSecondary(t *testing.T) {
	t.Parallel()
	r := Rotation{Pool: []string{"SOLO"}, Start: start, Length: week}
	s, ok := r.At(start, nil)
	require.True(t, ok)
	require.False(t, s.HasSecondary())
	require.True(t, start.Add(week).Equal(r.NextChange(start.Add(time.Hour), nil)), "nothing ever changes: the end of the shift")
	require.True(t, Rotation{}.NextChange(start, nil).IsZero(), "invalid rotation")
	s2, _ := builtin().At(start, nil)
	require.True(t, s2.HasSecondary())
}

func TestBerlinAcrossDST(t *testing.T) {
	t.Parallel()
	loc := berlin(t)
	r := Rotation{Pool: []string{"A", "B"}, Start: time.Date(2026, 10, 19, 9, 0, 0, 0, loc), Length: week, Location: loc}
	tests := []struct {
		name   string
		w      int
		start  time.Time // in UTC, exact
		end    time.Time
		length time.Duration
	}{
		{"shift 0 contains 2026-10-25 fall-back", 0,
			time.Date(2026, 10, 19, 7, 0, 0, 0, time.UTC), time.Date(2026, 10, 26, 8, 0, 0, 0, time.UTC), 169 * time.Hour},
		{"shift 1 is a plain winter week", 1,
			time.Date(2026, 10, 26, 8, 0, 0, 0, time.UTC), time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC), week},
		{"shift 22 contains 2027-03-28 spring-forward", 22,
			time.Date(2027, 3, 22, 8, 0, 0, 0, time.UTC), time.Date(2027, 3, 29, 7, 0, 0, 0, time.UTC), 167 * time.Hour},
		{"shift 23 is a plain summer week", 23,
			time.Date(2027, 3, 29, 7, 0, 0, 0, time.UTC), time.Date(2027, 4, 5, 7, 0, 0, 0, time.UTC), week},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, e := r.Bounds(tc.w)
			require.True(t, tc.start.Equal(s), "start %s want %s", s.UTC(), tc.start)
			require.True(t, tc.end.Equal(e), "end %s want %s", e.UTC(), tc.end)
			require.Equal(t, tc.length, e.Sub(s))
			require.Equal(t, 9, s.Hour(), "09:00 local")
			require.Equal(t, time.Monday, s.Weekday())
			require.Equal(t, loc, s.Location())

			for _, at := range []time.Time{s, e.Add(-time.Second)} {
				w, ok := r.IndexAt(at)
				require.True(t, ok)
				require.Equal(t, tc.w, w, "at %s", at)
			}
			w, ok := r.IndexAt(e)
			require.True(t, ok)
			require.Equal(t, tc.w+1, w)
		})
	}

	// The absolute instant start+168h lands inside shift 0 (which is 169h long).
	w, _ := r.IndexAt(r.Start.Add(week))
	require.Equal(t, 0, w)
	// Far ahead the shifts still start on Monday 09:00 local.
	s, ok := r.At(time.Date(2100, 7, 1, 12, 0, 0, 0, loc), nil)
	require.True(t, ok)
	require.Equal(t, time.Monday, s.Start.Weekday())
	require.Equal(t, 9, s.Start.Hour())
	require.True(t, s.Start.Before(time.Date(2100, 7, 1, 12, 0, 0, 0, loc)))
	require.False(t, s.End.Before(time.Date(2100, 7, 1, 12, 0, 0, 0, loc)))
}

func TestNonDayLengthStepsInAbsoluteTime(t *testing.T) {
	t.Parallel()
	loc := berlin(t)
	st := time.Date(2026, 10, 24, 9, 0, 0, 0, loc) // 07:00Z, the day before fall-back
	r := Rotation{Pool: []string{"A", "B"}, Start: st, Length: 36 * time.Hour, Location: loc}
	s, e := r.Bounds(1)
	require.True(t, time.Date(2026, 10, 25, 19, 0, 0, 0, time.UTC).Equal(s))
	require.Equal(t, 36*time.Hour, e.Sub(s))
	require.Equal(t, 20, s.Hour(), "21:00 CEST + 36h is 20:00 CET")
}

func TestOverrides(t *testing.T) {
	t.Parallel()
	r := Rotation{Pool: []string{"P0", "P1", "P2", "P3", "P4"}, Start: start, Length: week}
	partial := Override{ID: 1, Role: Primary, UserID: "X", Start: start.Add(2 * day), End: start.Add(3 * day), Source: "emergency"}
	whole := Override{ID: 2, Role: Secondary, UserID: "Y", Start: start.Add(week), End: start.Add(2 * week), Source: "swap"}
	outer := Override{ID: 3, Role: Primary, UserID: "OUTER", Start: start.Add(8 * day), End: start.Add(12 * day)}
	inner := Override{ID: 4, Role: Primary, UserID: "INNER", Start: start.Add(9 * day), End: start.Add(10 * day)}
	older := Override{ID: 1, Role: Primary, UserID: "OLDER", Start: start.Add(9 * day), End: start.Add(11 * day)}
	ovs := []Override{inner, whole, partial, outer}
	tests := []struct {
		name       string
		ovs        []Override
		at         time.Time
		primary    string
		secondary  string
		primaryOv  int64 // 0: none
		secondOv   int64
		nextChange time.Time
	}{
		{"before a partial override", ovs, start.Add(2*day - time.Second), "P0", "P4", 0, 0, start.Add(2 * day)},
		{"partial override starts", ovs, start.Add(2 * day), "X", "P4", 1, 0, start.Add(3 * day)},
		{"partial override last second", ovs, start.Add(3*day - time.Second), "X", "P4", 1, 0, start.Add(3 * day)},
		{"partial override ended", ovs, start.Add(3 * day), "P0", "P4", 0, 0, start.Add(week)},
		{"whole-shift secondary override", ovs, start.Add(week), "P1", "Y", 0, 2, start.Add(8 * day)},
		{"outer override", ovs, start.Add(8 * day), "OUTER", "Y", 3, 2, start.Add(9 * day)},
		{"inner override wins by ID", ovs, start.Add(9 * day), "INNER", "Y", 4, 2, start.Add(10 * day)},
		{"outer resumes", ovs, start.Add(10 * day), "OUTER", "Y", 3, 2, start.Add(12 * day)},
		{"formula resumes", ovs, start.Add(12 * day), "P1", "Y", 0, 2, start.Add(2 * week)},
		{"whole override over", ovs, start.Add(2 * week), "P2", "P1", 0, 0, start.Add(3 * week)},
		{"older override loses whatever the order", []Override{inner, older}, start.Add(9*day + time.Hour), "INNER", "P0", 4, 0, start.Add(10 * day)},
		{"older override wins alone", []Override{inner, older}, start.Add(10 * day), "OLDER", "P0", 1, 0, start.Add(11 * day)},
		{"override of the same person changes nothing", []Override{{ID: 9, Role: Primary, UserID: "P0", Start: start.Add(day), End: start.Add(2 * day)}},
			start, "P0", "P4", 0, 0, start.Add(week)},
		{"before start the next change is the start", ovs, start.Add(-time.Hour), "", "", 0, 0, start},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, ok := r.At(tc.at, tc.ovs)
			if tc.primary == "" {
				require.False(t, ok)
			} else {
				require.True(t, ok)
				require.Equal(t, tc.primary, s.Primary)
				require.Equal(t, tc.secondary, s.Secondary)
				if tc.primaryOv == 0 {
					require.Nil(t, s.PrimaryOverride)
				} else {
					require.NotNil(t, s.PrimaryOverride)
					require.Equal(t, tc.primaryOv, s.PrimaryOverride.ID)
				}
				if tc.secondOv == 0 {
					require.Nil(t, s.SecondaryOverride)
				} else {
					require.NotNil(t, s.SecondaryOverride)
					require.Equal(t, tc.secondOv, s.SecondaryOverride.ID)
				}
				require.Equal(t, tc.primaryOv != 0 || tc.secondOv != 0, s.Overridden())
			}
			next := r.NextChange(tc.at, tc.ovs)
			require.True(t, tc.nextChange.Equal(next), "next change %s, want %s", next, tc.nextChange)
		})
	}
}

func TestOverrideDoesNotAliasInput(t *testing.T) {
	t.Parallel()
	ovs := []Override{{ID: 1, Role: Primary, UserID: "X", Start: start, End: start.Add(day)}}
	s, _ := builtin().At(start, ovs)
	s.PrimaryOverride.UserID = "CHANGED"
	require.Equal(t, "X", ovs[0].UserID)
}

func TestUpcoming(t *testing.T) {
	t.Parallel()
	r := builtin()
	now := start.Add(3 * day)
	ovs := []Override{
		{ID: 1, Role: Primary, UserID: "B", Start: start.Add(2 * day), End: start.Add(4 * day)}, // emergency, in effect now
		{ID: 2, Role: Primary, UserID: "C", Start: start.Add(week + day), End: start.Add(2 * week)},
	}
	got := r.Upcoming(now, 4, ovs)
	require.Len(t, got, 4)
	require.Equal(t, []int{0, 1, 2, 3}, []int{got[0].Index, got[1].Index, got[2].Index, got[3].Index})
	require.Equal(t, "B", got[0].Primary, "people in effect now")
	require.NotNil(t, got[0].PrimaryOverride)
	require.Equal(t, "B", got[1].Primary, "people at the shift's start; the override starts a day later")
	require.Nil(t, got[1].PrimaryOverride)
	require.Equal(t, "A", got[2].Primary)
	require.True(t, start.Add(3*week).Equal(got[3].Start))

	before := r.Upcoming(start.Add(-30*day), 2, nil)
	require.Len(t, before, 2)
	require.Equal(t, 0, before[0].Index)
	require.True(t, start.Equal(before[0].Start))
	require.Nil(t, r.Upcoming(now, 0, nil))
	require.Nil(t, Rotation{}.Upcoming(now, 3, nil))
}

func TestNextPrimaryShift(t *testing.T) {
	t.Parallel()
	r := builtin()
	tests := []struct {
		name  string
		user  string
		from  time.Time
		ovs   []Override
		ok    bool
		index int
	}{
		{"current shift", "A", start.Add(day), nil, true, 0},
		{"next shift", "B", start.Add(day), nil, true, 1},
		{"before start", "B", start.Add(-day), nil, true, 1},
		{"handed off mid-shift: the next own shift", "A", start.Add(3 * day),
			[]Override{{ID: 1, Role: Primary, UserID: "B", Start: start.Add(2 * day), End: start.Add(week)}}, true, 2},
		{"swapped away shift 1", "B", start.Add(day),
			[]Override{{ID: 1, Role: Primary, UserID: "A", Start: start.Add(week), End: start.Add(2 * week)}}, true, 3},
		{"primary by override in someone else's shift", "C", start,
			[]Override{{ID: 1, Role: Primary, UserID: "C", Start: start.Add(2 * week), End: start.Add(3 * week)}}, true, 2},
		{"never primary", "Z", start, nil, false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, ok := r.NextPrimaryShift(tc.user, tc.from, tc.ovs)
			require.Equal(t, tc.ok, ok)
			if ok {
				require.Equal(t, tc.index, s.Index)
				require.Equal(t, tc.user, s.Primary)
			}
		})
	}
}

func TestShiftsOf(t *testing.T) {
	t.Parallel()
	r := Rotation{Pool: []string{"P0", "P1", "P2", "P3", "P4"}, Start: start, Length: week}
	got := r.ShiftsOf("P2", start, start.Add(5*week), nil)
	require.Len(t, got, 2)
	require.Equal(t, 2, got[0].Index)
	require.Equal(t, "P2", got[0].Primary)
	require.Equal(t, 3, got[1].Index)
	require.Equal(t, "P2", got[1].Secondary)

	// A partial override splits shift 2 into three segments; P2 keeps two of them.
	ovs := []Override{{ID: 1, Role: Primary, UserID: "P0", Start: start.Add(2*week + day), End: start.Add(2*week + 2*day)}}
	got = r.ShiftsOf("P2", start.Add(2*week+12*time.Hour), start.Add(3*week), ovs)
	require.Len(t, got, 2)
	require.True(t, start.Add(2*week).Equal(got[0].Start), "segments are not clipped to from")
	require.True(t, start.Add(2*week+day).Equal(got[0].End))
	require.True(t, start.Add(2*week+2*day).Equal(got[1].Start))
	require.True(t, start.Add(3*week).Equal(got[1].End))

	segs := r.Segments(start.Add(2*week), start.Add(3*week), ovs)
	require.Len(t, segs, 3)
	require.Equal(t, "P0", segs[1].Primary)
	require.NotNil(t, segs[1].PrimaryOverride)

	// Before start and empty windows.
	require.Empty(t, r.ShiftsOf("P0", start.Add(-2*week), start.Add(-week), nil))
	require.Empty(t, r.ShiftsOf("P0", start.Add(week), start, nil))
	got = r.ShiftsOf("P0", start.Add(-week), start.Add(time.Second), nil)
	require.Len(t, got, 1)
	require.Equal(t, 0, got[0].Index)
}

// TestPropertyAtAgreesWithBounds checks, for random instants, that the shift At
// returns contains the instant, that Bounds tile time without gaps, and that the
// people follow the formula.
func TestPropertyAtAgreesWithBounds(t *testing.T) {
	t.Parallel()
	loc := berlin(t)
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	rots := []Rotation{
		builtin(),
		{Pool: []string{"A", "B", "C"}, Start: time.Date(2026, 10, 19, 9, 0, 0, 0, loc), Length: week, Location: loc},
		{Pool: []string{"A", "B", "C", "D", "E"}, Start: time.Date(2026, 3, 1, 2, 30, 0, 0, ny), Length: day, Location: ny},
		{Pool: []string{"A", "B"}, Start: time.Date(2026, 1, 1, 0, 0, 0, 0, loc), Length: 36 * time.Hour, Location: loc},
		{Pool: []string{"A"}, Start: start, Length: 14 * day, Location: time.UTC},
	}
	rng := rand.New(rand.NewSource(20261102))
	for _, r := range rots {
		for i := 0; i < 2000; i++ {
			at := r.Start.Add(time.Duration(rng.Int63n(int64(80*365*day))) - 5*365*day)
			s, ok := r.At(at, nil)
			if at.Before(r.Start) {
				require.False(t, ok)
				continue
			}
			require.True(t, ok, "at %s", at)
			bs, be := r.Bounds(s.Index)
			require.True(t, bs.Equal(s.Start) && be.Equal(s.End))
			require.False(t, at.Before(s.Start), "%s before shift start %s", at, s.Start)
			require.True(t, at.Before(s.End), "%s not before shift end %s", at, s.End)
			_, prevEnd := r.Bounds(s.Index - 1)
			require.True(t, prevEnd.Equal(s.Start))
			n := len(r.Pool)
			require.Equal(t, r.Pool[s.Index%n], s.Primary)
			require.Equal(t, r.Pool[(s.Index+n-1)%n], s.Secondary)
			require.InDelta(t, r.Length.Hours(), s.End.Sub(s.Start).Hours(), 1)
		}
	}
}
