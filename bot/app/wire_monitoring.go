package app

import (
	"context"

	"github.com/contextinject/oncallbot/commands/links"
	"github.com/contextinject/oncallbot/commands/monitoring"
	"github.com/contextinject/oncallbot/commands/pdcode"
)

// wireMonitoring builds the rest of the runbook: non-paging alerts in
// #monitoring acknowledged by a ✅ reaction (a.Monitoring.Alert is what the
// Alertmanager webhook calls for them), the on-call toolkit (/oncall links
// and its App Home section) and, with PAGERDUTY_TOKEN and a PagerDuty policy
// or schedules in the configuration, the PagerDuty drift check at start and
// daily. Console: `run pagerduty-drift`.
func (a *App) wireMonitoring(_ context.Context) error {
	d := a.Deps
	l := links.New(d.Config)
	l.Register(a.Registry)
	a.Oncall.HomeSections = append(a.Oncall.HomeSections, l.HomeSection)

	a.Monitoring = monitoring.New(d)
	a.Monitoring.Register(a.Registry)

	tok := a.o.Getenv("PAGERDUTY_TOKEN")
	cfg := d.Config
	managed := cfg.Escalation.PagerDutyPolicy != "" || cfg.Rotation.PagerDuty != nil
	if tok == "" || !managed {
		return nil
	}
	drift := pdcode.NewDrift(d, a.pagerDuty())
	if err := drift.RegisterJobs(d.Workers, a.Jobs); err != nil {
		return err
	}
	a.Hooks["pagerduty-drift"] = drift.Check
	return nil
}
