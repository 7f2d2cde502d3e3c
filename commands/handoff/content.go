package handoff

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/contextinject/oncallbot/commands"
	"github.com/contextinject/oncallbot/commands/config"
	"github.com/contextinject/oncallbot/commands/rotation"
	"github.com/contextinject/oncallbot/commands/severity"
)

// Incident is what a handoff needs to know of an incident.
type Incident struct {
	ID       int64
	Title    string
	Severity string // "P1".."P4"
	// Status is a word such as "open", "acknowledged" or "resolved".
	Status     string
	Owner      string // Slack ID of the incident's owner, "" when none
	CreatedAt  time.Time
	AckedAt    time.Time // zero: not acknowledged
	ResolvedAt time.Time // zero: not resolved
	// Outcome says how a resolved incident ended ("rolled back the deploy").
	Outcome      string
	LatestUpdate string
}

// Change is a GitHub deployment or workflow run.
type Change struct {
	Kind   string // "deploy" or "workflow"
	Name   string // environment or workflow name
	Status string // success, failure, in_progress, …
	Actor  string
	At     time.Time
	URL    string
}

// Fields are the handoff message's five sections (runbook §7), as the
// outgoing engineer edits them: one item per line.
type Fields struct {
	Active      string
	Recent      string
	Changes     string
	Maintenance string
	Watch       string
}

// The runbook's "nothing here" words, per section.
const (
	noneActive      = "None"
	noneRecent      = "None this week"
	noneChanges     = "None"
	noneMaintenance = "None scheduled"
	noneWatch       = "All clear"
)

// maxPrefill keeps a pre-filled section within Slack's 3,000-character
// initial_value.
const maxPrefill = 2900

// Prefill writes the sections from what happened: open incidents (active
// issues), incidents created during the outgoing shift with their outcome
// (recent incidents), GitHub deployments and workflow runs (infrastructure
// changes), and overrides in force next shift (things to watch). A section
// with nothing in it says the runbook's "None".
func Prefill(cfg *config.Config, open, recent []Incident, changes []Change, next []rotation.Override) Fields {
	var f Fields
	var lines []string
	for _, in := range open {
		l := fmt.Sprintf("#%d %s (%s): %s", in.ID, oneLine(in.Title), in.Severity, statusOf(in))
		if in.Owner != "" {
			l += ", owner " + cfg.Name(in.Owner)
		}
		if u := oneLine(in.LatestUpdate); u != "" {
			l += "; latest: " + u
		}
		lines = append(lines, l)
	}
	f.Active = bullets(lines, noneActive)

	lines = nil
	for _, in := range recent {
		l := fmt.Sprintf("#%d %s (%s): ", in.ID, oneLine(in.Title), in.Severity)
		switch {
		case !in.ResolvedAt.IsZero():
			l += "resolved after " + short(in.ResolvedAt.Sub(in.CreatedAt))
			if o := oneLine(in.Outcome); o != "" {
				l += " — " + o
			}
		default:
			l += "still " + statusOf(in)
		}
		lines = append(lines, l)
	}
	f.Recent = bullets(lines, noneRecent)

	lines = nil
	for _, c := range changes {
		kind := "Workflow"
		if c.Kind == "deploy" {
			kind = "Deploy"
		}
		l := fmt.Sprintf("%s %s: %s", kind, oneLine(c.Name), c.Status)
		if c.Actor != "" {
			l += " by " + c.Actor
		}
		l += ", " + plainTime(c.At)
		if c.URL != "" {
			l += " " + c.URL
		}
		lines = append(lines, l)
	}
	f.Changes = bullets(lines, noneChanges)
	f.Maintenance = "- " + noneMaintenance

	lines = nil
	for _, o := range next {
		lines = append(lines, overrideLine(cfg, o))
	}
	f.Watch = bullets(lines, noneWatch)
	return f
}

func statusOf(in Incident) string {
	switch {
	case !in.ResolvedAt.IsZero():
		return "resolved"
	case in.Status != "":
		return in.Status
	case !in.AckedAt.IsZero():
		return "acknowledged"
	}
	return "open"
}

func overrideLine(cfg *config.Config, o rotation.Override) string {
	l := fmt.Sprintf("%s covers %s", cfg.Name(o.UserID), o.Role)
	if o.Replaces != "" {
		l += " for " + cfg.Name(o.Replaces)
	}
	l += fmt.Sprintf(" from %s to %s", plainTime(o.Start), plainTime(o.End))
	if o.Source != "" {
		l += " (" + o.Source + ")"
	}
	return l
}

// bullets writes lines as "- item" lines within maxPrefill characters, or
// "- none" when there are none.
func bullets(lines []string, none string) string {
	if len(lines) == 0 {
		return "- " + none
	}
	var b strings.Builder
	for i, l := range lines {
		item := "- " + l + "\n"
		more := fmt.Sprintf("- … and %d more\n", len(lines)-i)
		if b.Len()+len(item)+len(more) > maxPrefill {
			b.WriteString(more)
			break
		}
		b.WriteString(item)
	}
	return strings.TrimRight(b.String(), "\n")
}

// Normalize turns what a person typed into the section's lines: one "- item"
// per non-empty line (a leading "-", "•" or "*" is kept as the bullet).
func Normalize(s string) []string {
	var out []string
	for _, l := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		for _, p := range []string{"- ", "• ", "* ", "-", "•"} {
			if rest, ok := strings.CutPrefix(l, p); ok {
				l = strings.TrimSpace(rest)
				break
			}
		}
		if l != "" {
			out = append(out, "- "+l)
		}
	}
	return out
}

// Message renders the runbook's handoff message template (runbook §7) with
// the sections, mentioning the incoming primary.
func Message(cfg *config.Config, outgoing, incoming string, boundary time.Time, f Fields) string {
	section := func(title, body, none string) string {
		lines := Normalize(body)
		if len(lines) == 0 {
			lines = []string{"- " + none}
		}
		return title + ":\n" + strings.Join(lines, "\n")
	}
	return strings.Join([]string{
		fmt.Sprintf("On-Call Handoff: %s -> %s\nWeek of: %s", cfg.Name(outgoing), cfg.Name(incoming), weekOf(boundary)),
		section("Active Issues", f.Active, noneActive),
		section("Recent Incidents", f.Recent, noneRecent),
		section("Infrastructure Changes", f.Changes, noneChanges),
		section("Upcoming Maintenance", f.Maintenance, noneMaintenance),
		section("Things to Watch", f.Watch, noneWatch),
		fmt.Sprintf("<@%s> — you are now on-call. Questions?", incoming),
	}, "\n\n")
}

// weekOf is the message's "Week of" date, in each reader's time zone.
func weekOf(t time.Time) string {
	return fmt.Sprintf("<!date^%d^{date_long}|%s>", t.Unix(), t.UTC().Format("Monday 2 January 2006"))
}

// Numbers are the outgoing shift's numbers shown in the modal and posted
// with the handoff.
type Numbers struct {
	From, To   time.Time
	Severities []SeverityNumbers
	// Misses name each target missed: acknowledged or resolved late, or
	// still not done after the deadline.
	Misses []Miss
	// AckedUnresolved are open incidents acknowledged but not resolved.
	AckedUnresolved []Incident
	// Next are the overrides (swaps, emergency handoffs) in force next shift.
	Next []rotation.Override
}

// SeverityNumbers are the pages of one severity and how fast they were handled.
type SeverityNumbers struct {
	Name                     string
	Pages                    int
	AckTarget, ResolveTarget string // "15m", "next business day", "" for none
	Acked, Resolved          int
	MedianAck, MedianResolve time.Duration
	AckMisses, ResolveMisses int
}

// Miss is one missed target.
type Miss struct {
	Incident Incident
	What     string        // "acknowledge" or "resolve"
	Took     time.Duration // 0 when still not done
	Due      time.Time
	Target   string
}

// ComputeNumbers counts the pages of the incidents created during the
// outgoing shift by severity and compares their time to acknowledge and to
// resolve with each severity's targets (business hours and after-hours rules
// applied, as for the incident's own deadlines).
func ComputeNumbers(cfg *config.Config, recent, open []Incident, next []rotation.Override, from, to, now time.Time) Numbers {
	n := Numbers{From: from, To: to, Next: next}
	hours := severity.HoursFrom(cfg)
	bySev := map[string]*SeverityNumbers{}
	names := cfg.SeverityNames()
	for _, name := range names {
		sev := cfg.Severities[name]
		bySev[name] = &SeverityNumbers{Name: name, AckTarget: targetText(sev.Acknowledge), ResolveTarget: targetText(sev.Resolve)}
	}
	acks, resolves := map[string][]time.Duration{}, map[string][]time.Duration{}
	for _, in := range recent {
		name := strings.ToUpper(in.Severity)
		sn, ok := bySev[name]
		if !ok {
			sn = &SeverityNumbers{Name: name}
			bySev[name] = sn
			names = append(names, name)
		}
		sn.Pages++
		sev, known := cfg.Severity(name)
		var due severity.Deadlines
		if known {
			due = severity.Compute(sev, in.CreatedAt, hours)
		}
		check := func(what string, done time.Time, deadline time.Time, target string, count *int, durs map[string][]time.Duration) {
			if !done.IsZero() {
				durs[name] = append(durs[name], done.Sub(in.CreatedAt))
			}
			if deadline.IsZero() {
				return
			}
			late := (!done.IsZero() && done.After(deadline)) || (done.IsZero() && now.After(deadline))
			if !late {
				return
			}
			*count++
			m := Miss{Incident: in, What: what, Due: deadline, Target: target}
			if !done.IsZero() {
				m.Took = done.Sub(in.CreatedAt)
			}
			n.Misses = append(n.Misses, m)
		}
		check("acknowledge", in.AckedAt, due.Acknowledge, sn.AckTarget, &sn.AckMisses, acks)
		check("resolve", in.ResolvedAt, due.Resolve, sn.ResolveTarget, &sn.ResolveMisses, resolves)
	}
	sort.Strings(names)
	for _, name := range slices.Compact(names) {
		sn := bySev[name]
		sn.Acked, sn.MedianAck = len(acks[name]), median(acks[name])
		sn.Resolved, sn.MedianResolve = len(resolves[name]), median(resolves[name])
		n.Severities = append(n.Severities, *sn)
	}
	for _, in := range open {
		if !in.AckedAt.IsZero() && in.ResolvedAt.IsZero() {
			n.AckedUnresolved = append(n.AckedUnresolved, in)
		}
	}
	return n
}

func targetText(t config.Target) string {
	switch {
	case t.NextBusinessDay:
		return "next business day"
	case t.Duration > 0:
		return short(t.Duration)
	}
	return ""
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Text writes the numbers as Slack mrkdwn lines.
func (n Numbers) Text(cfg *config.Config) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*Shift numbers* (%s → %s)\n", commands.Date(n.From), commands.Date(n.To))
	var pages []string
	for _, s := range n.Severities {
		pages = append(pages, fmt.Sprintf("%s %d", s.Name, s.Pages))
	}
	fmt.Fprintf(&b, "Pages by severity: %s\n", strings.Join(pages, " · "))
	for _, s := range n.Severities {
		if s.Pages == 0 {
			continue
		}
		fmt.Fprintf(&b, "%s: acknowledged %d/%d", s.Name, s.Acked, s.Pages)
		if s.Acked > 0 {
			fmt.Fprintf(&b, ", median %s", short(s.MedianAck))
		}
		if s.AckTarget != "" {
			fmt.Fprintf(&b, " (target %s, %d missed)", s.AckTarget, s.AckMisses)
		}
		fmt.Fprintf(&b, "; resolved %d/%d", s.Resolved, s.Pages)
		if s.Resolved > 0 {
			fmt.Fprintf(&b, ", median %s", short(s.MedianResolve))
		}
		if s.ResolveTarget != "" {
			fmt.Fprintf(&b, " (target %s, %d missed)", s.ResolveTarget, s.ResolveMisses)
		}
		b.WriteString("\n")
	}
	if len(n.Misses) == 0 {
		b.WriteString("Missed targets: none\n")
	} else {
		b.WriteString("Missed targets:\n")
		for _, m := range n.Misses {
			took := "not done yet, due " + commands.Date(m.Due)
			if m.Took > 0 {
				took = "took " + short(m.Took)
			}
			fmt.Fprintf(&b, "• #%d %s (%s): %s — %s, target %s\n", m.Incident.ID, oneLine(m.Incident.Title), m.Incident.Severity, m.What, took, m.Target)
		}
	}
	if len(n.AckedUnresolved) == 0 {
		b.WriteString("Acknowledged but unresolved: none\n")
	} else {
		b.WriteString("Acknowledged but unresolved:\n")
		for _, in := range n.AckedUnresolved {
			fmt.Fprintf(&b, "• #%d %s (%s)", in.ID, oneLine(in.Title), in.Severity)
			if in.Owner != "" {
				fmt.Fprintf(&b, ", owner %s", cfg.Name(in.Owner))
			}
			b.WriteString("\n")
		}
	}
	if len(n.Next) == 0 {
		b.WriteString("Swaps and overrides next shift: none")
	} else {
		b.WriteString("Swaps and overrides next shift:")
		for _, o := range n.Next {
			b.WriteString("\n• " + overrideLine(cfg, o))
		}
	}
	return clip(b.String(), 2900)
}

// short writes a duration compactly: "45s", "12m", "1h5m", "2d3h".
func short(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 24*time.Hour:
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh%dm", h, m)
	}
	days, h := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
	if h == 0 {
		return fmt.Sprintf("%dd", days)
	}
	return fmt.Sprintf("%dd%dh", days, h)
}

// plainTime is a time for plain-text inputs, where Slack date tokens do not render.
func plainTime(t time.Time) string { return t.UTC().Format("Mon 2 Jan 15:04 UTC") }

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// clip shortens s to at most n runes, marking the cut.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
