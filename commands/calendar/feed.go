package calendar

import (
	"fmt"
	"strings"
	"time"

	ics "github.com/arran4/golang-ical"

	"github.com/contextinject/oncallbot/commands/rotation"
)

// Horizon of the feeds: past shifts stay visible for a quarter, future ones
// for half a year.
const (
	HorizonBack  = 12 * 7 * 24 * time.Hour
	HorizonAhead = 26 * 7 * 24 * time.Hour
)

// Window returns the feeds' horizon around now.
func Window(now time.Time) (from, to time.Time) {
	return now.Add(-HorizonBack), now.Add(HorizonAhead)
}

// refresh is how often clients are asked to poll the feed (X-PUBLISHED-TTL,
// REFRESH-INTERVAL); Google ignores it and polls every few hours.
const refresh = "PT1H"

// Feed renders iCalendar (RFC 5545) feeds. Every time is written in UTC
// ("…Z"); X-WR-TIMEZONE names the team's zone so clients that honour it
// show the shifts there.
type Feed struct {
	// Name is the calendar's display name (X-WR-CALNAME).
	Name string
	// Timezone is the configured IANA zone; Location is it loaded, used for
	// the times written in descriptions.
	Timezone string
	Location *time.Location
	// Host is the domain part of event UIDs (the public URL's host).
	Host string
	// HeadsUp is how long before each personal event its alarm fires
	// (handoff.heads_up); 0 means no alarm.
	HeadsUp time.Duration
	// NameOf returns a person's display name.
	NameOf func(id string) string
	// Since stamps (DTSTAMP) events no override touched: the rotation's
	// start, so an unchanged event renders identically and the feed's ETag
	// holds.
	Since time.Time
}

func (f Feed) name(id string) string {
	if id == "" {
		return "nobody"
	}
	if f.NameOf == nil {
		return id
	}
	return f.NameOf(id)
}

func (f Feed) loc() *time.Location {
	if f.Location == nil {
		return time.UTC
	}
	return f.Location
}

func (f Feed) calendar(name string) *ics.Calendar {
	cal := ics.NewCalendarFor("oncallbot")
	cal.SetProductId("-//ContextInject//oncallbot//EN")
	cal.SetMethod(ics.MethodPublish)
	cal.SetCalscale("GREGORIAN")
	cal.SetName(name)
	cal.SetXWRCalName(name)
	tz := f.Timezone
	if tz == "" {
		tz = "UTC"
	}
	cal.SetXWRTimezone(tz)
	cal.SetXPublishedTTL(refresh)
	cal.SetRefreshInterval(refresh) // the library adds VALUE=DURATION
	return cal
}

// uid returns the event UID of key.
func (f Feed) uid(key string) string {
	host := f.Host
	if host == "" {
		host = "oncallbot"
	}
	return "shift-" + key + "@" + host
}

// stamp is the latest creation of an override overlapping [start, end), or
// Since: when the event's information last changed, as far as the bot knows.
func (f Feed) stamp(start, end time.Time, ovs []Override) time.Time {
	t := f.Since
	for _, o := range ovs {
		if o.Start.Before(end) && o.End.After(start) && o.CreatedAt.After(t) {
			t = o.CreatedAt
		}
	}
	if t.IsZero() {
		t = start
	}
	return t
}

// Title returns a personal event's summary: the role and the people,
// "On-call primary: Engineer A (secondary Engineer B)".
func (f Feed) Title(r Run) string {
	other := rotation.Secondary
	if r.Role == rotation.Secondary {
		other = rotation.Primary
	}
	s := fmt.Sprintf("On-call %s: %s", r.Role, f.name(r.User))
	if len(r.Others) > 0 {
		names := make([]string, len(r.Others))
		for i, o := range r.Others {
			names[i] = f.name(o)
		}
		s += fmt.Sprintf(" (%s %s)", other, strings.Join(names, ", then "))
	}
	return s
}

// when formats t in the team's zone for descriptions.
func (f Feed) when(t time.Time) string {
	return t.In(f.loc()).Format("Mon 2 Jan 2006 15:04 MST")
}

// overrideNote describes an override for a description: "Swap: reason —
// instead of Engineer B."
func (f Feed) overrideNote(o *rotation.Override) string {
	if o == nil {
		return ""
	}
	src := o.Source
	if src == "" {
		src = "override"
	}
	s := strings.ToUpper(src[:1]) + src[1:]
	if o.Reason != "" {
		s += ": " + o.Reason
	}
	if o.Replaces != "" {
		s += " — instead of " + f.name(o.Replaces)
	}
	return s + "."
}

// Personal renders user's feed from their runs (RunsOf) with an alarm
// HeadsUp before each; ovs are the overrides the runs were computed with.
func (f Feed) Personal(user string, runs []Run, ovs []Override) string {
	cal := f.calendar(f.Name)
	for _, r := range runs {
		if r.User != user {
			continue
		}
		ev := cal.AddEvent(f.uid(r.Key))
		stamp := f.stamp(r.Start, r.End, ovs)
		ev.SetDtStampTime(stamp)
		ev.SetModifiedAt(stamp)
		ev.SetStartAt(r.Start)
		ev.SetEndAt(r.End)
		ev.SetSummary(f.Title(r))
		desc := fmt.Sprintf("You are %s on call from %s to %s (%s).", r.Role, f.when(r.Start), f.when(r.End), f.loc())
		if r.Override != nil {
			desc += "\n" + f.overrideNote(&r.Override.Override)
		}
		desc += "\nIn Slack: /oncall schedule shows the rota, /oncall swap trades a shift."
		ev.SetDescription(desc)
		ev.SetTimeTransparency(ics.TransparencyTransparent)
		ev.AddCategory("On call")
		if f.HeadsUp > 0 {
			a := ev.AddAlarm()
			a.SetAction(ics.ActionDisplay)
			a.SetTrigger(Duration(-f.HeadsUp))
			a.SetProperty(ics.ComponentPropertyDescription, fmt.Sprintf("Your %s on-call shift starts in %s.", r.Role, humanDuration(f.HeadsUp)))
		}
	}
	return serialize(cal)
}

// Team renders the team feed: one event per period with the same people
// (rotation.Segments), titled with both roles. A shift's first period has
// the UID "shift-<index>-team@host"; later periods of the same shift (after an
// emergency handoff, say) add "-2", "-3".
func (f Feed) Team(segs []rotation.Shift, ovs []Override) string {
	cal := f.calendar(f.Name)
	n := map[int]int{}
	for _, s := range segs {
		n[s.Index]++
		key := fmt.Sprintf("%d-team", s.Index)
		if n[s.Index] > 1 {
			key += fmt.Sprintf("-%d", n[s.Index])
		}
		ev := cal.AddEvent(f.uid(key))
		stamp := f.stamp(s.Start, s.End, ovs)
		ev.SetDtStampTime(stamp)
		ev.SetModifiedAt(stamp)
		ev.SetStartAt(s.Start)
		ev.SetEndAt(s.End)
		title := "On-call primary: " + f.name(s.Primary)
		if s.HasSecondary() {
			title += " (secondary " + f.name(s.Secondary) + ")"
		}
		ev.SetSummary(title)
		desc := fmt.Sprintf("Shift %d, %s to %s (%s).\nPrimary: %s.", s.Index+1, f.when(s.Start), f.when(s.End), f.loc(), f.name(s.Primary))
		if note := f.overrideNote(s.PrimaryOverride); note != "" {
			desc += " " + note
		}
		if s.HasSecondary() {
			desc += fmt.Sprintf("\nSecondary: %s.", f.name(s.Secondary))
			if note := f.overrideNote(s.SecondaryOverride); note != "" {
				desc += " " + note
			}
		}
		ev.SetDescription(desc)
		ev.SetTimeTransparency(ics.TransparencyTransparent)
		ev.AddCategory("On call")
	}
	return serialize(cal)
}

// Duration formats d as an RFC 5545 duration ("-PT24H", "PT1H30M", "-P1DT2H"
// is never produced: days are written as hours, which every client reads).
func Duration(d time.Duration) string {
	sign := ""
	if d < 0 {
		sign, d = "-", -d
	}
	d = d.Truncate(time.Second)
	if d == 0 {
		return "PT0S"
	}
	h, m, s := int64(d/time.Hour), int64(d%time.Hour/time.Minute), int64(d%time.Minute/time.Second)
	var b strings.Builder
	b.WriteString(sign + "PT")
	if h > 0 {
		fmt.Fprintf(&b, "%dH", h)
	}
	if m > 0 {
		fmt.Fprintf(&b, "%dM", m)
	}
	if s > 0 {
		fmt.Fprintf(&b, "%dS", s)
	}
	return b.String()
}

// humanDuration writes d for people: "24h", "1h30m", "45m".
func humanDuration(d time.Duration) string {
	s := d.Truncate(time.Minute).String()
	s = strings.TrimSuffix(s, "0s")
	return strings.Replace(s, "h0m", "h", 1)
}

// serialize writes cal with CRLF line ends: RFC 5545 §3.1 requires them, and
// the library's default is the host's (LF on Unix).
func serialize(cal *ics.Calendar) string {
	return cal.Serialize(ics.WithNewLineWindows)
}
