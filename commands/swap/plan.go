package swap

import (
	"errors"
	"time"

	"github.com/contextinject/oncallbot/commands/rotation"
)

// Reasons a swap cannot be planned; the handler turns them into answers.
var (
	errNoShift        = errors.New("no primary shift of the caller ahead")
	errNoShiftOnDay   = errors.New("no primary shift of the caller on that day")
	errNoPartnerShift = errors.New("no primary shift of the partner after the caller's")
)

// window is the stretch of one shift a swap exchanges.
type window struct {
	Shift      int
	Start, End time.Time
}

// findShifts returns the two primary shifts a swap between a and b
// exchanges (SPEC §6): a's current-or-next primary shift, or the one
// overlapping [dayStart, dayEnd) when a day is given (zero times: none),
// and b's next primary shift after it. Shifts already over are skipped; a
// shift in progress counts from now.
func findShifts(rot rotation.Rotation, ovs []rotation.Override, a, b string, now, dayStart, dayEnd time.Time) (wa, wb window, err error) {
	var sa rotation.Shift
	if dayStart.IsZero() {
		s, ok := rot.NextPrimaryShift(a, now, ovs)
		if !ok {
			return wa, wb, errNoShift
		}
		sa = s
	} else {
		from := dayStart
		if now.After(from) {
			from = now
		}
		s, ok := rot.NextPrimaryShift(a, from, ovs)
		if !ok || !s.Start.Before(dayEnd) {
			return wa, wb, errNoShiftOnDay
		}
		sa = s
	}
	wa = window{Shift: sa.Index, Start: sa.Start, End: sa.End}
	if now.After(wa.Start) {
		wa.Start = now
	}
	sb, ok := rot.NextPrimaryShift(b, sa.End, ovs)
	if !ok {
		return wa, wb, errNoPartnerShift
	}
	wb = window{Shift: sb.Index, Start: sb.Start, End: sb.End}
	return wa, wb, nil
}

// planned is one override a swap stores when accepted.
type planned struct {
	Role     rotation.Role
	User     string
	Replaces string
	Start    time.Time
	End      time.Time
}

// plan returns the overrides that exchange wa (a's primary window) and wb
// (b's): b is primary during wa and a during wb. Where the person taking
// the primary was that window's secondary (always so in a pool of two, where
// the secondary is last week's primary), the one giving the primary away
// becomes secondary, so nobody holds both roles and the team keeps two
// people on call.
func plan(rot rotation.Rotation, ovs []rotation.Override, a, b string, wa, wb window) []planned {
	var out []planned
	for _, w := range []struct {
		giver, taker string
		win          window
	}{{a, b, wa}, {b, a, wb}} {
		out = append(out, planned{Role: rotation.Primary, User: w.taker, Replaces: w.giver, Start: w.win.Start, End: w.win.End})
		for _, seg := range rot.Segments(w.win.Start, w.win.End, ovs) {
			if seg.Secondary != w.taker || !seg.HasSecondary() {
				continue
			}
			start, end := maxTime(seg.Start, w.win.Start), minTime(seg.End, w.win.End)
			if end.After(start) {
				out = append(out, planned{Role: rotation.Secondary, User: w.giver, Replaces: w.taker, Start: start, End: end})
			}
		}
	}
	return out
}

// holds reports whether user is primary throughout w: the check made again
// at acceptance, since the schedule may have changed while the request was
// pending.
func holds(rot rotation.Rotation, ovs []rotation.Override, user string, w window) bool {
	segs := rot.Segments(w.Start, w.End, ovs)
	if len(segs) == 0 {
		return false
	}
	for _, s := range segs {
		if s.Primary != user {
			return false
		}
	}
	return true
}

// served sums the time user held each role during [from, to).
type served struct {
	Primary, Secondary             time.Duration
	PrimaryShifts, SecondaryShifts int
}

// serve computes what user served during [from, to), overrides applied.
// A shift counts when user held the role for any part of it.
func serve(rot rotation.Rotation, ovs []rotation.Override, user string, from, to time.Time) served {
	var out served
	seenP, seenS := map[int]bool{}, map[int]bool{}
	for _, s := range rot.ShiftsOf(user, from, to, ovs) {
		d := minTime(s.End, to).Sub(maxTime(s.Start, from))
		if d <= 0 {
			continue
		}
		if s.Primary == user {
			out.Primary += d
			if !seenP[s.Index] {
				seenP[s.Index] = true
				out.PrimaryShifts++
			}
		}
		if s.Secondary == user && s.HasSecondary() {
			out.Secondary += d
			if !seenS[s.Index] {
				seenS[s.Index] = true
				out.SecondaryShifts++
			}
		}
	}
	return out
}

// owed counts overrides in which user covered for someone else (taken) and
// in which someone else covered for user (given). Swaps add one of each to
// both people; emergency handoffs and volunteers do not balance.
func owed(ovs []rotation.Override, user string) (taken, given int) {
	for _, o := range ovs {
		switch {
		case o.UserID == user && o.Replaces != "" && o.Replaces != user:
			taken++
		case o.Replaces == user && o.UserID != user:
			given++
		}
	}
	return taken, given
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
