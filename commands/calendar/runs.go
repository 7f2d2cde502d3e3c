package calendar

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/contextinject/oncallbot/commands/rotation"
	"github.com/contextinject/oncallbot/store"
)

// Override is a stored rotation override with what the calendar needs beyond
// the rotation's view of it: who created it and what it belongs to (Ref, a
// swap or an emergency handoff), which pair a swap's windows and decide who
// was already told about a change.
type Override struct {
	rotation.Override
	Ref       string
	CreatedBy string
	CreatedAt time.Time
}

// FromStore converts stored overrides.
func FromStore(rows []store.Override) []Override {
	out := make([]Override, 0, len(rows))
	for _, o := range rows {
		out = append(out, Override{
			Override: rotation.Override{
				ID: o.ID, Role: rotation.Role(o.Role), UserID: o.UserID, Start: o.Start, End: o.End,
				Reason: o.Reason, Replaces: o.Replaces, Source: o.Source,
			},
			Ref: o.Ref, CreatedBy: o.CreatedBy, CreatedAt: o.CreatedAt,
		})
	}
	return out
}

// plain returns the rotation's view of ovs.
func plain(ovs []Override) []rotation.Override {
	out := make([]rotation.Override, len(ovs))
	for i, o := range ovs {
		out[i] = o.Override
	}
	return out
}

// Run is one person holding one role without interruption inside one shift:
// a calendar event of the personal feed. Swaps and emergency handoffs split,
// move, shorten or create runs.
//
// Key identifies the run across changes so calendar clients update an event
// in place (it is the event's UID before the host). It is
// "<shift>-<role>-<user>" where <shift> is the index of the rotation shift the
// person holds by the formula:
//   - a run of the formula's holder keeps its own shift's key, however
//     overrides shorten or split it (a later piece of the same key gets "-2",
//     "-3" in time order);
//   - a run given by an override that belongs to a swap (an override with the
//     same Ref and role replaces this person elsewhere) takes the key of the
//     shift the person gave away, so a swapped shift is the same event at new
//     times;
//   - any other run given by an override is keyed by the shift it lies in.
type Run struct {
	Key   string
	Index int
	Role  rotation.Role
	User  string
	Start time.Time
	End   time.Time
	// Others are the holders of the other role during the run, in order,
	// without repeats ("" when there is no separate secondary).
	Others []string
	// Override is the override that put User in Role at Start, nil for the
	// formula.
	Override *Override
}

// Span is a run's window.
func (r Run) Span() string {
	return r.Start.UTC().Format(time.RFC3339) + "/" + r.End.UTC().Format(time.RFC3339)
}

// Runs returns every run (both roles, everyone) of the shifts overlapping
// [from, to), with stable keys, ordered by start then role. With a pool of
// one (no separate secondary) only primary runs are returned.
func Runs(rot rotation.Rotation, from, to time.Time, ovs []Override) []Run {
	byID := make(map[int64]*Override, len(ovs))
	for i := range ovs {
		byID[ovs[i].ID] = &ovs[i]
	}
	var out []Run
	open := map[rotation.Role]int{rotation.Primary: -1, rotation.Secondary: -1}
	for _, seg := range rot.Segments(from, to, plain(ovs)) {
		for _, role := range []rotation.Role{rotation.Primary, rotation.Secondary} {
			holder, other, ov := seg.Primary, seg.Secondary, seg.PrimaryOverride
			if role == rotation.Secondary {
				holder, other, ov = seg.Secondary, seg.Primary, seg.SecondaryOverride
			}
			if !seg.HasSecondary() {
				other = ""
				if role == rotation.Secondary {
					open[role] = -1
					continue
				}
			}
			if i := open[role]; i >= 0 {
				r := &out[i]
				if r.Index == seg.Index && r.User == holder && r.End.Equal(seg.Start) {
					r.End = seg.End
					if other != "" && !slices.Contains(r.Others, other) {
						r.Others = append(r.Others, other)
					}
					continue
				}
			}
			r := Run{Index: seg.Index, Role: role, User: holder, Start: seg.Start, End: seg.End}
			if other != "" {
				r.Others = []string{other}
			}
			if ov != nil {
				r.Override = byID[ov.ID]
			}
			out = append(out, r)
			open[role] = len(out) - 1
		}
	}
	assignKeys(rot, out, ovs)
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Start.Equal(out[j].Start) {
			return out[i].Start.Before(out[j].Start)
		}
		return out[i].Role < out[j].Role
	})
	return out
}

// assignKeys sets each run's Key (see Run).
func assignKeys(rot rotation.Rotation, runs []Run, ovs []Override) {
	base := make([]string, len(runs))
	for i, r := range runs {
		w := r.Index
		formula := rot.Shift(w)
		holder := formula.Primary
		if r.Role == rotation.Secondary {
			holder = formula.Secondary
		}
		if r.User != holder && r.Override != nil {
			if given, ok := swappedFrom(rot, *r.Override, ovs); ok {
				w = given
			}
		}
		base[i] = fmt.Sprintf("%d-%s-%s", w, r.Role, r.User)
	}
	// Pieces sharing a base key are numbered in time order.
	order := make([]int, len(runs))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return runs[order[a]].Start.Before(runs[order[b]].Start) })
	seen := map[string]int{}
	for _, i := range order {
		seen[base[i]]++
		runs[i].Key = base[i]
		if n := seen[base[i]]; n > 1 {
			runs[i].Key += "-" + strconv.Itoa(n)
		}
	}
}

// swappedFrom returns the index of the shift the person of o gave away in
// exchange for o: the shift containing the start of another override of the
// same Ref and role that replaces them.
func swappedFrom(rot rotation.Rotation, o Override, ovs []Override) (int, bool) {
	if o.Ref == "" {
		return 0, false
	}
	for _, p := range ovs {
		if p.ID != o.ID && p.Ref == o.Ref && p.Role == o.Role && p.Replaces == o.UserID && p.UserID != o.UserID {
			return rot.IndexAt(p.Start)
		}
	}
	return 0, false
}

// RunsOf returns the runs of user.
func RunsOf(runs []Run, user string) []Run {
	var out []Run
	for _, r := range runs {
		if r.User == user {
			out = append(out, r)
		}
	}
	return out
}
