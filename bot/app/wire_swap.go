package app

import (
	"context"
	"time"

	"github.com/contextinject/oncallbot/commands/oncall"
	"github.com/contextinject/oncallbot/commands/swap"
	"github.com/contextinject/oncallbot/integrations/pagerduty"
)

// wireSwap builds the swap module: /oncall swap, /oncall stats, its buttons
// and River jobs, its App Home section and, with PAGERDUTY_TOKEN, PagerDuty
// as the source of who is on call (rotation.pagerduty schedules) and the
// place swaps are written to. Console: `run swap-drift`.
func (a *App) wireSwap(_ context.Context) error {
	d := a.Deps
	o := swap.Options{Deps: d, Roster: a.Roster, SyncFunc: a.Oncall.RequestSync, HomeFunc: a.Oncall.PublishHome}
	if a.o.Getenv("PAGERDUTY_TOKEN") != "" {
		o.PagerDuty = a.pagerDuty()
		if d.Config.Rotation.PagerDuty != nil {
			// Reads answer people waiting in Slack: one quick retry, then
			// the Roster falls back to its own schedule with a note.
			ro := a.pagerDutyOptions()
			ro.MaxRetries, ro.MaxWait = 1, time.Second
			reads := pagerduty.New(ro)
			src := oncall.NewPagerDutySource(d.Config, reads, d.Now, 0)
			a.Roster.SetSource(src)
			o.ChangedFunc = src.Invalidate
		}
	}
	m := swap.New(o)
	m.Register(a.Registry)
	if err := m.RegisterJobs(d.Workers, a.Jobs); err != nil {
		return err
	}
	a.Oncall.HomeSections = append(a.Oncall.HomeSections, m.HomeSection)
	a.Swap = m
	a.Hooks["swap-drift"] = m.Maintain
	return nil
}
