package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/contextinject/oncallbot/bot"
	"github.com/contextinject/oncallbot/commands"
	"github.com/contextinject/oncallbot/commands/handoff"
	"github.com/contextinject/oncallbot/commands/incident"
	"github.com/contextinject/oncallbot/commands/templates"
	"github.com/contextinject/oncallbot/commands/triage"
	"github.com/contextinject/oncallbot/integrations/github"
	"github.com/contextinject/oncallbot/integrations/pagerduty"
)

// connect joins the feature modules through the small interfaces each
// consumer declares: triage and handoffs read incidents, incidents route
// alerts to playbooks, stats count incidents, handoffs read GitHub and write
// PagerDuty overrides. It runs after every module is built.
func (a *App) connect(_ context.Context) error {
	if a.Incident == nil {
		return errors.New("connect: the incident module is not built")
	}
	if a.Triage != nil {
		a.Triage.SetIncidents(triageIncidents{a.Incident})
		a.Incident.SetAlertRouter(alertRouter{a.Triage})
	}
	if a.Swap != nil {
		a.Swap.SetIncidentStats(a.Incident)
	}
	if a.Handoffs != nil {
		a.Handoffs.Handoff.SetIncidents(handoffIncidents{a.Incident})
		a.Handoffs.Templates.SetIncidents(templateIncidents{a.Incident})
		if changes, err := a.githubChanges(); err != nil {
			return err
		} else if changes != nil {
			a.Handoffs.Handoff.SetChanges(changes)
		}
		if tok := a.o.Getenv("PAGERDUTY_TOKEN"); tok != "" && a.o.Config.Rotation.PagerDuty != nil {
			a.Handoffs.Handoff.SetPagerDuty(&pdOverrides{a: a, pd: a.pagerDuty()})
		}
	}
	return nil
}

// triageIncidents is the incident module as triage sees it.
type triageIncidents struct{ m *incident.Module }

func (t triageIncidents) Open(ctx context.Context, req triage.OpenSpec) (triage.Opened, error) {
	inc, err := t.m.Open(ctx, incident.OpenRequest{
		Severity: req.Severity, Title: req.Title, Playbook: req.Playbook, Source: "triage", OpenedBy: req.OpenedBy, Note: req.Note,
	})
	if err != nil {
		return triage.Opened{}, err
	}
	return triage.Opened{ID: inc.ID, Key: inc.Key, Channel: inc.Channel, TS: inc.TS}, nil
}

func (t triageIncidents) Escalate(ctx context.Context, id int64, actor, reason string) error {
	_, err := t.m.Escalate(ctx, id, actor, reason)
	return err
}

func (t triageIncidents) SetNote(ctx context.Context, id int64, key, text string) error {
	return t.m.SetNote(ctx, id, key, text)
}

func (t triageIncidents) IsResolved(ctx context.Context, id int64) (bool, error) {
	inc, err := t.m.Get(ctx, id)
	if err != nil {
		return false, err
	}
	return inc.Status == incident.StatusResolved, nil
}

// alertRouter lets Alertmanager alerts run playbooks.
type alertRouter struct{ t *triage.Module }

func (r alertRouter) Route(labels map[string]string) (string, string, bool) { return r.t.Route(labels) }

func (r alertRouter) Start(ctx context.Context, inc *incident.Incident) error {
	return r.t.Start(ctx, triage.Opened{ID: inc.ID, Key: inc.Key, Channel: inc.Channel, TS: inc.TS}, inc.Playbook)
}

// handoffIncidents is the incident module as the handoff sees it.
type handoffIncidents struct{ m *incident.Module }

func toHandoff(in *incident.Incident) handoff.Incident {
	out := handoff.Incident{ID: in.ID, Title: in.Title, Severity: in.Severity, Status: in.Status, Owner: in.Owner,
		CreatedAt: in.CreatedAt, AckedAt: in.AckedAt, ResolvedAt: in.ResolvedAt, LatestUpdate: in.LatestUpdate, Outcome: in.Resolution}
	if out.Outcome == "" {
		out.Outcome = in.RootCause
	}
	return out
}

func toHandoffs(list []*incident.Incident, err error) ([]handoff.Incident, error) {
	out := make([]handoff.Incident, 0, len(list))
	for _, in := range list {
		out = append(out, toHandoff(in))
	}
	return out, err
}

func (h handoffIncidents) OpenIncidents(ctx context.Context) ([]handoff.Incident, error) {
	return toHandoffs(h.m.OpenIncidents(ctx))
}

func (h handoffIncidents) Between(ctx context.Context, from, to time.Time) ([]handoff.Incident, error) {
	return toHandoffs(h.m.Between(ctx, from, to))
}

// templateIncidents is the incident module as customer templates see it.
type templateIncidents struct{ m *incident.Module }

func (t templateIncidents) Get(ctx context.Context, id int64) (templates.Incident, error) {
	in, err := t.m.Get(ctx, id)
	if err != nil {
		return templates.Incident{}, err
	}
	return templates.Incident{ID: in.ID, Title: in.Title, Severity: in.Severity, Status: in.Status, Impact: in.Impact,
		RootCause: in.RootCause, Resolution: in.Resolution, LatestUpdate: in.LatestUpdate, Start: in.CreatedAt, End: in.ResolvedAt}, nil
}

func (t templateIncidents) Thread(ctx context.Context, id int64, msg commands.Message) error {
	return t.m.Thread(ctx, id, msg)
}

// githubChanges returns the handoff's source of infrastructure changes, nil
// when GitHub is not configured.
func (a *App) githubChanges() (handoff.Changes, error) {
	gcfg := a.o.Config.Diagnostics.GitHub
	tok := a.o.Getenv("GITHUB_TOKEN")
	if gcfg == nil || gcfg.Repo == "" || tok == "" {
		return nil, nil
	}
	gc, err := github.New(github.Options{Token: tok, APIURL: a.o.Getenv("GITHUB_API_URL"),
		HTTPClient: countingClient("github", a.Metrics)})
	if err != nil {
		return nil, fmt.Errorf("github: %w", err)
	}
	return githubChanges{c: gc, repo: gcfg.Repo}, nil
}

type githubChanges struct {
	c    *github.Client
	repo string
}

func (g githubChanges) Between(ctx context.Context, from, to time.Time) ([]handoff.Change, error) {
	ch, err := g.c.Window(ctx, g.repo, from, to)
	if err != nil {
		return nil, err
	}
	var out []handoff.Change
	for _, d := range ch.Deployments {
		at := d.StateAt
		if at.IsZero() {
			at = d.CreatedAt
		}
		out = append(out, handoff.Change{Kind: "deploy", Name: d.Environment, Status: d.State, Actor: d.Creator, At: at})
	}
	for _, r := range ch.Runs {
		status := r.Conclusion
		if status == "" {
			status = r.Status
		}
		out = append(out, handoff.Change{Kind: "workflow", Name: r.Name, Status: status, Actor: r.Actor, At: r.UpdatedAt, URL: r.URL})
	}
	return out, nil
}

// pdOverrides writes an emergency handoff's overrides on the PagerDuty
// schedules that mirror the rotation.
type pdOverrides struct {
	a  *App
	pd *pagerduty.Client
}

func (p *pdOverrides) Override(ctx context.Context, role, user string, start, end time.Time) error {
	sched := p.a.o.Config.Rotation.PagerDuty.PrimarySchedule
	if role == "secondary" {
		sched = p.a.o.Config.Rotation.PagerDuty.SecondarySchedule
	}
	if sched == "" {
		return nil
	}
	person, ok := p.a.o.Config.Person(user)
	if !ok {
		return fmt.Errorf("override for %s: not a person of the configuration", user)
	}
	pdUser := person.PagerDutyID
	if pdUser == "" {
		u, err := p.pd.UserByEmail(ctx, person.Email)
		if err != nil {
			return fmt.Errorf("find PagerDuty user of %s: %w", user, err)
		}
		pdUser = u.ID
	}
	_, err := p.pd.CreateOverride(ctx, pagerduty.Override{ScheduleID: sched, UserID: pdUser, Start: start, End: end})
	return err
}

// countingClient is an HTTP client whose calls count as api in the metrics.
func countingClient(api string, m *bot.Metrics) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &bot.CountingTransport{API: api, Calls: m.APICalls}}
}

// pagerDutyOptions are the PagerDuty client settings from the environment,
// with calls counted in the metrics.
func (a *App) pagerDutyOptions() pagerduty.Options {
	return pagerduty.Options{Token: a.o.Getenv("PAGERDUTY_TOKEN"), BaseURL: a.o.Getenv("PAGERDUTY_API_URL"),
		Transport: &bot.CountingTransport{API: "pagerduty", Calls: a.Metrics.APICalls}}
}

// pagerDuty returns the client every module shares for PagerDuty calls;
// callers check PAGERDUTY_TOKEN first (PagerDuty features are off without it).
func (a *App) pagerDuty() *pagerduty.Client {
	if a.pd == nil {
		a.pd = pagerduty.New(a.pagerDutyOptions())
	}
	return a.pd
}
