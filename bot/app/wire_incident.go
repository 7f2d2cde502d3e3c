package app

import (
	"context"

	"github.com/contextinject/oncallbot/commands/incident"
	"github.com/contextinject/oncallbot/commands/monitoring"
)

// wireIncident builds incidents: /incident, /oncall ack, the incident
// buttons and modals, the escalation and reminder jobs, the App Home section
// of open incidents and the webhooks (POST /webhooks/alertmanager with
// WEBHOOK_TOKEN, POST /webhooks/pagerduty with PAGERDUTY_WEBHOOK_SECRET).
// With PAGERDUTY_TOKEN, PagerDuty pages and the bot mirrors (SPEC §7).
// Non-paging alerts go to a.Monitoring when it is built (wire it first).
func (a *App) wireIncident(_ context.Context) error {
	d := a.Deps
	o := incident.Options{
		Roster:          a.Roster,
		WebhookToken:    a.o.Getenv("WEBHOOK_TOKEN"),
		PagerDutySecret: a.o.Getenv("PAGERDUTY_WEBHOOK_SECRET"),
		PublishHome:     a.Oncall.PublishHome,
		Gauges: func(open, timers int) {
			a.Metrics.OpenIncidents.Set(float64(open))
			a.Metrics.PendingTimers.Set(float64(timers))
		},
	}
	if tok := a.o.Getenv("PAGERDUTY_TOKEN"); tok != "" {
		o.PagerDuty = a.pagerDuty()
	}
	a.Incident = incident.New(d, o)
	if a.Monitoring != nil {
		a.Incident.SetNonPaging(monitoringAlerts{a.Monitoring})
	}
	a.Incident.Register(a.Registry)
	if err := a.Incident.RegisterJobs(d.Workers); err != nil {
		return err
	}
	a.Oncall.HomeSections = append(a.Oncall.HomeSections, a.Incident.HomeSection)
	return nil
}

// monitoringAlerts hands non-paging alert groups to the #monitoring poster.
type monitoringAlerts struct{ m *monitoring.Module }

func (n monitoringAlerts) Alert(ctx context.Context, g incident.AlertGroup) error {
	out := monitoring.Group{
		GroupKey: g.GroupKey, Status: g.Status, Receiver: g.Receiver, GroupLabels: g.GroupLabels,
		CommonLabels: g.CommonLabels, CommonAnnotations: g.CommonAnnotations, ExternalURL: g.ExternalURL,
		TruncatedAlerts: g.TruncatedAlerts,
	}
	for _, al := range g.Alerts {
		out.Alerts = append(out.Alerts, monitoring.Alert{
			Status: al.Status, Labels: al.Labels, Annotations: al.Annotations, StartsAt: al.StartsAt,
			EndsAt: al.EndsAt, GeneratorURL: al.GeneratorURL, Fingerprint: al.Fingerprint,
		})
	}
	return n.m.Alert(ctx, out)
}
