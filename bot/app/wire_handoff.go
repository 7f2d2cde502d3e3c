package app

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/contextinject/oncallbot/commands/handoff"
	"github.com/contextinject/oncallbot/commands/templates"
)

// HandoffModules are the handoff feature's modules. Their data sources
// (incidents, GitHub changes, PagerDuty overrides) are connected with their
// Set… methods by the adapters that know those modules; until then the
// handoff pre-fills "None" and says the source is not connected.
type HandoffModules struct {
	// Handoff runs the weekly reminder, the handoff modal, Ready, the
	// nudges and /oncall emergency.
	Handoff *handoff.Module
	// Templates answers the incidents' Customer update button.
	Templates *templates.Module
}

// wireHandoff builds the handoff and customer template modules, their River
// jobs, and the console's `run handoff-reminder`.
func (a *App) wireHandoff(_ context.Context) error {
	d := a.Deps
	reg, _ := a.Gatherer.(prometheus.Registerer)
	h, err := handoff.New(d, handoff.Options{Roster: a.Roster, Sync: a.Oncall.RequestSync, Metrics: reg})
	if err != nil {
		return err
	}
	h.Register(a.Registry)
	if err := h.RegisterJobs(); err != nil {
		return err
	}
	set, err := templates.Load(d.Config.Templates)
	if err != nil {
		return fmt.Errorf("customer templates: %w", err)
	}
	t := templates.NewModule(d, set)
	t.Register(a.Registry)
	a.Handoffs = &HandoffModules{Handoff: h, Templates: t}
	// The console's `run handoff-reminder` sends the reminder of the nearest
	// shift change now, even when that change's reminder was already sent
	// (audited as a resend): whoever types it expects to see the DM.
	a.Hooks["handoff-reminder"] = h.RemindNow
	return nil
}
