package app

import (
	"context"
	"fmt"
	"net/http"

	"github.com/contextinject/oncallbot/bot"
	"github.com/contextinject/oncallbot/commands/playbook"
	"github.com/contextinject/oncallbot/commands/triage"
)

// wireTriage loads the playbooks (the built-ins and the configuration's
// playbooks: files, refusing the start with file:line errors), builds the
// read-only diagnostics from diagnostics: and the environment, and registers
// /triage, /diag, the step buttons and the triage River jobs.
//
// The incident module is connected with a.Triage.SetIncidents by an adapter
// implementing triage.Incidents; until then /triage answers that incidents
// are unavailable and /diag works.
func (a *App) wireTriage(_ context.Context) error {
	d := a.Deps
	books, err := playbook.Load(d.Config.Playbooks, d.Config.SeverityNames())
	if err != nil {
		return fmt.Errorf("playbooks:\n%w", err)
	}
	diag := triage.BuildDiagnostics(d.Config.Diagnostics, triage.BuildOptions{
		Getenv:     a.o.Getenv,
		Now:        d.Now,
		Log:        d.Log,
		GitHubHTTP: &http.Client{Transport: &bot.CountingTransport{API: "github", Calls: a.Metrics.APICalls}},
	})
	t := triage.New(d, books, diag)
	t.Register(a.Registry)
	if err := t.RegisterJobs(d.Workers); err != nil {
		return err
	}
	a.Triage = t
	return nil
}
