package swap

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/commands/rotation"
)

var (
	start = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	wk    = 168 * time.Hour
)

func at(w int) time.Time { return start.Add(time.Duration(w) * wk) }

func rot(pool ...string) rotation.Rotation {
	return rotation.Rotation{Pool: pool, Start: start, Length: wk}
}

func TestFindShifts(t *testing.T) {
	t.Parallel()
	wed := time.Date(2026, 11, 4, 12, 0, 0, 0, time.UTC)
	dayOf := func(d int) (time.Time, time.Time) {
		s := time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC)
		return s, s.AddDate(0, 0, 1)
	}
	cases := []struct {
		name    string
		r       rotation.Rotation
		ovs     []rotation.Override
		a, b    string
		now     time.Time
		day     int
		wa, wb  window
		wantErr error
	}{
		{name: "next shift of the caller", r: rot("A", "B"), a: "B", b: "A", now: wed,
			wa: window{1, at(1), at(2)}, wb: window{2, at(2), at(3)}},
		{name: "current shift counts from now", r: rot("A", "B"), a: "A", b: "B", now: wed,
			wa: window{0, wed, at(1)}, wb: window{1, at(1), at(2)}},
		{name: "date inside a later shift", r: rot("A", "B", "C"), a: "A", b: "B", now: wed, day: 25,
			wa: window{3, at(3), at(4)}, wb: window{4, at(4), at(5)}},
		{name: "date without a shift of the caller", r: rot("A", "B"), a: "A", b: "B", now: wed, day: 10, wantErr: errNoShiftOnDay},
		{name: "override moves the caller's shift", r: rot("A", "B"), a: "B", b: "A", now: wed,
			ovs: []rotation.Override{{ID: 1, Role: rotation.Primary, UserID: "A", Start: at(1), End: at(2)}},
			wa:  window{3, at(3), at(4)}, wb: window{4, at(4), at(5)}},
		{name: "partner never primary", r: rot("A"), a: "A", b: "Z", now: wed, wantErr: errNoPartnerShift},
		{name: "caller never primary", r: rot("A", "B"), a: "Z", b: "A", now: wed, wantErr: errNoShift},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var ds, de time.Time
			if tc.day != 0 {
				ds, de = dayOf(tc.day)
			}
			wa, wb, err := findShifts(tc.r, tc.ovs, tc.a, tc.b, tc.now, ds, de)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.wa, wa)
			require.Equal(t, tc.wb, wb)
		})
	}
}

func TestPlan(t *testing.T) {
	t.Parallel()
	wa, wb := window{1, at(1), at(2)}, window{2, at(2), at(3)}
	// Pool of two: the taker was the window's secondary, so roles swap too.
	require.Equal(t, []planned{
		{rotation.Primary, "A", "B", at(1), at(2)},
		{rotation.Secondary, "B", "A", at(1), at(2)},
		{rotation.Primary, "B", "A", at(2), at(3)},
		{rotation.Secondary, "A", "B", at(2), at(3)},
	}, plan(rot("A", "B"), nil, "B", "A", wa, wb))
	// Pool of three: shift 1 primary B secondary A; shift 3 primary A secondary C.
	require.Equal(t, []planned{
		{rotation.Primary, "A", "B", at(1), at(2)},
		{rotation.Secondary, "B", "A", at(1), at(2)},
		{rotation.Primary, "B", "A", at(3), at(4)},
	}, plan(rot("A", "B", "C"), nil, "B", "A", wa, window{3, at(3), at(4)}))
}

func TestHolds(t *testing.T) {
	t.Parallel()
	r := rot("A", "B")
	w := window{1, at(1), at(2)}
	require.True(t, holds(r, nil, "B", w))
	require.False(t, holds(r, nil, "A", w))
	part := []rotation.Override{{ID: 1, Role: rotation.Primary, UserID: "C", Start: at(1).Add(time.Hour), End: at(1).Add(2 * time.Hour)}}
	require.False(t, holds(r, part, "B", w), "an emergency handoff inside the window changes it")
}

func TestServeAndOwed(t *testing.T) {
	t.Parallel()
	r := rot("A", "B")
	now := at(2).Add(99 * time.Hour)
	sv := serve(r, nil, "A", start.AddDate(0, -10, 0), now)
	require.Equal(t, served{Primary: wk + 99*time.Hour, Secondary: wk, PrimaryShifts: 2, SecondaryShifts: 1}, sv)
	require.Equal(t, "1.6 days", days(sv.Primary))
	require.Equal(t, "1 day", days(wk))
	require.Equal(t, "0 days", days(0))
	require.Equal(t, "11 days 3 h", hours(sv.Primary))

	ovs := []rotation.Override{
		{ID: 1, Role: rotation.Primary, UserID: "B", Replaces: "A", Start: at(0), End: at(1)},
		{ID: 2, Role: rotation.Primary, UserID: "A", Replaces: "B", Start: at(1), End: at(2)},
		{ID: 3, Role: rotation.Primary, UserID: "A", Replaces: "B", Start: at(3), End: at(3).Add(time.Hour)},
		{ID: 4, Role: rotation.Secondary, UserID: "C", Start: at(3), End: at(4)},
	}
	taken, given := owed(ovs, "A")
	require.Equal(t, [2]int{2, 1}, [2]int{taken, given})
	taken, given = owed(ovs, "B")
	require.Equal(t, [2]int{1, 2}, [2]int{taken, given})
}
