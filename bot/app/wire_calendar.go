package app

import (
	"context"

	"github.com/contextinject/oncallbot/commands/calendar"
)

// wireCalendar builds the calendar module: /oncall calendar, the feeds at
// GET /calendar/<token>.ics (routed in mux), the "your shift moved" check and
// the weekly look-ahead. Console: `run lookahead`, `run calendar-check`.
func (a *App) wireCalendar(_ context.Context) error {
	d := a.Deps
	m, err := calendar.New(d, calendar.Options{BaseURL: func() string {
		addr := a.httpAddr
		if addr == "" {
			addr = a.o.HTTPAddr
		}
		return d.Config.PublicURL(addr)
	}})
	if err != nil {
		return err
	}
	m.Register(a.Registry)
	if err := m.RegisterJobs(d.Workers, a.Jobs); err != nil {
		return err
	}
	a.Calendar = m
	a.Hooks["lookahead"] = m.LookAheadNow
	a.Hooks["calendar-check"] = m.Check
	return nil
}
