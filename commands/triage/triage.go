// Package triage runs alert triage playbooks (SPEC §8): `/triage <alert>
// [P1-P4] [note]` opens an incident in #incidents through the incident
// module and walks the alert's playbook in its thread, one reply per step
// with a Done button and, for steps with a diagnostic, the result of the
// read-only check (run when the thread opens, all concurrently, each bounded
// by diagnostics.timeout) and a Re-run button. `/triage list` shows the
// playbooks; `/diag <check>` runs checks on demand for the caller. A
// playbook's "escalate if not resolved within" is a durable River timer.
//
// The incident module is reached through the small Incidents interface
// declared here; Route and Start let its Alertmanager webhook run playbooks.
package triage

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/contextinject/oncallbot/commands"
	"github.com/contextinject/oncallbot/commands/playbook"
)

// Action IDs of the step buttons.
const (
	ActionDone  = "triage.done"
	ActionRerun = "triage.rerun"
)

// Usage lines, as mrkdwn: Slack reads a bare <…> as a link, so the angle
// brackets are written as entities.
const (
	usageTriage = "/triage &lt;alert&gt; [P1-P4] [note] — open an incident in #incidents running the alert's playbook"
	usageList   = "/triage list — the playbooks, their aliases and alerts"
	usageDiag   = "/diag &lt;health|deploys|postgres|redis|queue|qdrant|tls|all&gt; — run read-only diagnostics now (only you see the answer)"
	maxNote     = 500
	noteKey     = "triage"
	defaultSev  = "P3"
	systemActor = "oncallbot"
)

// OpenSpec is what /triage asks the incident module to open.
type OpenSpec struct {
	Severity string // "P1".."P4"
	Title    string
	Playbook string // the playbook's name
	OpenedBy string // Slack user ID
	Note     string // the caller's note, "" when none
}

// Opened is an incident the incident module opened: its ID, its short key
// ("INC-12") and its parent message in #incidents.
type Opened struct {
	ID      int64
	Key     string
	Channel string
	TS      string
}

// Incidents is what triage needs of the incident module.
type Incidents interface {
	// Open creates the incident and posts its parent message.
	Open(ctx context.Context, req OpenSpec) (Opened, error)
	// Escalate runs the incident's next escalation step now.
	Escalate(ctx context.Context, id int64, actor, reason string) error
	// SetNote sets (replaces) the line key on the parent message.
	SetNote(ctx context.Context, id int64, key, text string) error
	// IsResolved reports whether the incident is resolved.
	IsResolved(ctx context.Context, id int64) (bool, error)
}

// Module answers /triage and /diag and runs triage threads.
type Module struct {
	d     commands.Deps
	books *playbook.Set
	diag  *Diagnostics

	mu        sync.RWMutex
	incidents Incidents
}

// New returns the module. books are the loaded playbooks; diag the
// configured checks (BuildDiagnostics).
func New(d commands.Deps, books *playbook.Set, diag *Diagnostics) *Module {
	return &Module{d: d, books: books, diag: diag}
}

// SetIncidents connects the incident module. Until it is set, /triage
// answers that incidents are unavailable; /diag works regardless.
func (m *Module) SetIncidents(i Incidents) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.incidents = i
}

func (m *Module) getIncidents() Incidents {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.incidents
}

// Playbooks returns the loaded playbooks.
func (m *Module) Playbooks() *playbook.Set { return m.books }

// Diagnostics returns the configured checks.
func (m *Module) Diagnostics() *Diagnostics { return m.diag }

// Register adds the module's handlers to r.
func (m *Module) Register(r *commands.Registry) {
	r.Slash("/triage", "", usageTriage, m.triage)
	r.Slash("/triage", "list", usageList, m.list)
	r.Slash("/triage", "help", "", m.help)
	r.Slash("/diag", "", usageDiag, m.diagCmd)
	r.Slash("/diag", "help", "", m.diagHelp)
	r.Action(ActionDone, m.done)
	r.Action(ActionRerun, m.rerun)
}

var reSeverityLike = regexp.MustCompile(`^[Pp][0-9]+$`)

// triageArgs are /triage's parsed arguments.
type triageArgs struct {
	Playbook playbook.Playbook
	Severity string
	Note     string
}

// parseTriage parses "<alert> [P1-P4] [note]"; errors are user-facing.
func (m *Module) parseTriage(text string) (triageArgs, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return triageArgs{}, commands.Errorf(commands.Invalid, "Which alert? Usage: %s\n%s", usageTriage, m.listText())
	}
	alert, rest := cutWord(text)
	pb, ok := m.books.Find(alert)
	if !ok {
		return triageArgs{}, commands.Errorf(commands.NotFound, "I have no playbook for `%s`.\n%s\nUsage: %s", escape(short(alert, 40)), m.listText(), usageTriage)
	}
	a := triageArgs{Playbook: pb, Severity: pb.Severity}
	if first, after := cutWord(rest); reSeverityLike.MatchString(first) {
		sev := strings.ToUpper(first)
		if _, ok := m.d.Config.Severity(sev); !ok {
			return triageArgs{}, commands.Errorf(commands.Invalid, "`%s` is not a severity: use %s.\nUsage: %s",
				escape(short(first, 10)), strings.Join(m.d.Config.SeverityNames(), ", "), usageTriage)
		}
		a.Severity, rest = sev, after
	}
	if a.Severity == "" {
		a.Severity = defaultSev
	}
	a.Note = strings.TrimSpace(rest)
	if utf8.RuneCountInString(a.Note) > maxNote {
		return triageArgs{}, commands.Errorf(commands.Invalid, "The note is longer than %d characters; put the details in the thread.", maxNote)
	}
	return a, nil
}

// cutWord splits off the first white-space separated word.
func cutWord(s string) (string, string) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' })
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimSpace(s[i:])
}

func short(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func (m *Module) triage(ctx context.Context, req commands.Slash) (commands.Response, error) {
	a, err := m.parseTriage(req.Args)
	if err != nil {
		return commands.Response{}, err
	}
	if !m.d.Config.Known(req.UserID) {
		return commands.Response{}, commands.Errorf(commands.Forbidden, "Only people of the on-call configuration can open incidents. Ask an admin to add you.")
	}
	inc := m.getIncidents()
	if inc == nil {
		return commands.Response{}, commands.Errorf(commands.Unavailable, "Incidents are not available in this bot right now, so I cannot open one. `/diag all` still runs the checks.")
	}
	opened, err := inc.Open(ctx, OpenSpec{
		Severity: a.Severity, Title: a.Playbook.DisplayTitle(), Playbook: a.Playbook.Name, OpenedBy: req.UserID, Note: a.Note,
	})
	if err != nil {
		if _, ok := commands.UserMessage(err); ok {
			return commands.Response{}, err
		}
		return commands.Response{}, fmt.Errorf("open incident for playbook %s: %w", a.Playbook.Name, err)
	}
	name := opened.Key
	if name == "" {
		name = fmt.Sprintf("incident %d", opened.ID)
	}
	if err := m.start(ctx, opened, a.Playbook, req.UserID); err != nil {
		// The incident exists; say so rather than hide it behind an error.
		m.d.Log.Error("triage thread failed", "incident_id", opened.ID, "err", err)
		return commands.Text(":warning: Opened *%s* (%s), but its playbook thread could not be posted completely. Follow the runbook from the incident and run `/diag all` for the checks.", escape(name), a.Severity), nil
	}
	where := "in the thread below it"
	if req.ChannelID != opened.Channel {
		link, err := m.d.Slack.Permalink(ctx, opened.Channel, opened.TS)
		if err != nil {
			m.d.Log.Warn("permalink failed", "incident_id", opened.ID, "err", err)
			where = fmt.Sprintf("in <#%s>", opened.Channel)
		} else {
			where = fmt.Sprintf("in <#%s>: <%s|open the thread>", opened.Channel, link)
		}
	}
	steps := len(a.Playbook.Steps)
	checks := a.Playbook.UsesDiagnostics()
	diag := "."
	if len(checks) > 0 {
		diag = fmt.Sprintf("; its %d diagnostic(s) are running and post into their steps.", len(checks))
	}
	return commands.Text(":rotating_light: Opened *%s* (%s, %s) running playbook `%s` %s — %d steps%s",
		escape(name), a.Severity, escape(a.Playbook.DisplayTitle()), a.Playbook.Name, where, steps, diag), nil
}

func (m *Module) list(_ context.Context, req commands.Slash) (commands.Response, error) {
	if req.Args != "" {
		return commands.Response{}, commands.Errorf(commands.Invalid, "`/triage list` takes no arguments.\nUsage: %s", usageList)
	}
	return commands.Text("%s\nUsage: %s", m.listText(), usageTriage), nil
}

func (m *Module) help(context.Context, commands.Slash) (commands.Response, error) {
	return commands.Text("Usage:\n• %s\n• %s\n• %s", usageTriage, usageList, usageDiag), nil
}

// listText lists the playbooks: name, aliases, default severity, alert.
func (m *Module) listText() string {
	var b strings.Builder
	b.WriteString("*Playbooks*")
	for _, p := range m.books.All() {
		fmt.Fprintf(&b, "\n• `%s`", p.Name)
		if len(p.Aliases) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(p.Aliases, ", "))
		}
		sev := p.Severity
		if sev == "" {
			sev = defaultSev
		}
		fmt.Fprintf(&b, " — %s · %s · alert `%s` · %d steps", escape(p.DisplayTitle()), sev, escape(p.Alert), len(p.Steps))
		if p.EscalateAfter > 0 {
			fmt.Fprintf(&b, " · escalates if not resolved within %s", fmtDuration(p.EscalateAfter))
		}
	}
	return b.String()
}

// Route picks the playbook and severity of a firing Alertmanager alert
// (SPEC §7): the playbook named by the playbook label (name or alias), else
// the one whose alertnames hold the alertname label; severity from a
// severity label P1–P4 (any case), else the playbook's default, else P3.
// ok is false when no playbook answers; severity is still set then.
func (m *Module) Route(labels map[string]string) (playbookName, severity string, ok bool) {
	var pb playbook.Playbook
	if name := labels["playbook"]; name != "" {
		pb, ok = m.books.Find(name)
	}
	if !ok {
		pb, ok = m.books.ForAlert(labels["alertname"])
	}
	sev := strings.ToUpper(strings.TrimSpace(labels["severity"]))
	switch {
	case slices.Contains([]string{"P1", "P2", "P3", "P4"}, sev):
		severity = sev
	case ok && pb.Severity != "":
		severity = pb.Severity
	default:
		severity = defaultSev
	}
	if !ok {
		return "", severity, false
	}
	return pb.Name, severity, true
}

// Start posts the step thread of an incident opened elsewhere (the
// Alertmanager webhook) and starts its diagnostics and escalation timer.
// Calling it again for the same incident posts only what is missing.
func (m *Module) Start(ctx context.Context, opened Opened, playbookName string) error {
	pb, ok := m.books.Find(playbookName)
	if !ok {
		return fmt.Errorf("start triage of incident %d: no playbook %q", opened.ID, playbookName)
	}
	return m.start(ctx, opened, pb, systemActor)
}
