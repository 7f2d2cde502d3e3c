package severity

import (
	"testing"
	"time"

	"github.com/contextinject/oncallbot/commands/config"
	"github.com/stretchr/testify/require"
)

var weekdays = []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}

func utcHours() Hours {
	return Hours{Days: weekdays, Start: 9 * 60, End: 18 * 60, Location: time.UTC}
}

func berlinHours(t *testing.T) (Hours, *time.Location) {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	return Hours{Days: weekdays, Start: 9 * 60, End: 17 * 60, Location: loc}, loc
}

func utc(y int, m time.Month, d, hh, mm, ss int) time.Time {
	return time.Date(y, m, d, hh, mm, ss, 0, time.UTC)
}

func TestHoursFromConfig(t *testing.T) {
	t.Parallel()
	h := HoursFrom(config.Default())
	require.Equal(t, utcHours(), h)
}

func TestOpenAndNextOpening(t *testing.T) {
	t.Parallel()
	bh, berlin := berlinHours(t)
	tests := []struct {
		name string
		h    Hours
		at   time.Time
		open bool
		next time.Time
	}{
		// 2026-11-06 is a Friday.
		{"Monday one second before opening", utcHours(), utc(2026, 11, 9, 8, 59, 59), false, utc(2026, 11, 9, 9, 0, 0)},
		{"Monday at opening", utcHours(), utc(2026, 11, 9, 9, 0, 0), true, utc(2026, 11, 9, 9, 0, 0)},
		{"Monday last second", utcHours(), utc(2026, 11, 9, 17, 59, 59), true, utc(2026, 11, 9, 17, 59, 59)},
		{"Monday at closing", utcHours(), utc(2026, 11, 9, 18, 0, 0), false, utc(2026, 11, 10, 9, 0, 0)},
		{"Friday evening to Monday", utcHours(), utc(2026, 11, 6, 19, 30, 0), false, utc(2026, 11, 9, 9, 0, 0)},
		{"Saturday", utcHours(), utc(2026, 11, 7, 12, 0, 0), false, utc(2026, 11, 9, 9, 0, 0)},
		{"Sunday night", utcHours(), utc(2026, 11, 8, 23, 59, 59), false, utc(2026, 11, 9, 9, 0, 0)},
		{"New Year's Eve night: Friday 1 January is a business day", utcHours(), utc(2026, 12, 31, 20, 0, 0), false, utc(2027, 1, 1, 9, 0, 0)},
		{"Friday 1 January evening to Monday 4 January", utcHours(), utc(2027, 1, 1, 18, 30, 0), false, utc(2027, 1, 4, 9, 0, 0)},
		{"Berlin: Saturday before spring-forward to Monday 09:00 CEST", bh, time.Date(2027, 3, 27, 12, 0, 0, 0, berlin), false, utc(2027, 3, 29, 7, 0, 0)},
		{"Berlin: Monday 07:30Z is 09:30 CEST, open", bh, utc(2027, 3, 29, 7, 30, 0), true, utc(2027, 3, 29, 7, 30, 0)},
		{"Berlin: Monday a week earlier 07:30Z is 08:30 CET, closed", bh, utc(2027, 3, 22, 7, 30, 0), false, utc(2027, 3, 22, 8, 0, 0)},
		{"Berlin: Friday after close before fall-back to Monday 09:00 CET", bh, time.Date(2026, 10, 23, 17, 0, 0, 0, berlin), false, utc(2026, 10, 26, 8, 0, 0)},
		{"no business days", Hours{Start: 540, End: 1080}, utc(2026, 11, 9, 10, 0, 0), false, time.Time{}},
		{"midnight close", Hours{Days: weekdays, Start: 0, End: 24 * 60}, utc(2026, 11, 6, 23, 59, 59), true, utc(2026, 11, 6, 23, 59, 59)},
		{"midnight close, Saturday", Hours{Days: weekdays, Start: 0, End: 24 * 60}, utc(2026, 11, 7, 0, 0, 0), false, utc(2026, 11, 9, 0, 0, 0)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.open, tc.h.Open(tc.at))
			next := tc.h.NextOpening(tc.at)
			require.True(t, tc.next.Equal(next), "next opening %s, want %s", next, tc.next)
		})
	}
}

func TestNextBusinessDay(t *testing.T) {
	t.Parallel()
	h := utcHours()
	tests := []struct {
		at            time.Time
		opens, closes time.Time
	}{
		{utc(2026, 11, 9, 10, 0, 0), utc(2026, 11, 10, 9, 0, 0), utc(2026, 11, 10, 18, 0, 0)}, // Monday in hours → Tuesday
		{utc(2026, 11, 9, 2, 0, 0), utc(2026, 11, 9, 9, 0, 0), utc(2026, 11, 9, 18, 0, 0)},    // Monday night → Monday
		{utc(2026, 11, 9, 9, 0, 0), utc(2026, 11, 10, 9, 0, 0), utc(2026, 11, 10, 18, 0, 0)},  // at the opening → the next one
		{utc(2026, 11, 6, 20, 0, 0), utc(2026, 11, 9, 9, 0, 0), utc(2026, 11, 9, 18, 0, 0)},   // Friday evening → Monday
		{utc(2026, 12, 31, 12, 0, 0), utc(2027, 1, 1, 9, 0, 0), utc(2027, 1, 1, 18, 0, 0)},    // across the year
	}
	for _, tc := range tests {
		o, c := h.NextBusinessDay(tc.at)
		require.True(t, tc.opens.Equal(o), "%s: opens %s", tc.at, o)
		require.True(t, tc.closes.Equal(c), "%s: closes %s", tc.at, c)
	}
}

func TestCompute(t *testing.T) {
	t.Parallel()
	sev := config.Default().Severities
	bh, berlin := berlinHours(t)
	tests := []struct {
		name     string
		sev      config.Severity
		h        Hours
		created  time.Time
		start    time.Time
		ack      time.Time
		inv      time.Time
		update   time.Time // zero: n/a
		resolve  time.Time
		deferred bool
	}{
		{"P1 on a Saturday night: same times", sev["P1"], utcHours(), utc(2026, 11, 7, 3, 0, 0), utc(2026, 11, 7, 3, 0, 0),
			utc(2026, 11, 7, 3, 15, 0), utc(2026, 11, 7, 3, 15, 0), utc(2026, 11, 7, 3, 30, 0), utc(2026, 11, 7, 4, 0, 0), false},
		{"P2 at New Year: same times across the year", sev["P2"], utcHours(), utc(2026, 12, 31, 23, 45, 0), utc(2026, 12, 31, 23, 45, 0),
			utc(2027, 1, 1, 0, 15, 0), utc(2027, 1, 1, 0, 15, 0), utc(2027, 1, 1, 0, 45, 0), utc(2027, 1, 1, 3, 45, 0), false},
		{"P3 in business hours: from creation", sev["P3"], utcHours(), utc(2026, 11, 11, 10, 0, 0), utc(2026, 11, 11, 10, 0, 0),
			utc(2026, 11, 11, 12, 0, 0), utc(2026, 11, 11, 12, 0, 0), utc(2026, 11, 11, 14, 0, 0), utc(2026, 11, 12, 10, 0, 0), false},
		{"P3 on Friday evening: Monday 09:00", sev["P3"], utcHours(), utc(2026, 11, 6, 19, 0, 0), utc(2026, 11, 9, 9, 0, 0),
			utc(2026, 11, 9, 11, 0, 0), utc(2026, 11, 9, 11, 0, 0), utc(2026, 11, 9, 13, 0, 0), utc(2026, 11, 10, 9, 0, 0), true},
		{"P3 on a Sunday", sev["P3"], utcHours(), utc(2026, 11, 8, 15, 0, 0), utc(2026, 11, 9, 9, 0, 0),
			utc(2026, 11, 9, 11, 0, 0), utc(2026, 11, 9, 11, 0, 0), utc(2026, 11, 9, 13, 0, 0), utc(2026, 11, 10, 9, 0, 0), true},
		{"P3 on New Year's Eve night: Friday 1 January", sev["P3"], utcHours(), utc(2026, 12, 31, 22, 0, 0), utc(2027, 1, 1, 9, 0, 0),
			utc(2027, 1, 1, 11, 0, 0), utc(2027, 1, 1, 11, 0, 0), utc(2027, 1, 1, 13, 0, 0), utc(2027, 1, 2, 9, 0, 0), true},
		{"P4 on Monday in hours: Tuesday's close", sev["P4"], utcHours(), utc(2026, 11, 9, 10, 0, 0), utc(2026, 11, 9, 10, 0, 0),
			utc(2026, 11, 10, 18, 0, 0), utc(2026, 11, 10, 18, 0, 0), time.Time{}, utc(2026, 11, 16, 10, 0, 0), false},
		{"P4 on a Saturday: Monday's close, resolve a week from Monday 09:00", sev["P4"], utcHours(), utc(2026, 11, 7, 11, 0, 0), utc(2026, 11, 9, 9, 0, 0),
			utc(2026, 11, 9, 18, 0, 0), utc(2026, 11, 9, 18, 0, 0), time.Time{}, utc(2026, 11, 16, 9, 0, 0), true},
		{"P4 on Monday 02:00: Monday's close", sev["P4"], utcHours(), utc(2026, 11, 9, 2, 0, 0), utc(2026, 11, 9, 9, 0, 0),
			utc(2026, 11, 9, 18, 0, 0), utc(2026, 11, 9, 18, 0, 0), time.Time{}, utc(2026, 11, 16, 9, 0, 0), true},
		{"P4 on New Year's Eve afternoon: Friday 1 January's close", sev["P4"], utcHours(), utc(2026, 12, 31, 15, 0, 0), utc(2026, 12, 31, 15, 0, 0),
			utc(2027, 1, 1, 18, 0, 0), utc(2027, 1, 1, 18, 0, 0), time.Time{}, utc(2027, 1, 7, 15, 0, 0), false},
		{"Berlin P3 on the Saturday before spring-forward: Monday 09:00 CEST", sev["P3"], bh, time.Date(2027, 3, 27, 12, 0, 0, 0, berlin), utc(2027, 3, 29, 7, 0, 0),
			utc(2027, 3, 29, 9, 0, 0), utc(2027, 3, 29, 9, 0, 0), utc(2027, 3, 29, 11, 0, 0), utc(2027, 3, 30, 7, 0, 0), true},
		{"Berlin P4 on the Friday before fall-back: Monday 17:00 CET", sev["P4"], bh, time.Date(2026, 10, 23, 17, 30, 0, 0, berlin), utc(2026, 10, 26, 8, 0, 0),
			utc(2026, 10, 26, 16, 0, 0), utc(2026, 10, 26, 16, 0, 0), time.Time{}, utc(2026, 11, 2, 8, 0, 0), true},
		{"Berlin P1 during the fall-back night: elapsed time", sev["P1"], bh, utc(2026, 10, 25, 0, 50, 0), utc(2026, 10, 25, 0, 50, 0),
			utc(2026, 10, 25, 1, 5, 0), utc(2026, 10, 25, 1, 5, 0), utc(2026, 10, 25, 1, 20, 0), utc(2026, 10, 25, 1, 50, 0), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := Compute(tc.sev, tc.created, tc.h)
			for _, c := range []struct {
				what      string
				got, want time.Time
			}{
				{"clock start", d.ClockStart, tc.start},
				{"acknowledge", d.Acknowledge, tc.ack},
				{"investigate", d.Investigate, tc.inv},
				{"first update", d.FirstUpdate, tc.update},
				{"resolve", d.Resolve, tc.resolve},
			} {
				require.True(t, c.want.Equal(c.got), "%s: got %s, want %s", c.what, c.got.UTC(), c.want.UTC())
			}
			require.Equal(t, tc.deferred, d.Deferred(tc.created))
		})
	}
}

func TestComputeWithHoursThatNeverOpen(t *testing.T) {
	t.Parallel()
	created := utc(2026, 11, 7, 11, 0, 0)
	d := Compute(config.Default().Severities["P4"], created, Hours{})
	require.True(t, created.Equal(d.ClockStart))
	require.True(t, created.Add(24*time.Hour).Equal(d.Acknowledge))
	require.True(t, created.Add(168*time.Hour).Equal(d.Resolve))
}
