// Package incident runs incidents (SPEC §6, §7, §11): the parent message in
// #incidents kept current with chat.update and a threaded timeline, the
// severity response deadlines with one reminder each, the escalation chain
// as durable River jobs that fire exactly once across restarts and
// replicas, /incident, /oncall ack, the Acknowledge / Post update / Escalate
// / Resolve / Take command buttons, the "still on it?" check, PagerDuty mode
// (PagerDuty pages, the bot mirrors) and the Alertmanager and PagerDuty
// webhooks.
//
// Every change is made durable (with its audit row) before it is announced,
// and every announcement is derived from the stored incident: the parent,
// every DM the bot sent about the incident and the App Home are re-rendered
// from it, so they always say the same thing.
package incident

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/contextinject/oncallbot/commands"
	"github.com/contextinject/oncallbot/commands/severity"
	"github.com/contextinject/oncallbot/integrations/pagerduty"
)

// Statuses of an incident.
const (
	StatusTriggered    = "triggered"
	StatusAcknowledged = "acknowledged"
	StatusResolved     = "resolved"
)

// Sources of an incident.
const (
	SourceSlash        = "slash"
	SourceTriage       = "triage"
	SourceAlertmanager = "alertmanager"
	SourcePagerDuty    = "pagerduty"
)

// Paging modes: who pages the people of the escalation chain.
const (
	PagingBot       = "bot"
	PagingPagerDuty = "pagerduty"
)

// Escalation chain states.
const (
	escRunning = "running" // the next step is scheduled
	escDone    = "done"    // every step of every loop has fired
	escStopped = "stopped" // acknowledged or resolved
	escOff     = "off"     // PagerDuty pages
)

// Incident is a stored incident.
type Incident struct {
	ID  int64
	Key string // "INC-12"
	// Severity is a configured severity name ("P2").
	Severity string
	Title    string
	Status   string // triggered, acknowledged, resolved
	// Owner is the incident commander: the first to acknowledge unless
	// someone took command.
	Owner     string
	Playbook  string
	Source    string // slash, triage, alertmanager, pagerduty
	SourceRef string // alert fingerprint, PagerDuty incident ID, …
	OpenedBy  string
	// Channel and TS locate the parent message ("" until posted).
	Channel, TS string

	CreatedAt, AckedAt, ResolvedAt time.Time
	AckedBy, AckedVia, ResolvedBy  string
	Deadlines                      severity.Deadlines
	FirstUpdateAt, LastActivityAt  time.Time

	Impact, LatestUpdate, RootCause, Resolution string
	// Notes are extra lines shown on the parent, by key (triage progress).
	Notes map[string]string

	// Paging is PagingBot or PagingPagerDuty; PagerDutyID links the
	// PagerDuty incident when there is one.
	Paging      string
	PagerDutyID string
	// Paged is everyone the bot has notified about the incident, in order.
	Paged []string
	// Esc is where the escalation chain stands.
	Esc Position
	// checkSeq numbers the "still on it?" checks.
	checkSeq int
}

// Position is the escalation chain's next step.
type Position struct {
	Round, Loop, Step int
	Due               time.Time // when the step fires; zero when none is scheduled
	State             string    // running, done, stopped, off
}

// IsOpen reports whether the incident is not resolved.
func (i *Incident) IsOpen() bool { return i.Status != StatusResolved }

// KeyOf returns the human key of incident id: "INC-12".
func KeyOf(id int64) string { return "INC-" + strconv.FormatInt(id, 10) }

// ParseKey accepts "INC-12", "inc-12", "#12" or "12".
func ParseKey(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(strings.TrimPrefix(strings.ToUpper(s), "INC-"), "#")
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, false
	}
	return id, true
}

// OpenRequest asks for a new incident.
type OpenRequest struct {
	Severity string
	Title    string
	Playbook string
	Source   string // default slash
	// SourceRef makes Open idempotent: while an incident with the same Source
	// and SourceRef is open, Open returns it instead of opening another.
	SourceRef string
	OpenedBy  string // a Slack user ID, or the source's name for webhooks
	Note      string // first timeline entry after "opened"
	// PagerDutyID links an incident that PagerDuty already has.
	PagerDutyID string
}

// AlertRouter picks the playbook of a firing alert and starts it (the triage
// module implements it).
type AlertRouter interface {
	// Route returns the playbook named by the alert's labels and its
	// default severity; ok is false when no playbook answers the alert.
	Route(labels map[string]string) (playbook string, severity string, ok bool)
	// Start runs the playbook in the incident's thread.
	Start(ctx context.Context, inc *Incident) error
}

// NonPaging posts alerts that page nobody (SPEC §7: #monitoring).
type NonPaging interface {
	Alert(ctx context.Context, group AlertGroup) error
}

// Roster answers who a role word names at an instant (oncall.Roster).
type Roster interface {
	Role(ctx context.Context, word string, t time.Time) []string
}

// PagerDuty is what PagerDuty mode needs of integrations/pagerduty.
type PagerDuty interface {
	AcknowledgeIncident(ctx context.Context, id, from string) error
	ResolveIncident(ctx context.Context, id, from string) error
	CreateIncident(ctx context.Context, from string, n pagerduty.NewIncident) (pagerduty.Incident, error)
	PolicyServices(ctx context.Context, policyID string) ([]string, error)
}

// Options configure a Module beyond its Deps.
type Options struct {
	Roster Roster
	// PagerDuty turns PagerDuty mode on: PagerDuty pages, the bot mirrors.
	PagerDuty PagerDuty
	// WebhookToken is the bearer token of POST /webhooks/alertmanager ("" turns it off).
	WebhookToken string
	// PagerDutySecret verifies POST /webhooks/pagerduty ("" turns it off).
	PagerDutySecret string
	// PublishHome re-publishes a user's App Home after a change.
	PublishHome func(ctx context.Context, user string) error
	// Gauges receives the number of open incidents and pending incident
	// timers after each change.
	Gauges func(open, pendingTimers int)
	// Wall is River's clock, which schedules jobs: a job due at app-clock
	// instant t is scheduled at Wall() + (t - Now()). In production both are
	// the wall clock; tests run the app on a fixed clock. Default time.Now.
	Wall func() time.Time
}

// Module is the incident feature.
type Module struct {
	d         commands.Deps
	o         Options
	hours     severity.Hours
	router    AlertRouter
	nonPaging NonPaging
	seen      renders
}

// New returns the module. Call RegisterJobs before River starts.
func New(d commands.Deps, o Options) *Module {
	if o.Wall == nil {
		o.Wall = time.Now
	}
	return &Module{d: d, o: o, hours: severity.HoursFrom(d.Config)}
}

// SetAlertRouter makes firing alerts run the router's playbooks.
func (m *Module) SetAlertRouter(r AlertRouter) { m.router = r }

// SetNonPaging sends non-paging alerts to n (#monitoring).
func (m *Module) SetNonPaging(n NonPaging) { m.nonPaging = n }

// PagerDutyMode reports whether PagerDuty pages.
func (m *Module) PagerDutyMode() bool { return m.o.PagerDuty != nil }

// Routes adds the webhook endpoints that are configured to mux.
func (m *Module) Routes(mux *http.ServeMux) {
	mux.Handle("POST /webhooks/alertmanager", http.HandlerFunc(m.alertmanagerWebhook))
	mux.Handle("POST /webhooks/pagerduty", http.HandlerFunc(m.pagerdutyWebhook))
}

// schedAt converts an app-clock instant into River's clock.
func (m *Module) schedAt(t time.Time) time.Time { return m.o.Wall().Add(t.Sub(m.d.Now())) }

// name is a person's name for plain text.
func (m *Module) name(id string) string {
	switch id {
	case "":
		return "nobody"
	case SourceAlertmanager:
		return "Alertmanager"
	case SourcePagerDuty:
		return "PagerDuty"
	}
	return m.d.Config.Name(id)
}

// mention is "Name (<@U…>)" for people and the source's name otherwise.
func (m *Module) mention(id string) string {
	switch id {
	case "", SourceAlertmanager, SourcePagerDuty, actorSystem:
		return m.name(id)
	}
	return commands.Mention(m.d.Config, id)
}

// actorSystem is the audit actor of jobs.
const actorSystem = "system"

func errorf(code commands.Code, format string, args ...any) error {
	return commands.Errorf(code, format, args...)
}

// describe is "INC-12 (P2, Checkout errors)".
func describe(inc *Incident) string {
	return fmt.Sprintf("%s (%s, %s)", inc.Key, inc.Severity, inc.Title)
}
