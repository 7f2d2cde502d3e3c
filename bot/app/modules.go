package app

import (
	"context"
	"net/http"

	"github.com/contextinject/oncallbot/bot"
	"github.com/contextinject/oncallbot/commands/oncall"
)

// buildModules creates every feature module and registers its handlers,
// workers and HTTP routes. Order matters only for /oncall help, which lists
// usages in registration order.
func (a *App) buildModules(ctx context.Context) error {
	d := a.Deps
	a.Roster = oncall.NewRoster(d.Config, d.DB, d.Log)
	a.Oncall = oncall.New(d, a.Roster)
	a.Oncall.Register(a.Registry)
	if err := a.Oncall.RegisterJobs(d.Workers, a.Jobs); err != nil {
		return err
	}
	// Order: /oncall help lists usages in registration order; monitoring
	// before incidents (non-paging alerts), then connect joins them all.
	for _, wire := range []func(context.Context) error{
		a.wireSwap, a.wireMonitoring, a.wireIncident, a.wireHandoff, a.wireCalendar, a.wireTriage, a.connect,
	} {
		if err := wire(ctx); err != nil {
			return err
		}
	}
	return nil
}

// mux is the HTTP server's routes.
func (a *App) mux() http.Handler {
	mux := bot.NewMux(a.Health, a.Gatherer)
	if a.Incident != nil {
		a.Incident.Routes(mux)
	}
	if a.Calendar != nil {
		mux.Handle("GET /calendar/", a.Calendar)
	}
	return mux
}
