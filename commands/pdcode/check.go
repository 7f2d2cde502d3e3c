package pdcode

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/contextinject/oncallbot/commands/config"
	"github.com/contextinject/oncallbot/integrations/pagerduty"
)

// Reader reads what pdcode compares; *pagerduty.Client implements it.
type Reader interface {
	UserFinder
	EscalationPolicy(ctx context.Context, id string) (pagerduty.EscalationPolicy, error)
	RotationSchedule(ctx context.Context, id string) (pagerduty.RotationSchedule, error)
}

// Writer changes the compared fields and nothing else; *pagerduty.Client implements it.
type Writer interface {
	UpdateEscalationPolicy(ctx context.Context, id string, rules []pagerduty.EscalationRule, numLoops int) error
	UpdateScheduleLayer(ctx context.Context, scheduleID string, layer pagerduty.ScheduleLayer) error
}

// Check reads the PagerDuty objects the configuration names and compares
// them with it at now. Any error (an unknown ID, a refused token, PagerDuty
// down) comes back before anything could be written.
func Check(ctx context.Context, cfg *config.Config, pd Reader, now time.Time) (Report, error) {
	want, err := Resolve(ctx, cfg, pd)
	if err != nil {
		return Report{}, err
	}
	return Compare(ctx, want, pd, now)
}

// Compare reads the objects of want from PagerDuty and compares them.
func Compare(ctx context.Context, want Desired, pd Reader, now time.Time) (Report, error) {
	var rep Report
	if p := want.Policy; p != nil {
		have, err := pd.EscalationPolicy(ctx, p.ID)
		if err != nil {
			return Report{}, fmt.Errorf("escalation.pagerduty_policy %s: %w", p.ID, err)
		}
		obj := "escalation policy " + p.ID
		if have.Name != "" {
			obj += " (" + have.Name + ")"
		}
		sec := Section{Object: obj, Differences: ComparePolicy(*p, have, want.Names)}
		if len(sec.Differences) > 0 {
			rules, loops, id := p.Rules, p.NumLoops, p.ID
			sec.apply = func(ctx context.Context, w Writer) error {
				return w.UpdateEscalationPolicy(ctx, id, rules, loops)
			}
		}
		rep.Sections = append(rep.Sections, sec)
	}
	for _, s := range want.Schedules {
		have, err := pd.RotationSchedule(ctx, s.ID)
		if err != nil {
			return Report{}, fmt.Errorf("rotation.pagerduty.%s_schedule %s: %w", s.Role, s.ID, err)
		}
		obj := fmt.Sprintf("%s schedule %s", s.Role, s.ID)
		if have.Name != "" {
			obj += " (" + have.Name + ")"
		}
		layer := pagerduty.ScheduleLayer{Name: "oncallbot rotation", Start: now.UTC().Truncate(time.Minute)}
		if i := Layer(have, now); i >= 0 {
			layer = have.Layers[i]
			obj += fmt.Sprintf(", layer %q", layer.Name)
		}
		sec := Section{Object: obj, Differences: CompareSchedule(s, have, now, want.Names)}
		if len(sec.Differences) > 0 {
			layer.Users, layer.RotationVirtualStart, layer.TurnLength = s.Members, s.Start, s.Turn
			id := s.ID
			sec.apply = func(ctx context.Context, w Writer) error { return w.UpdateScheduleLayer(ctx, id, layer) }
		}
		rep.Sections = append(rep.Sections, sec)
	}
	return rep, nil
}

// Result is what Apply did.
type Result struct {
	Changed      []string // objects written
	Failed       string   // the object whose write failed, "" when none
	Err          error    // why it failed
	NotAttempted []string // objects left as they were after the failure
}

// Text says what was and was not changed.
func (r Result) Text() string {
	var b strings.Builder
	switch {
	case len(r.Changed) == 0 && r.Failed == "":
		b.WriteString("Nothing to change: PagerDuty already matches the configuration.")
	case len(r.Changed) > 0:
		b.WriteString("Changed in PagerDuty:")
		for _, o := range r.Changed {
			fmt.Fprintf(&b, "\n  - %s", o)
		}
	}
	if r.Failed != "" {
		if len(r.Changed) == 0 {
			b.WriteString("Nothing was changed in PagerDuty.")
		}
		fmt.Fprintf(&b, "\nNOT changed, the write failed: %s: %v", r.Failed, r.Err)
		for _, o := range r.NotAttempted {
			fmt.Fprintf(&b, "\nNOT changed, not attempted after the failure: %s", o)
		}
	}
	return b.String()
}

// Apply writes every section of rep that differs, one object at a time, and
// stops at the first failure; the Result says what was and was not changed.
// Each write changes only the compared fields of one object.
func Apply(ctx context.Context, w Writer, rep Report) Result {
	var res Result
	var pending []Section
	for _, s := range rep.Sections {
		if s.apply != nil {
			pending = append(pending, s)
		}
	}
	for i, s := range pending {
		if err := s.apply(ctx, w); err != nil {
			res.Failed, res.Err = s.Object, err
			for _, rest := range pending[i+1:] {
				res.NotAttempted = append(res.NotAttempted, rest.Object)
			}
			return res
		}
		res.Changed = append(res.Changed, s.Object)
	}
	return res
}
