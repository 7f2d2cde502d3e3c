package calendar

import (
	"strconv"
	"strings"
	"testing"
	"time"

	ics "github.com/arran4/golang-ical"
	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/commands/rotation"
)

var names = map[string]string{engA: "Engineer A", engB: "Engineer B", lead: "Engineering Lead", cto: "CTO"}

func testFeed(loc *time.Location) Feed {
	return Feed{
		Name: "On call", Timezone: loc.String(), Location: loc, Host: "oncall.example.com",
		HeadsUp: 24 * time.Hour, NameOf: func(id string) string { return names[id] }, Since: start0,
	}
}

// event is what the tests read back from a parsed feed.
type event struct {
	uid, summary string
	start, end   time.Time
	rawStart     string
	triggers     []string
}

// parse reads a feed back with the library's parser.
func parse(t *testing.T, body string) (*ics.Calendar, map[string]event) {
	t.Helper()
	require.True(t, strings.HasPrefix(body, "BEGIN:VCALENDAR\r\n"), "CRLF line endings")
	cal, err := ics.ParseCalendar(strings.NewReader(body))
	require.NoError(t, err)
	out := map[string]event{}
	for _, ev := range cal.Events() {
		e := event{uid: ev.Id()}
		e.start, err = ev.GetStartAt()
		require.NoError(t, err)
		e.end, err = ev.GetEndAt()
		require.NoError(t, err)
		e.rawStart = ev.GetProperty(ics.ComponentPropertyDtStart).Value
		e.summary = ev.GetProperty(ics.ComponentPropertySummary).Value
		require.NotNil(t, ev.GetProperty(ics.ComponentPropertyDtstamp), "DTSTAMP is required")
		for _, a := range ev.Alarms() {
			require.Equal(t, "DISPLAY", a.GetProperty(ics.ComponentPropertyAction).Value)
			e.triggers = append(e.triggers, a.GetProperty(ics.ComponentPropertyTrigger).Value)
		}
		_, dup := out[e.uid]
		require.False(t, dup, "duplicate UID %s", e.uid)
		out[e.uid] = e
	}
	return cal, out
}

func calProp(cal *ics.Calendar, p ics.Property) string {
	for _, cp := range cal.CalendarProperties {
		if cp.IANAToken == string(p) {
			return cp.Value
		}
	}
	return ""
}

// TestPersonalFeedMatchesRotation checks a personal feed event by event
// against the rotation: UTC times, titles, alarms and UIDs.
func TestPersonalFeedMatchesRotation(t *testing.T) {
	t.Parallel()
	rot := builtin()
	now := at(0, 51*time.Hour) // Wed 4 Nov 12:00
	from, to := Window(now)
	f := testFeed(time.UTC)
	body := f.Personal(engA, RunsOf(Runs(rot, from, to, nil), engA), nil)
	cal, evs := parse(t, body)
	require.Equal(t, "UTC", calProp(cal, ics.PropertyXWRTimezone))
	require.Equal(t, "2.0", calProp(cal, ics.PropertyVersion))

	// Before the rotation's start there is nothing; from shift 0 to the horizon
	// Engineer A is primary in even shifts and secondary in odd ones.
	n := 0
	for w := 0; ; w++ {
		s, e := rot.Bounds(w)
		if !s.Before(to) {
			break
		}
		role := "primary"
		other := "secondary Engineer B"
		if w%2 == 1 {
			role, other = "secondary", "primary Engineer B"
		}
		uid := "shift-" + itoa(w) + "-" + role + "-U0ENGA@oncall.example.com"
		ev, ok := evs[uid]
		require.True(t, ok, "missing %s", uid)
		require.Equal(t, s, ev.start)
		require.Equal(t, e, ev.end)
		require.True(t, strings.HasSuffix(ev.rawStart, "Z"), "DTSTART %s is not UTC", ev.rawStart)
		require.Equal(t, "On-call "+role+": Engineer A ("+other+")", ev.summary)
		require.Equal(t, []string{"-PT24H"}, ev.triggers)
		n++
	}
	require.Len(t, evs, n)
}

// TestFeedUIDsStableAcrossSwap: after a swap the same UIDs carry the new times.
func TestFeedUIDsStableAcrossSwap(t *testing.T) {
	t.Parallel()
	rot := builtin()
	now := at(0, 51*time.Hour)
	from, to := Window(now)
	f := testFeed(time.UTC)
	ovs := swapOverrides(1, engA, engB, 2, 3, engB)
	for _, user := range []string{engA, engB} {
		_, before := parse(t, f.Personal(user, RunsOf(Runs(rot, from, to, nil), user), nil))
		_, after := parse(t, f.Personal(user, RunsOf(Runs(rot, from, to, ovs), user), ovs))
		require.Len(t, after, len(before), "same events for %s", user)
		moved := 0
		for uid, b := range before {
			a, ok := after[uid]
			require.True(t, ok, "UID %s kept", uid)
			if !a.start.Equal(b.start) {
				moved++
				// Shifts 2 and 3 trade places.
				require.Equal(t, week, absDur(a.start.Sub(b.start)), uid)
			}
		}
		require.Equal(t, 2, moved, "%s: the primary and the secondary shift of the swapped weeks moved", user)
	}
	// Engineer A's primary shift 2 is now in week 3, marked as a swap.
	_, after := parse(t, f.Personal(engA, RunsOf(Runs(rot, from, to, ovs), engA), ovs))
	ev := after["shift-2-primary-U0ENGA@oncall.example.com"]
	require.Equal(t, at(3, 0), ev.start)
	require.Equal(t, at(4, 0), ev.end)
}

// TestFeedAcrossDST: in Europe/Berlin a weekly rotation stays at 09:00 local
// time, so the shift containing the end of summer time lasts 169 hours; the
// feed writes the exact instants in UTC.
func TestFeedAcrossDST(t *testing.T) {
	t.Parallel()
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	rot := rotation.Rotation{Pool: []string{engA, engB}, Start: time.Date(2026, 10, 19, 9, 0, 0, 0, berlin), Length: week, Location: berlin}
	now := time.Date(2026, 10, 21, 12, 0, 0, 0, berlin)
	from, to := Window(now)
	f := testFeed(berlin)
	f.Since = rot.Start
	cal, team := parse(t, f.Team(rot.Segments(from, to, nil), nil))
	require.Equal(t, "Europe/Berlin", calProp(cal, ics.PropertyXWRTimezone))
	ev0 := team["shift-0-team@oncall.example.com"]
	ev1 := team["shift-1-team@oncall.example.com"]
	require.Equal(t, "20261019T070000Z", ev0.rawStart, "09:00 CEST")
	require.Equal(t, "20261026T080000Z", ev1.rawStart, "09:00 CET")
	require.Equal(t, 169*time.Hour, ev0.end.Sub(ev0.start))
	require.Equal(t, 168*time.Hour, ev1.end.Sub(ev1.start))
	// Spring forward: the shift containing 29 March 2027 lasts 167 hours.
	w, ok := rot.IndexAt(time.Date(2027, 3, 29, 0, 0, 0, 0, berlin))
	require.True(t, ok)
	ev := team["shift-"+itoa(w)+"-team@oncall.example.com"]
	require.Equal(t, 167*time.Hour, ev.end.Sub(ev.start))
	for _, e := range team {
		s, end := rot.Bounds(indexOf(t, e.uid))
		require.True(t, e.start.Equal(s) && e.end.Equal(end), "%s matches the rotation", e.uid)
		require.Equal(t, 9, e.start.In(berlin).Hour(), "%s starts at 09:00 Berlin time", e.uid)
	}
	_, mine := parse(t, f.Personal(engA, RunsOf(Runs(rot, from, to, nil), engA), nil))
	require.Equal(t, 169*time.Hour, mine["shift-0-primary-U0ENGA@oncall.example.com"].end.Sub(mine["shift-0-primary-U0ENGA@oncall.example.com"].start))
}

// TestFeedHorizon: 12 weeks back and 26 ahead, no more, no less.
func TestFeedHorizon(t *testing.T) {
	t.Parallel()
	rot := builtin()
	now := at(40, 3*time.Hour)
	from, to := Window(now)
	require.Equal(t, now.Add(-84*24*time.Hour), from)
	require.Equal(t, now.Add(182*24*time.Hour), to)
	_, team := parse(t, testFeed(time.UTC).Team(rot.Segments(from, to, nil), nil))
	var first, last time.Time
	for _, e := range team {
		require.True(t, e.end.After(from), "%s ends after the horizon's start", e.uid)
		require.True(t, e.start.Before(to), "%s starts before the horizon's end", e.uid)
		if first.IsZero() || e.start.Before(first) {
			first = e.start
		}
		if e.start.After(last) {
			last = e.start
		}
	}
	require.Equal(t, at(28, 0), first, "the shift containing now-12w")
	require.Equal(t, at(66, 0), last, "the shift containing now+26w")
	require.Len(t, team, 39)
}

// TestTeamFeedTitlesAndOverrides: one event per period, a handoff splits a
// shift into numbered UIDs.
func TestTeamFeedTitlesAndOverrides(t *testing.T) {
	t.Parallel()
	rot := builtin()
	mid := at(0, 50*time.Hour)
	ovs := []Override{
		ov(1, rotation.Primary, engB, engA, mid, at(1, 0), "emergency", "emergency:1", engA),
		ov(2, rotation.Secondary, lead, engB, mid, at(1, 0), "emergency", "emergency:1", lead),
	}
	body := testFeed(time.UTC).Team(rot.Segments(at(0, 0), at(2, 0), plain(ovs)), ovs)
	_, team := parse(t, body)
	require.Len(t, team, 3)
	require.Equal(t, "On-call primary: Engineer A (secondary Engineer B)", team["shift-0-team@oncall.example.com"].summary)
	require.Equal(t, "On-call primary: Engineer B (secondary Engineering Lead)", team["shift-0-team-2@oncall.example.com"].summary)
	require.Equal(t, mid, team["shift-0-team-2@oncall.example.com"].start)
	require.Empty(t, team["shift-0-team@oncall.example.com"].triggers, "the team feed has no alarms")
	require.Contains(t, unfold(body), "Emergency — instead of Engineer A.")
}

func TestDuration(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{-24 * time.Hour, "-PT24H"},
		{-90 * time.Minute, "-PT1H30M"},
		{-45 * time.Second, "-PT45S"},
		{2*time.Hour + 5*time.Second, "PT2H5S"},
		{0, "PT0S"},
	} {
		require.Equal(t, tc.want, Duration(tc.d), tc.d.String())
	}
}

func TestHeadsUpZeroMeansNoAlarm(t *testing.T) {
	t.Parallel()
	f := testFeed(time.UTC)
	f.HeadsUp = 0
	_, evs := parse(t, f.Personal(engA, RunsOf(Runs(builtin(), at(0, 0), at(1, 0), nil), engA), nil))
	for _, e := range evs {
		require.Empty(t, e.triggers)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// indexOf reads the shift index out of a team UID "shift-<w>-team…".
func indexOf(t *testing.T, uid string) int {
	t.Helper()
	rest := strings.TrimPrefix(uid, "shift-")
	n := 0
	for _, c := range rest {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// unfold undoes RFC 5545 line folding and escaping enough for Contains.
func unfold(s string) string {
	s = strings.ReplaceAll(s, "\r\n ", "")
	return strings.ReplaceAll(s, `\,`, ",")
}
