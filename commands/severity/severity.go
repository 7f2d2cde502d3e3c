// Package severity computes business hours and incident response deadlines
// (SPEC §7) from a severity's targets. It is pure: every function takes the
// instants it answers for.
//
// Rules:
//   - Duration targets (acknowledge 15m, resolve 24h, …) count from the clock
//     start in elapsed time.
//   - The clock starts at creation, except for a severity with after_hours
//     next_business_morning or next_business_day created outside business
//     hours: then it starts at the next business-hours opening.
//   - A "next_business_day" target is due at the close of the next business day:
//     the first business day whose opening comes after the creation. Created
//     Monday 10:00 → Tuesday at closing time; created Friday 20:00, on Saturday
//     or on Monday 02:00 → Monday at closing time. The team gets the whole day to
//     respond rather than being reminded at the very moment it opens.
//
// Public holidays are not known; business days are the configured weekdays.
package severity

import (
	"slices"
	"time"

	"github.com/contextinject/oncallbot/commands/config"
)

// Hours are business hours: Days from Start to End, in minutes after midnight
// of Location (End may be 24*60 for midnight).
type Hours struct {
	Days       []time.Weekday
	Start, End int
	Location   *time.Location
}

// HoursFrom returns the business hours of a loaded configuration.
func HoursFrom(c *config.Config) Hours {
	loc := c.Location
	if loc == nil {
		loc = time.UTC
	}
	return Hours{
		Days:     slices.Clone(c.BusinessHours.Weekdays),
		Start:    c.BusinessHours.StartMinute,
		End:      c.BusinessHours.EndMinute,
		Location: loc,
	}
}

func (h Hours) loc() *time.Location {
	if h.Location == nil {
		return time.UTC
	}
	return h.Location
}

// valid reports whether the hours open at all.
func (h Hours) valid() bool { return len(h.Days) > 0 && h.Start < h.End && h.Start >= 0 }

// Open reports whether t is within business hours: on a business day, at or
// after Start and before End, by the wall clock of Location.
func (h Hours) Open(t time.Time) bool {
	if !h.valid() {
		return false
	}
	lt := t.In(h.loc())
	if !slices.Contains(h.Days, lt.Weekday()) {
		return false
	}
	m := lt.Hour()*60 + lt.Minute()
	return m >= h.Start && m < h.End
}

// at returns the instant of minute-of-day m on the day that is days after t's
// day in Location.
func (h Hours) at(t time.Time, days, m int) time.Time {
	lt := t.In(h.loc())
	return time.Date(lt.Year(), lt.Month(), lt.Day()+days, 0, m, 0, 0, h.loc())
}

// NextOpening returns t itself when business hours are open at t, else the next
// opening after t. It returns the zero time when the hours never open (no
// days, or Start not before End).
func (h Hours) NextOpening(t time.Time) time.Time {
	if h.Open(t) {
		return t
	}
	open, _ := h.NextBusinessDay(t)
	return open
}

// NextBusinessDay returns the opening and closing instants of the first
// business day whose opening is after t. At 10:00 on a Monday it is Tuesday's;
// at 02:00 on a Monday, Monday's; on a Saturday, Monday's. Both are zero when
// the hours never open.
func (h Hours) NextBusinessDay(t time.Time) (opens, closes time.Time) {
	if !h.valid() {
		return time.Time{}, time.Time{}
	}
	// Business days recur weekly, so one is found within 8 days.
	for i := 0; i <= 7; i++ {
		o := h.at(t, i, h.Start)
		if o.After(t) && slices.Contains(h.Days, o.Weekday()) {
			return o, h.at(t, i, h.End)
		}
	}
	return time.Time{}, time.Time{}
}

// Deadlines are an incident's response deadlines; a zero time means the target
// does not apply (for example P4's first update).
type Deadlines struct {
	Acknowledge time.Time
	Investigate time.Time
	FirstUpdate time.Time
	Resolve     time.Time
	// ClockStart is when the clocks started: the creation, or the next opening
	// for an incident deferred to business hours.
	ClockStart time.Time
}

// Deferred reports whether the clocks start after the creation at created
// because it came outside business hours.
func (d Deadlines) Deferred(created time.Time) bool { return d.ClockStart.After(created) }

// Compute returns the deadlines of an incident of severity sev created at
// created, under business hours h (see the package comment for the rules).
func Compute(sev config.Severity, created time.Time, h Hours) Deadlines {
	start := created
	switch sev.AfterHours {
	case config.AfterHoursNextBusinessMorning, config.AfterHoursNextBusinessDay:
		if o := h.NextOpening(created); !o.IsZero() {
			start = o
		}
	}
	due := func(t config.Target) time.Time {
		switch {
		case t.NextBusinessDay:
			if _, closes := h.NextBusinessDay(created); !closes.IsZero() {
				return closes
			}
			// Hours that never open: a business day is at least a day.
			return start.Add(24 * time.Hour)
		case t.Duration > 0:
			return start.Add(t.Duration)
		}
		return time.Time{}
	}
	return Deadlines{
		Acknowledge: due(sev.Acknowledge),
		Investigate: due(sev.Investigate),
		FirstUpdate: due(sev.FirstUpdate),
		Resolve:     due(sev.Resolve),
		ClockStart:  start,
	}
}
