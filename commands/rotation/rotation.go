// Package rotation is the pure on-call rotation domain (SPEC §5): which shift an
// instant falls in, who is primary and secondary in it, and how stored overrides
// (swaps, emergency handoffs, PagerDuty) change that.
//
// Shift w (w = 0, 1, 2, …) covers [Start + w·Length, Start + (w+1)·Length). Its
// primary is Pool[w mod n] and its secondary is the primary of shift w-1, that is
// Pool[(w-1) mod n]. Before Start there is no shift.
//
// Time zones: when Length is a whole number of days, shifts step in calendar days
// in Location, so a rotation that starts "Monday 09:00 Europe/Berlin" stays at
// 09:00 local time across daylight-saving changes and the shift containing a
// change is 167h or 169h long. Any other Length steps in absolute time. With UTC
// (or any zone without DST) both agree.
//
// With a pool of one person the secondary is the primary (Shift.Secondary ==
// Shift.Primary); Shift.HasSecondary reports whether there is a separate
// secondary so callers can say "no separate secondary".
//
// Nothing here reads the clock or does I/O: every function takes the instant it
// answers for.
package rotation

import (
	"math"
	"sort"
	"time"
)

// Role is the on-call role an override replaces.
type Role string

// The two on-call roles of a shift.
const (
	Primary   Role = "primary"
	Secondary Role = "secondary"
)

// Override puts UserID in Role for the window [Start, End), winning over the
// formula. On overlap the override with the highest ID (the latest created) wins.
type Override struct {
	ID       int64
	Role     Role
	UserID   string
	Start    time.Time
	End      time.Time
	Reason   string
	Replaces string // the user replaced; informational only
	Source   string // "swap", "emergency", "pagerduty", …
}

// contains reports whether t lies in the override's window.
func (o Override) contains(t time.Time) bool {
	return !t.Before(o.Start) && t.Before(o.End)
}

// Shift is one shift of the rotation and the people on call in it. In values
// returned with overrides applied, Primary and Secondary are the people in effect
// at one instant (documented by each function) and PrimaryOverride /
// SecondaryOverride point at the override that put them there, nil when the
// formula applies.
type Shift struct {
	Index             int
	Start, End        time.Time
	Primary           string
	Secondary         string
	PrimaryOverride   *Override
	SecondaryOverride *Override
}

// HasSecondary reports whether the shift has a secondary distinct from its
// primary; false with a pool of one person.
func (s Shift) HasSecondary() bool { return s.Secondary != "" && s.Secondary != s.Primary }

// Overridden reports whether an override applies to the primary or secondary.
func (s Shift) Overridden() bool { return s.PrimaryOverride != nil || s.SecondaryOverride != nil }

// Rotation is the rotation's definition. Location defaults to UTC when nil.
type Rotation struct {
	Pool     []string
	Start    time.Time
	Length   time.Duration
	Location *time.Location
}

// Valid reports whether the rotation can produce shifts: a non-empty pool, a set
// start and a positive length.
func (r Rotation) Valid() bool {
	return len(r.Pool) > 0 && !r.Start.IsZero() && r.Length > 0
}

func (r Rotation) loc() *time.Location {
	if r.Location == nil {
		return time.UTC
	}
	return r.Location
}

// days returns the number of calendar days per shift, 0 when Length is not a
// whole number of days.
func (r Rotation) days() int {
	const day = 24 * time.Hour
	if r.Length <= 0 || r.Length%day != 0 {
		return 0
	}
	return int(r.Length / day)
}

// startOf returns the start of shift w.
func (r Rotation) startOf(w int) time.Time {
	if d := r.days(); d > 0 {
		return r.Start.In(r.loc()).AddDate(0, 0, w*d)
	}
	return r.Start.Add(time.Duration(w) * r.Length).In(r.loc())
}

// Bounds returns the start and end of shift w in Location. For an invalid
// rotation both are Start.
func (r Rotation) Bounds(w int) (start, end time.Time) {
	if r.Length <= 0 {
		return r.Start, r.Start
	}
	return r.startOf(w), r.startOf(w + 1)
}

// IndexAt returns the index of the shift containing t; ok is false before Start
// or when the rotation is not Valid.
func (r Rotation) IndexAt(t time.Time) (int, bool) {
	if !r.Valid() || t.Before(r.Start) {
		return 0, false
	}
	// Estimate in seconds (no overflow for any realistic date), then correct: in
	// calendar mode a shift start differs from Start+w·Length by at most a zone
	// offset change, less than one shift.
	secs := float64(t.Unix()-r.Start.Unix()) + float64(t.Nanosecond()-r.Start.Nanosecond())/1e9
	est := math.Floor(secs / r.Length.Seconds())
	if est > math.MaxInt32 {
		return 0, false
	}
	w := int(est)
	for w > 0 && r.startOf(w).After(t) {
		w--
	}
	for !r.startOf(w + 1).After(t) {
		w++
	}
	return w, true
}

// mod is the mathematical modulo: never negative for n > 0.
func mod(a, n int) int {
	m := a % n
	if m < 0 {
		m += n
	}
	return m
}

// Shift returns shift w by the formula alone, without overrides.
func (r Rotation) Shift(w int) Shift {
	s := Shift{Index: w}
	s.Start, s.End = r.Bounds(w)
	if n := len(r.Pool); n > 0 {
		s.Primary = r.Pool[mod(w, n)]
		s.Secondary = r.Pool[mod(w-1, n)]
	}
	return s
}

// apply returns s with the overrides in effect at t applied.
func apply(s Shift, t time.Time, ovs []Override) Shift {
	if p := winner(Primary, t, ovs); p != nil {
		s.Primary, s.PrimaryOverride = p.UserID, p
	}
	if p := winner(Secondary, t, ovs); p != nil {
		s.Secondary, s.SecondaryOverride = p.UserID, p
	}
	return s
}

// winner returns a copy of the override for role in effect at t with the highest
// ID (the later one in ovs on equal IDs), or nil.
func winner(role Role, t time.Time, ovs []Override) *Override {
	var best *Override
	for i := range ovs {
		o := ovs[i]
		if o.Role != role || !o.contains(t) {
			continue
		}
		if best == nil || o.ID >= best.ID {
			best = &o
		}
	}
	return best
}

// At returns the shift containing t with the people on call at instant t:
// overrides whose window contains t win over the formula. ok is false before
// Start or when the rotation is not Valid.
func (r Rotation) At(t time.Time, ovs []Override) (Shift, bool) {
	w, ok := r.IndexAt(t)
	if !ok {
		return Shift{}, false
	}
	return apply(r.Shift(w), t, ovs), true
}

// boundaries returns the instants after t, up to and including limit, at which
// the people on call may change: shift starts and override starts and ends.
// They are sorted and unique.
func (r Rotation) boundaries(t, limit time.Time, ovs []Override) []time.Time {
	var out []time.Time
	add := func(b time.Time) {
		if b.After(t) && !b.After(limit) {
			out = append(out, b)
		}
	}
	for _, o := range ovs {
		add(o.Start)
		add(o.End)
	}
	w, ok := r.IndexAt(t)
	if !ok {
		w = -1 // the next boundary is Start itself
	}
	for {
		b := r.startOf(w + 1)
		if b.After(limit) {
			break
		}
		add(b)
		w++
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	uniq := out[:0]
	for i, b := range out {
		if i == 0 || !b.Equal(out[i-1]) {
			uniq = append(uniq, b)
		}
	}
	return uniq
}

// people returns who is primary and secondary at t, "" before Start.
func (r Rotation) people(t time.Time, ovs []Override) (primary, secondary string) {
	if s, ok := r.At(t, ovs); ok {
		return s.Primary, s.Secondary
	}
	return "", ""
}

// latestOverrideEdge returns the latest start or end of the overrides, or t if
// none is later.
func latestOverrideEdge(t time.Time, ovs []Override) time.Time {
	last := t
	for _, o := range ovs {
		for _, b := range []time.Time{o.Start, o.End} {
			if b.After(last) {
				last = b
			}
		}
	}
	return last
}

// NextChange returns the first instant after t at which the primary or the
// secondary actually changes: a shift boundary or an override's start or end
// where someone else takes over. Before Start it returns Start. When nothing
// ever changes again (a pool of one person and no later override) it returns
// the end of the shift containing t, the next handoff to oneself. It returns
// the zero time only when the rotation is not Valid.
func (r Rotation) NextChange(t time.Time, ovs []Override) time.Time {
	if !r.Valid() {
		return time.Time{}
	}
	if t.Before(r.Start) {
		return r.Start
	}
	p0, s0 := r.people(t, ovs)
	// Past the last override edge only the formula applies, and it repeats after
	// len(Pool) shifts: if nothing changed by then, nothing ever will.
	limit := latestOverrideEdge(t, ovs)
	if w, ok := r.IndexAt(limit); ok {
		limit = r.startOf(w + len(r.Pool) + 1)
	}
	for _, b := range r.boundaries(t, limit, ovs) {
		if p, s := r.people(b, ovs); p != p0 || s != s0 {
			return b
		}
	}
	w, _ := r.IndexAt(t)
	return r.startOf(w + 1)
}

// Upcoming returns n shifts: the one containing t (the first shift when t is
// before Start) and the following ones. Each shift's people are those in effect
// at the later of the shift's start and t, overrides applied. It returns nil for
// an invalid rotation or n <= 0.
func (r Rotation) Upcoming(t time.Time, n int, ovs []Override) []Shift {
	if !r.Valid() || n <= 0 {
		return nil
	}
	w, ok := r.IndexAt(t)
	if !ok {
		w = 0
	}
	out := make([]Shift, 0, n)
	for i := 0; i < n; i++ {
		s := r.Shift(w + i)
		at := s.Start
		if t.After(at) {
			at = t
		}
		out = append(out, apply(s, at, ovs))
	}
	return out
}

// NextPrimaryShift returns the first shift, the one containing from included,
// in which user is the effective primary at the later of the shift's start and
// from (overrides applied). Swaps use it to find "the caller's current-or-next
// primary shift". ok is false when there is none: the search stops once the
// formula has cycled through the pool past the last override.
func (r Rotation) NextPrimaryShift(user string, from time.Time, ovs []Override) (Shift, bool) {
	if !r.Valid() {
		return Shift{}, false
	}
	w, ok := r.IndexAt(from)
	if !ok {
		w = 0
	}
	last := latestOverrideEdge(from, ovs)
	lastW, ok := r.IndexAt(last)
	if !ok {
		lastW = 0
	}
	if lastW < w {
		lastW = w
	}
	for i := w; i <= lastW+len(r.Pool); i++ {
		s := r.Shift(i)
		at := s.Start
		if from.After(at) {
			at = from
		}
		s = apply(s, at, ovs)
		if s.Primary == user {
			return s, true
		}
	}
	return Shift{}, false
}

// Segments returns the periods overlapping [from, to) during which the people on
// call stay the same: every shift overlapping the window, split at override
// starts and ends where the primary or secondary changes. Each segment carries
// its shift's Index and its own Start and End (not clipped to from and to), with
// the people in effect during it.
func (r Rotation) Segments(from, to time.Time, ovs []Override) []Shift {
	if !r.Valid() || !from.Before(to) {
		return nil
	}
	if from.Before(r.Start) {
		from = r.Start
	}
	w, ok := r.IndexAt(from)
	if !ok || !from.Before(to) {
		return nil
	}
	var out []Shift
	for ; r.startOf(w).Before(to); w++ {
		base := r.Shift(w)
		// Cut points inside the shift: override edges strictly within it.
		cuts := []time.Time{base.Start}
		for _, b := range r.boundaries(base.Start, base.End, ovs) {
			if b.Before(base.End) {
				cuts = append(cuts, b)
			}
		}
		cuts = append(cuts, base.End)
		for i := 0; i+1 < len(cuts); i++ {
			seg := apply(base, cuts[i], ovs)
			seg.Start, seg.End = cuts[i], cuts[i+1]
			if !seg.End.After(from) {
				continue
			}
			if n := len(out); n > 0 && sameSegment(out[n-1], seg) {
				out[n-1].End = seg.End
				continue
			}
			out = append(out, seg)
		}
	}
	return out
}

// sameSegment reports whether b continues a with the same people from the same
// shift and overrides.
func sameSegment(a, b Shift) bool {
	return a.Index == b.Index && a.End.Equal(b.Start) &&
		a.Primary == b.Primary && a.Secondary == b.Secondary &&
		sameOverride(a.PrimaryOverride, b.PrimaryOverride) &&
		sameOverride(a.SecondaryOverride, b.SecondaryOverride)
}

func sameOverride(a, b *Override) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.ID == b.ID
}

// ShiftsOf returns the segments (see Segments) overlapping [from, to) in which
// user is primary or secondary.
func (r Rotation) ShiftsOf(user string, from, to time.Time, ovs []Override) []Shift {
	var out []Shift
	for _, s := range r.Segments(from, to, ovs) {
		if s.Primary == user || s.Secondary == user {
			out = append(out, s)
		}
	}
	return out
}
