package calendar

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/contextinject/oncallbot/commands"
	"github.com/contextinject/oncallbot/commands/rotation"
)

// SnapRun is a run as a person's snapshot stores it.
type SnapRun struct {
	Key        string        `json:"key"`
	Role       rotation.Role `json:"role"`
	Start      time.Time     `json:"start"`
	End        time.Time     `json:"end"`
	OverrideID int64         `json:"override_id,omitempty"`
}

// Snap returns the runs ending after now and starting before until, as a
// snapshot stores them.
func Snap(runs []Run, now, until time.Time) []SnapRun {
	out := []SnapRun{}
	for _, r := range runs {
		if !r.End.After(now) || !r.Start.Before(until) {
			continue
		}
		s := SnapRun{Key: r.Key, Role: r.Role, Start: r.Start.UTC(), End: r.End.UTC()}
		if r.Override != nil {
			s.OverrideID = r.Override.ID
		}
		out = append(out, s)
	}
	return out
}

// Cause is an override added or removed since the snapshot that explains a
// change.
type Cause struct {
	Override
	Removed bool
}

// Change is one way a person's shifts moved: Old nil is a new shift, New nil
// a removed one, both set a shift at new times (same Key).
type Change struct {
	Role   rotation.Role
	Old    *SnapRun
	New    *SnapRun
	Causes []Cause
}

// Diff compares a person's snapshot with their current runs at now. Only
// what the snapshot could have seen counts: current runs that ended before it
// was taken or start after its horizon are ignored, and so are shifts that
// simply ended. Changes are ordered by the time they concern.
func Diff(prev Snapshot, cur []SnapRun, now time.Time) []Change {
	byKey := map[string]SnapRun{}
	for _, r := range cur {
		if r.End.After(prev.TakenAt) && r.Start.Before(prev.Until) {
			byKey[r.Key] = r
		}
	}
	var out []Change
	seen := map[string]bool{}
	for _, p := range prev.Runs {
		seen[p.Key] = true
		c, ok := byKey[p.Key]
		switch {
		case !ok:
			if p.End.After(now) {
				out = append(out, Change{Role: p.Role, Old: ptr(p)})
			}
		case !c.Start.Equal(p.Start) || !c.End.Equal(p.End):
			if p.End.After(now) || c.End.After(now) {
				out = append(out, Change{Role: p.Role, Old: ptr(p), New: ptr(c)})
			}
		}
	}
	for k, c := range byKey {
		if !seen[k] && c.End.After(now) {
			out = append(out, Change{Role: c.Role, New: ptr(c)})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].at().Before(out[j].at()) })
	return out
}

func ptr(r SnapRun) *SnapRun { return &r }

// at is when a change's shift starts (the earlier of old and new).
func (c Change) at() time.Time {
	switch {
	case c.Old == nil:
		return c.New.Start
	case c.New == nil || c.Old.Start.Before(c.New.Start):
		return c.Old.Start
	}
	return c.New.Start
}

// Explain sets c.Causes for user: the overrides added (in cur, not in old)
// or removed (in old, not in cur) whose window overlaps the old or new
// shift, preferring those of c's role and those that name user. No cause
// means the rotation itself changed (the configuration).
func Explain(user string, c *Change, old, cur []Override) {
	inOld := map[int64]bool{}
	for _, o := range old {
		inOld[o.ID] = true
	}
	inCur := map[int64]bool{}
	for _, o := range cur {
		inCur[o.ID] = true
	}
	var changed []Cause
	for _, o := range cur {
		if !inOld[o.ID] {
			changed = append(changed, Cause{Override: o})
		}
	}
	for _, o := range old {
		if !inCur[o.ID] {
			changed = append(changed, Cause{Override: o, Removed: true})
		}
	}
	overlaps := func(o Override, r *SnapRun) bool {
		return r != nil && o.Start.Before(r.End) && o.End.After(r.Start)
	}
	// The best explanation first: an override of the same role that names
	// the person, then of the same role, then of the other role (a person
	// made primary of a shift they were secondary of loses the secondary).
	var tiers [4][]Cause
	for _, k := range changed {
		if !overlaps(k.Override, c.Old) && !overlaps(k.Override, c.New) {
			continue
		}
		tier := 0
		if k.Role != c.Role {
			tier = 2
		}
		if k.UserID != user && k.Replaces != user {
			tier++
		}
		tiers[tier] = append(tiers[tier], k)
	}
	c.Causes = nil
	for _, t := range tiers {
		if len(t) > 0 {
			c.Causes = t
			return
		}
	}
}

// AlreadyTold reports whether user learnt of change c from whoever made it,
// so Check does not DM them. For every cause:
//   - user created the override (created_by), or
//   - a person of the configuration made it through the bot (created_by is
//     known) and user is a party of it: named as user, replaced person or
//     creator on any override sharing its Ref. Swaps, undos, admin swaps and
//     emergency handoffs confirm the change to each of their parties.
//
// Changes made by the system (PagerDuty drift: created_by is not a person)
// and changes of the rotation itself (no cause) are told to everyone they
// move. all holds every override, old and current, to find Ref groups.
func AlreadyTold(user string, c Change, all []Override, known func(string) bool) bool {
	if len(c.Causes) == 0 {
		return false
	}
	for _, k := range c.Causes {
		if k.CreatedBy == user {
			continue
		}
		if k.Ref != "" && known(k.CreatedBy) && party(user, k.Ref, all) {
			continue
		}
		return false
	}
	return true
}

func party(user, ref string, all []Override) bool {
	for _, o := range all {
		if o.Ref == ref && (o.UserID == user || o.Replaces == user || o.CreatedBy == user) {
			return true
		}
	}
	return false
}

// NoticeText is the DM telling user about changes: what changed, from what
// to what, and why.
func NoticeText(changes []Change, name func(string) string, known func(string) bool) string {
	var b strings.Builder
	b.WriteString(":calendar: *Your on-call shifts changed*\n")
	for _, c := range changes {
		switch {
		case c.Old == nil:
			fmt.Fprintf(&b, "• New *%s* shift: %s → %s.", c.Role, commands.Date(c.New.Start), commands.Date(c.New.End))
		case c.New == nil:
			fmt.Fprintf(&b, "• Your *%s* shift %s → %s is no longer yours.", c.Role, commands.Date(c.Old.Start), commands.Date(c.Old.End))
		default:
			fmt.Fprintf(&b, "• Your *%s* shift %s → %s is now %s → %s.", c.Role,
				commands.Date(c.Old.Start), commands.Date(c.Old.End), commands.Date(c.New.Start), commands.Date(c.New.End))
		}
		fmt.Fprintf(&b, " Why: %s\n", why(c.Causes, name, known))
	}
	b.WriteString("Your calendar feed (`/oncall calendar`) shows it already; `/oncall schedule` lists the next shifts.")
	return b.String()
}

// why explains causes in one sentence, one clause per swap, handoff or
// override (overrides sharing a Ref are one).
func why(causes []Cause, name func(string) string, known func(string) bool) string {
	if len(causes) == 0 {
		return "the rotation in the team configuration changed."
	}
	var parts []string
	seen := map[string]bool{}
	for _, k := range causes {
		group := fmt.Sprintf("id:%d", k.ID)
		if k.Ref != "" {
			group = "ref:" + k.Ref
		}
		if seen[group] {
			continue
		}
		seen[group] = true
		what := sourceLabel(k.Source)
		if k.Reason != "" {
			what += " (" + k.Reason + ")"
		}
		by := k.CreatedBy
		if known(by) {
			by = name(by)
		}
		s := article(what) + " " + what
		if by != "" {
			s += " by " + by
		}
		if k.Removed {
			s += " was undone"
		}
		parts = append(parts, s)
	}
	slices.Sort(parts)
	return strings.Join(parts, "; ") + "."
}

// sourceLabel names an override's source for people.
func sourceLabel(source string) string {
	switch strings.ToLower(source) {
	case "":
		return "override"
	case "emergency":
		return "emergency handoff"
	case "pagerduty":
		return "PagerDuty schedule change"
	}
	return source
}

func article(s string) string {
	if s != "" && strings.ContainsRune("aeiouAEIOU", rune(s[0])) {
		return "an"
	}
	return "a"
}
