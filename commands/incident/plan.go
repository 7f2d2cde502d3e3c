package incident

import (
	"fmt"
	"time"

	"github.com/contextinject/oncallbot/commands/config"
	"github.com/contextinject/oncallbot/commands/severity"
)

// PlannedStep is one step of the escalation chain at the instant it fires
// when nobody acknowledges.
type PlannedStep struct {
	Loop, Step int
	At         time.Time
	Notify     []string // role words or Slack user IDs
}

// Timeline is an incident's whole schedule, pure: its response deadlines,
// who is notified at creation, and the escalation chain's steps.
type Timeline struct {
	Deadlines severity.Deadlines
	// Broadcast are the role words notified at creation (P1: cto, engineers).
	Broadcast []string
	// Steps start at Deadlines.ClockStart: an incident deferred to business
	// hours pages nobody before the hours open.
	Steps []PlannedStep
}

// loops returns how often the chain runs (at least once).
func loops(esc config.Escalation) int { return max(esc.Loops, 1) }

// nextStep returns the step after (loop, step); ok is false after the last
// step of the last loop.
func nextStep(esc config.Escalation, loop, step int) (nextLoop, next int, ok bool) {
	if step+1 < len(esc.Steps) {
		return loop, step + 1, true
	}
	if loop+1 < loops(esc) {
		return loop + 1, 0, true
	}
	return 0, 0, false
}

// Plan returns every step of the chain started at start, in firing order:
// the first step at start, each next one the previous step's after later,
// the whole chain run loops times.
func Plan(esc config.Escalation, start time.Time) []PlannedStep {
	if len(esc.Steps) == 0 {
		return nil
	}
	var out []PlannedStep
	at := start
	loop, step := 0, 0
	for {
		s := esc.Steps[step]
		out = append(out, PlannedStep{Loop: loop, Step: step, At: at, Notify: s.Notify})
		at = at.Add(s.After.D())
		var ok bool
		if loop, step, ok = nextStep(esc, loop, step); !ok {
			return out
		}
	}
}

// PlanIncident returns the timeline of an incident of severity sev created
// at created under cfg.
func PlanIncident(cfg *config.Config, sev string, created time.Time) (Timeline, error) {
	s, ok := cfg.Severity(sev)
	if !ok {
		return Timeline{}, fmt.Errorf("unknown severity %q", sev)
	}
	d := severity.Compute(s, created, severity.HoursFrom(cfg))
	return Timeline{Deadlines: d, Broadcast: s.Broadcast, Steps: Plan(cfg.Escalation, d.ClockStart)}, nil
}

// stepLabel is "step 2 of 4, loop 1 of 2".
func stepLabel(esc config.Escalation, loop, step int) string {
	if loops(esc) == 1 {
		return fmt.Sprintf("step %d of %d", step+1, len(esc.Steps))
	}
	return fmt.Sprintf("step %d of %d, loop %d of %d", step+1, len(esc.Steps), loop+1, loops(esc))
}
