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
	return nil
}

// mux is the HTTP server's routes.
func (a *App) mux() http.Handler {
	return bot.NewMux(a.Health, a.Gatherer)
}
