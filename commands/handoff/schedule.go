package handoff

import (
	"time"

	"github.com/robfig/cron/v3"

	"github.com/contextinject/oncallbot/commands/rotation"
)

// Schedule is the weekly reminder's schedule: a robfig/cron schedule whose
// instants every replica computes alike. A cron spec (5 or 6 fields,
// CRON_TZ=, descriptors) has absolute instants already; robfig's @every
// counts from whatever time it is given, so here it is anchored at the
// rotation's start: the instants are anchor + k·every for whole k.
//
// robfig/cron's DST behaviour is kept: an instant in a skipped hour does not
// happen that day, and one in a repeated hour happens twice; the reminder is
// still sent once because it is claimed per shift change, not per instant.
type Schedule struct {
	spec   cron.Schedule
	every  time.Duration
	anchor time.Time
}

// NewSchedule returns s anchored at anchor (used only by @every).
func NewSchedule(s cron.Schedule, anchor time.Time) Schedule {
	if cd, ok := s.(cron.ConstantDelaySchedule); ok {
		return Schedule{every: cd.Delay, anchor: anchor}
	}
	return Schedule{spec: s, anchor: anchor}
}

// Next returns the first instant strictly after t (zero when there is none
// within robfig's five-year search). It implements river.PeriodicSchedule.
func (s Schedule) Next(t time.Time) time.Time {
	if s.every > 0 {
		k := floorDiv(t.Sub(s.anchor), s.every) + 1
		return s.anchor.Add(time.Duration(k) * s.every)
	}
	if s.spec == nil {
		return time.Time{}
	}
	return s.spec.Next(t)
}

// Prev returns the latest instant in [floor, t], and false when there is none.
func (s Schedule) Prev(t, floor time.Time) (time.Time, bool) {
	if t.Before(floor) {
		return time.Time{}, false
	}
	if s.every > 0 {
		k := floorDiv(t.Sub(s.anchor), s.every)
		p := s.anchor.Add(time.Duration(k) * s.every)
		return p, !p.Before(floor)
	}
	if s.spec == nil {
		return time.Time{}, false
	}
	// robfig/cron has no Prev: search windows doubling back from t, then walk
	// forward in the first window holding an instant. The walk is bounded by
	// about twice the instants in the window, whatever the spec's density.
	for w := time.Second; ; w *= 2 {
		from, clamped := t.Add(-w), false
		if !from.After(floor) {
			from, clamped = floor, true
		}
		// Next is strictly after its argument; an instant exactly at from counts.
		x := s.spec.Next(from.Add(-time.Nanosecond))
		if !x.IsZero() && !x.After(t) {
			for {
				y := s.spec.Next(x)
				if y.IsZero() || y.After(t) {
					return x, true
				}
				x = y
			}
		}
		if clamped {
			return time.Time{}, false
		}
	}
}

// floorDiv is ⌊a/b⌋ for b > 0.
func floorDiv(a, b time.Duration) int64 {
	q := int64(a / b)
	if a%b < 0 {
		q--
	}
	return q
}

// Boundary returns the shift change a reminder at t is about: the start of
// a shift nearest to t (the later one on a tie), and the index of the shift
// it starts. ok is false when that change has no outgoing shift (the
// rotation's first start or before).
func Boundary(rot rotation.Rotation, t time.Time) (b time.Time, w int, ok bool) {
	if !rot.Valid() {
		return time.Time{}, 0, false
	}
	cur, in := rot.IndexAt(t)
	if !in {
		return time.Time{}, 0, false
	}
	start, end := rot.Bounds(cur)
	if t.Sub(start) < end.Sub(t) {
		b, w = start, cur
	} else {
		b, w = end, cur+1
	}
	return b, w, w >= 1
}
