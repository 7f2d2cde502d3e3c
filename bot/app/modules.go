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
	if err := a.wireHandoff(ctx); err != nil {
		return err
	}
	if err := a.wireCalendar(ctx); err != nil {
		return err
	}
	if err := a.wireSwap(ctx); err != nil {
		return err
	}
	if err := a.wireMonitoring(ctx); err != nil {
		return err
	}
	if err := a.wireTriage(ctx); err != nil {
		return err
	}
	if err := a.wireIncident(ctx); err != nil {
		return err
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
