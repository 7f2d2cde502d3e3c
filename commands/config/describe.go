package config

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/contextinject/oncallbot/commands/rotation"
)

// DescribeShifts is how many upcoming shifts Describe lists.
const DescribeShifts = 4

// Describe writes what `oncallbot check-config` shows for a valid
// configuration: its source, people, the rotation pool, the escalation chain in
// words, the severities, and the next DescribeShifts shifts at now with exact
// start and end in the configured zone and in UTC, overrides applied. Write
// errors are ignored: it prints to a terminal.
func Describe(w io.Writer, c *Config, now time.Time, overrides []rotation.Override) {
	loc := c.Location
	if loc == nil {
		loc = time.UTC
	}
	fmt.Fprintf(w, "configuration OK (%s)\n", c.Source)
	fmt.Fprintf(w, "time zone: %s; business hours: %s %s-%s\n",
		loc, strings.Join(c.BusinessHours.Days, ", "), c.BusinessHours.Start, c.BusinessHours.End)

	admins := make([]string, len(c.Admins))
	for i, id := range c.Admins {
		admins[i] = c.Name(id)
	}
	fmt.Fprintf(w, "people: %d (admins: %s)\n", len(c.People), orNone(strings.Join(admins, ", ")))

	pool := make([]string, len(c.Rotation.Pool))
	for i, id := range c.Rotation.Pool {
		pool[i] = fmt.Sprintf("%s (%s)", c.Name(id), id)
	}
	fmt.Fprintf(w, "rotation pool: %s; %s shifts from %s\n",
		strings.Join(pool, ", "), c.Rotation.Length, stamp(c.Rotation.Start, loc, true))

	describeEscalation(w, c)

	fmt.Fprintln(w, "severities:")
	for _, name := range c.SeverityNames() {
		s := c.Severities[name]
		fmt.Fprintf(w, "  %s: acknowledge %s, investigate %s, first update %s, resolve %s; after hours: %s",
			name, target(s.Acknowledge), target(s.Investigate), target(s.FirstUpdate), target(s.Resolve), s.AfterHours)
		if len(s.Broadcast) > 0 {
			fmt.Fprintf(w, "; broadcast to %s", c.words(s.Broadcast))
		}
		fmt.Fprintln(w)
	}

	if s := c.ReminderSchedule(); s != nil {
		fmt.Fprintf(w, "next handoff reminder: %s (%s)\n", stamp(s.Next(now), loc, true), c.Handoff.Reminder)
	}

	r := c.RotationSchedule()
	fmt.Fprintf(w, "next %d shifts (at %s):\n", DescribeShifts, stamp(now, loc, true))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	utc := loc == time.UTC
	if utc {
		fmt.Fprintln(tw, "  SHIFT\tSTART (UTC)\tEND (UTC)\tPRIMARY\tSECONDARY")
	} else {
		fmt.Fprintf(tw, "  SHIFT\tSTART (%s)\tEND (%s)\tSTART (UTC)\tEND (UTC)\tPRIMARY\tSECONDARY\n", loc, loc)
	}
	for _, s := range r.Upcoming(now, DescribeShifts, overrides) {
		idx := fmt.Sprintf("%d", s.Index)
		if !now.Before(s.Start) && now.Before(s.End) {
			idx += " (now)"
		}
		primary := c.Name(s.Primary) + overrideNote(s.PrimaryOverride)
		secondary := c.Name(s.Secondary) + overrideNote(s.SecondaryOverride)
		if !s.HasSecondary() {
			secondary += " (no separate secondary)"
		}
		if utc {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", idx, stamp(s.Start, time.UTC, false), stamp(s.End, time.UTC, false), primary, secondary)
		} else {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", idx, stamp(s.Start, loc, true), stamp(s.End, loc, true),
				stamp(s.Start, time.UTC, false), stamp(s.End, time.UTC, false), primary, secondary)
		}
	}
	_ = tw.Flush()
}

// describeEscalation writes the escalation chain in words.
func describeEscalation(w io.Writer, c *Config) {
	e := c.Escalation
	name := ""
	if e.Name != "" {
		name = fmt.Sprintf(" %q", e.Name)
	}
	runs := "once"
	if e.Loops > 1 {
		runs = fmt.Sprintf("%d times", e.Loops)
	}
	fmt.Fprintf(w, "escalation%s: the chain runs %s; an acknowledgement stops it\n", name, runs)
	for i, s := range e.Steps {
		last := i == len(e.Steps)-1
		var then string
		switch {
		case !last && s.After == 0:
			then = fmt.Sprintf("then step %d at once", i+2)
		case !last:
			then = fmt.Sprintf("wait %s for an acknowledgement", s.After)
		case e.Loops > 1 && s.After == 0:
			then = "then start over from step 1"
		case e.Loops > 1:
			then = fmt.Sprintf("wait %s, then start over from step 1", s.After)
		case s.After == 0:
			then = "then stop"
		default:
			then = fmt.Sprintf("wait %s, then stop", s.After)
		}
		fmt.Fprintf(w, "  %d. notify %s, %s\n", i+1, c.words(s.Notify), then)
	}
}

// words describes role words and person IDs for people.
func (c *Config) words(targets []string) string {
	names := func(ids []string) string {
		out := make([]string, len(ids))
		for i, id := range ids {
			out[i] = c.Name(id)
		}
		return orNone(strings.Join(out, ", "))
	}
	parts := make([]string, len(targets))
	for i, t := range targets {
		switch t {
		case WordPrimary:
			parts[i] = "the primary"
		case WordSecondary:
			parts[i] = "the secondary"
		case RoleEngineeringLead:
			parts[i] = "the engineering lead (" + names(c.WithRole(t)) + ")"
		case RoleCTO:
			parts[i] = "the CTO (" + names(c.WithRole(t)) + ")"
		case WordEngineers:
			parts[i] = "every engineer (" + names(c.Rotation.Pool) + ")"
		default:
			parts[i] = c.Name(t)
		}
	}
	return strings.Join(parts, " and ")
}

func overrideNote(o *rotation.Override) string {
	if o == nil {
		return ""
	}
	if o.Source != "" {
		return " (override: " + o.Source + ")"
	}
	return " (override)"
}

func target(t Target) string {
	if t.IsZero() {
		return "n/a"
	}
	return t.String()
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// stamp formats t in loc to the minute, or to the second when it has seconds;
// zone adds the zone abbreviation (CET, CEST, UTC).
func stamp(t time.Time, loc *time.Location, zone bool) string {
	layout := "Mon 2006-01-02 15:04"
	if t.Second() != 0 || t.Nanosecond() != 0 {
		layout += ":05"
	}
	if zone {
		layout += " MST"
	}
	return t.In(loc).Format(layout)
}
