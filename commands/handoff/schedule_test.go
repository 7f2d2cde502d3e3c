package handoff

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/commands/config"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

var anchor = utc("2026-11-02T09:00:00Z")

func sched(t *testing.T, spec string) Schedule {
	t.Helper()
	s, err := config.ParseCron(spec)
	require.NoError(t, err, spec)
	return NewSchedule(s, anchor)
}

func TestScheduleNextAtExactInstants(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, spec, from string
		want             []string // successive Next instants
	}{
		{"weekly UTC, from midweek", "CRON_TZ=UTC 0 9 * * MON", "2026-11-04T12:00:00Z", []string{"2026-11-09T09:00:00Z", "2026-11-16T09:00:00Z"}},
		{"weekly UTC, strictly after an instant", "CRON_TZ=UTC 0 9 * * MON", "2026-11-09T09:00:00Z", []string{"2026-11-16T09:00:00Z"}},
		{"one nanosecond before an instant", "CRON_TZ=UTC 0 9 * * MON", "2026-11-09T08:59:59.999999999Z", []string{"2026-11-09T09:00:00Z"}},
		{"Berlin across spring-forward", "CRON_TZ=Europe/Berlin 0 9 * * MON", "2026-03-17T00:00:00Z", []string{"2026-03-23T08:00:00Z", "2026-03-30T07:00:00Z"}},
		{"Berlin across fall-back", "CRON_TZ=Europe/Berlin 0 9 * * MON", "2026-10-13T00:00:00Z", []string{"2026-10-19T07:00:00Z", "2026-10-26T08:00:00Z"}},
		{"New York after DST starts", "CRON_TZ=America/New_York 0 9 * * MON", "2024-03-05T00:00:00Z", []string{"2024-03-11T13:00:00Z"}},
		{"repeated hour fires twice", "CRON_TZ=Europe/Berlin 30 2 * * *", "2024-10-26T10:00:00Z", []string{"2024-10-27T00:30:00Z", "2024-10-27T01:30:00Z", "2024-10-28T01:30:00Z"}},
		{"skipped hour does not fire", "CRON_TZ=Europe/Berlin 30 2 * * *", "2024-03-30T11:00:00Z", []string{"2024-04-01T00:30:00Z"}},
		{"six fields with seconds", "CRON_TZ=UTC 30 0 9 * * MON", "2026-11-09T09:00:00Z", []string{"2026-11-09T09:00:30Z", "2026-11-16T09:00:30Z"}},
		{"descriptor with zone", "CRON_TZ=Asia/Tokyo @daily", "2026-11-04T12:00:00Z", []string{"2026-11-04T15:00:00Z", "2026-11-05T15:00:00Z"}},
		{"@every anchored at the rotation start", "@every 168h", "2026-11-04T12:00:00Z", []string{"2026-11-09T09:00:00Z", "2026-11-16T09:00:00Z"}},
		{"@every before the anchor", "@every 168h", "2026-10-01T00:00:00Z", []string{"2026-10-05T09:00:00Z"}},
		{"@every hourly, strictly after", "@every 1h", "2026-11-04T12:00:00Z", []string{"2026-11-04T13:00:00Z", "2026-11-04T14:00:00Z"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := sched(t, tc.spec)
			at := utc(tc.from)
			for _, w := range tc.want {
				at = s.Next(at)
				require.Equal(t, utc(w), at.UTC(), "%s after %s", tc.spec, tc.from)
			}
		})
	}
}

func TestSchedulePrev(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, spec, at, floor string
		want                  string // "" for none
	}{
		{"an instant is its own Prev", "CRON_TZ=UTC 0 9 * * MON", "2026-11-09T09:00:00Z", "2026-11-02T09:00:00Z", "2026-11-09T09:00:00Z"},
		{"the floor is inclusive", "CRON_TZ=UTC 0 9 * * MON", "2026-11-09T08:59:59Z", "2026-11-02T09:00:00Z", "2026-11-02T09:00:00Z"},
		{"nothing after the floor", "CRON_TZ=UTC 0 9 * * MON", "2026-11-09T08:59:59Z", "2026-11-02T09:00:01Z", ""},
		{"t before floor", "CRON_TZ=UTC 0 9 * * MON", "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z", ""},
		{"Berlin after spring-forward", "CRON_TZ=Europe/Berlin 0 9 * * MON", "2026-03-30T10:00:00Z", "2026-03-23T09:00:00Z", "2026-03-30T07:00:00Z"},
		{"repeated hour: the later one", "CRON_TZ=Europe/Berlin 30 2 * * *", "2024-10-27T02:00:00Z", "2024-10-26T00:00:00Z", "2024-10-27T01:30:00Z"},
		{"every second, sub-second t", "* * * * * *", "2026-11-04T12:00:30.5Z", "2026-11-04T11:00:00Z", "2026-11-04T12:00:30Z"},
		{"no instant for five years", "0 0 30 2 *", "2026-11-04T12:00:00Z", "2026-01-01T00:00:00Z", ""},
		{"@every: latest anchored instant", "@every 1h", "2026-11-04T12:30:00Z", "2026-11-04T00:00:00Z", "2026-11-04T12:00:00Z"},
		{"@every: instant below the floor", "@every 168h", "2026-11-08T00:00:00Z", "2026-11-03T00:00:00Z", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := sched(t, tc.spec).Prev(utc(tc.at), utc(tc.floor))
			if tc.want == "" {
				require.False(t, ok, "got %s", got)
				return
			}
			require.True(t, ok)
			require.Equal(t, utc(tc.want), got.UTC())
		})
	}
}

func TestBoundary(t *testing.T) {
	t.Parallel()
	rot := config.Default().RotationSchedule()
	cases := []struct {
		at   string
		want string // "" when there is no change with an outgoing shift
		w    int
	}{
		{"2026-11-09T09:00:00Z", "2026-11-09T09:00:00Z", 1},
		{"2026-11-09T08:00:00Z", "2026-11-09T09:00:00Z", 1},
		{"2026-11-12T12:00:00Z", "2026-11-09T09:00:00Z", 1},
		{"2026-11-05T21:00:00Z", "2026-11-09T09:00:00Z", 1}, // exactly mid-shift: the later change
		{"2026-11-05T20:59:59Z", "", 0},                     // nearer the rotation's first start
		{"2026-10-01T00:00:00Z", "", 0},
		{"2026-11-27T19:00:00Z", "2026-11-30T09:00:00Z", 4},
	}
	for _, tc := range cases {
		b, w, ok := Boundary(rot, utc(tc.at))
		if tc.want == "" {
			require.False(t, ok, tc.at)
			continue
		}
		require.True(t, ok, tc.at)
		require.Equal(t, utc(tc.want), b.UTC(), tc.at)
		require.Equal(t, tc.w, w, tc.at)
	}
}

func TestRiverScheduleNeverReturnsZero(t *testing.T) {
	t.Parallel()
	at := utc("2026-11-04T12:00:00Z")
	require.Equal(t, at.AddDate(1, 0, 0), riverSchedule{sched(t, "0 0 30 2 *")}.Next(at))
	require.Equal(t, utc("2026-11-09T09:00:00Z"), riverSchedule{sched(t, "CRON_TZ=UTC 0 9 * * MON")}.Next(at))
}
