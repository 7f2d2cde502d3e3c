package pdcode

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/contextinject/oncallbot/commands/config"
	"github.com/contextinject/oncallbot/integrations/pagerduty"
)

// Difference is one field where PagerDuty differs from the configuration.
type Difference struct {
	Field string // "rule 2 targets", "num_loops", "members in order", …
	Have  string // what PagerDuty holds, in words
	Want  string // what the configuration says, in words
}

func (d Difference) String() string {
	return fmt.Sprintf("%s: PagerDuty has %s; the configuration wants %s", d.Field, d.Have, d.Want)
}

// Section is one PagerDuty object and how it differs.
type Section struct {
	Object      string // "escalation policy PPOLICY (ContextInject Production)"
	Differences []Difference
	// apply is the write that makes PagerDuty match; nil when equal.
	apply func(ctx context.Context, w Writer) error
}

// Report is the comparison of PagerDuty with the configuration.
type Report struct {
	Sections []Section
}

// Equal reports whether PagerDuty matches the configuration.
func (r Report) Equal() bool {
	for _, s := range r.Sections {
		if len(s.Differences) > 0 {
			return false
		}
	}
	return true
}

// Count is the number of differences.
func (r Report) Count() int {
	n := 0
	for _, s := range r.Sections {
		n += len(s.Differences)
	}
	return n
}

// Text describes every difference in plain words, one object per paragraph,
// or says that PagerDuty matches.
func (r Report) Text() string {
	var b strings.Builder
	if r.Equal() {
		b.WriteString("PagerDuty matches the configuration:")
		for _, s := range r.Sections {
			fmt.Fprintf(&b, "\n  %s: equal", s.Object)
		}
		return b.String()
	}
	fmt.Fprintf(&b, "PagerDuty differs from the configuration in %d %s:", r.Count(), plural(r.Count(), "field", "fields"))
	for _, s := range r.Sections {
		if len(s.Differences) == 0 {
			fmt.Fprintf(&b, "\n%s: equal", s.Object)
			continue
		}
		fmt.Fprintf(&b, "\n%s:", s.Object)
		for _, d := range s.Differences {
			fmt.Fprintf(&b, "\n  - %s", d)
		}
	}
	return b.String()
}

// Hash identifies the set of differences; it changes when any difference
// changes, and is the same for every equal report.
func (r Report) Hash() string {
	if r.Equal() {
		return "equal"
	}
	sum := sha256.Sum256([]byte(r.Text()))
	return hex.EncodeToString(sum[:12])
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// namer renders PagerDuty IDs in words.
type namer map[string]string

func (n namer) target(t pagerduty.EscalationTarget) string {
	s := t.Type + " " + t.ID
	if name := n[t.ID]; name != "" {
		s += " (" + name + ")"
	}
	return s
}

func (n namer) targets(ts []pagerduty.EscalationTarget) string {
	if len(ts) == 0 {
		return "no targets"
	}
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = n.target(t)
	}
	return strings.Join(out, ", ")
}

func (n namer) rule(r pagerduty.EscalationRule) string {
	return fmt.Sprintf("%s, then %s", n.targets(sortedTargets(r.Targets)), minutes(r.DelayMinutes))
}

func (n namer) users(ids []string) string {
	if len(ids) == 0 {
		return "nobody"
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id
		if name := n[id]; name != "" {
			out[i] = name + " (" + id + ")"
		}
	}
	return strings.Join(out, ", ")
}

func minutes(m int) string {
	if m == 1 {
		return "1 minute"
	}
	return fmt.Sprintf("%d minutes", m)
}

func sortedTargets(ts []pagerduty.EscalationTarget) []pagerduty.EscalationTarget {
	out := slices.Clone(ts)
	slices.SortFunc(out, func(a, b pagerduty.EscalationTarget) int {
		if c := strings.Compare(a.Type, b.Type); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// sameRule compares delays and targets; the order of targets in a rule does
// not matter to PagerDuty (they are notified together).
func sameRule(a, b pagerduty.EscalationRule) bool {
	return a.DelayMinutes == b.DelayMinutes && slices.Equal(sortedTargets(a.Targets), sortedTargets(b.Targets))
}

// ComparePolicy lists how have differs from want.
func ComparePolicy(want DesiredPolicy, have pagerduty.EscalationPolicy, names map[string]string) []Difference {
	n := namer(names)
	var out []Difference
	switch {
	case len(want.Rules) == len(have.Rules) && !rulesEqual(want.Rules, have.Rules) && sameMultiset(want.Rules, have.Rules):
		out = append(out, Difference{Field: "rule order", Have: ruleList(n, have.Rules), Want: ruleList(n, want.Rules)})
	default:
		for i := 0; i < max(len(want.Rules), len(have.Rules)); i++ {
			field := fmt.Sprintf("rule %d", i+1)
			switch {
			case i >= len(have.Rules):
				out = append(out, Difference{Field: field, Have: "no such rule", Want: n.rule(want.Rules[i]) + fmt.Sprintf(" (escalation.steps[%d])", i)})
			case i >= len(want.Rules):
				out = append(out, Difference{Field: field, Have: n.rule(have.Rules[i]), Want: fmt.Sprintf("no such rule (escalation has %d %s)", len(want.Rules), plural(len(want.Rules), "step", "steps"))})
			default:
				w, h := want.Rules[i], have.Rules[i]
				if !slices.Equal(sortedTargets(w.Targets), sortedTargets(h.Targets)) {
					out = append(out, Difference{Field: field + " targets", Have: n.targets(sortedTargets(h.Targets)), Want: n.targets(sortedTargets(w.Targets)) + fmt.Sprintf(" (escalation.steps[%d].notify)", i)})
				}
				if w.DelayMinutes != h.DelayMinutes {
					out = append(out, Difference{Field: field + " escalation_delay_in_minutes", Have: fmt.Sprint(h.DelayMinutes), Want: fmt.Sprintf("%d (escalation.steps[%d].after)", w.DelayMinutes, i)})
				}
			}
		}
	}
	if want.NumLoops != have.NumLoops {
		out = append(out, Difference{Field: "num_loops", Have: fmt.Sprint(have.NumLoops),
			Want: fmt.Sprintf("%d (escalation.loops: %d, so the chain runs %d %s: PagerDuty repeats it %d %s after the first run)",
				want.NumLoops, want.Loops, want.Loops, plural(want.Loops, "time", "times"), want.NumLoops, plural(want.NumLoops, "time", "times"))})
	}
	return out
}

func rulesEqual(a, b []pagerduty.EscalationRule) bool {
	return slices.EqualFunc(a, b, sameRule)
}

func sameMultiset(a, b []pagerduty.EscalationRule) bool {
	used := make([]bool, len(b))
	for _, r := range a {
		found := false
		for j, s := range b {
			if !used[j] && sameRule(r, s) {
				used[j], found = true, true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func ruleList(n namer, rules []pagerduty.EscalationRule) string {
	parts := make([]string, len(rules))
	for i, r := range rules {
		parts[i] = fmt.Sprintf("%d. %s", i+1, n.rule(r))
	}
	return strings.Join(parts, "; ")
}

// Layer returns the layer of s the bot manages: the first (top) layer still
// active at now, or -1 when there is none.
func Layer(s pagerduty.RotationSchedule, now time.Time) int {
	for i, l := range s.Layers {
		if l.Active(now) {
			return i
		}
	}
	return -1
}

// normalize expresses layer l's rotation from start when it is the same
// rotation counted from another turn: PagerDuty may hold the virtual start
// k turns away with the members shifted by k, which puts the same people on
// call at the same times.
func normalize(l pagerduty.ScheduleLayer, start time.Time) (members []string, virtualStart time.Time) {
	members, virtualStart = l.Users, l.RotationVirtualStart
	n := len(members)
	if n == 0 || l.TurnLength <= 0 || virtualStart.Equal(start) {
		return members, virtualStart
	}
	delta := virtualStart.Sub(start)
	if delta%l.TurnLength != 0 {
		return members, virtualStart
	}
	k := int((delta / l.TurnLength) % time.Duration(n))
	out := make([]string, n)
	for i := range out {
		// Turn i counted from start is turn i-k counted from virtualStart.
		out[i] = members[((i-k)%n+n)%n]
	}
	return out, start
}

// CompareSchedule lists how have's managed layer differs from want at now.
func CompareSchedule(want DesiredSchedule, have pagerduty.RotationSchedule, now time.Time, names map[string]string) []Difference {
	n := namer(names)
	i := Layer(have, now)
	if i < 0 {
		return []Difference{{Field: "rotation layer", Have: "no active layer",
			Want: fmt.Sprintf("%s taking turns of %s from %s", n.users(want.Members), turn(want.Turn), stamp(want.Start))}}
	}
	l := have.Layers[i]
	members, start := normalize(l, want.Start)
	var out []Difference
	if !slices.Equal(members, want.Members) {
		src := "rotation.pool"
		if want.Role == RoleSecondary {
			src = "rotation.pool shifted by one shift: the secondary is the previous primary"
		}
		out = append(out, Difference{Field: "members in order", Have: n.users(members), Want: n.users(want.Members) + " (" + src + ")"})
	}
	if !start.Equal(want.Start) {
		out = append(out, Difference{Field: "rotation start", Have: stamp(start), Want: stamp(want.Start) + " (rotation.start)"})
	}
	if l.TurnLength != want.Turn {
		out = append(out, Difference{Field: "turn length", Have: turn(l.TurnLength), Want: turn(want.Turn) + " (rotation.length)"})
	}
	return out
}

func turn(d time.Duration) string {
	return fmt.Sprintf("%d seconds (%s)", int64(d/time.Second), config.FormatDuration(d))
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "no start"
	}
	return t.UTC().Format(time.RFC3339)
}
