package incident

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/contextinject/oncallbot/commands"
	"github.com/contextinject/oncallbot/commands/config"
	"github.com/contextinject/oncallbot/store"
)

// Limits of user input.
const (
	maxTitle = 150  // runes; the parent's header line stays readable
	maxText  = 2900 // runes of a status update, root cause or resolution (section text ≤ 3000)
	// startGrace is when Open's safety net runs (see startArgs).
	startGrace = 10 * time.Second
	// pendingTS marks a parent being posted, so two posters never post twice.
	pendingTS = "pending"
)

var severityLabelRE = regexp.MustCompile(`^[Pp][1-4]$`)

// hasParent reports whether the parent message exists.
func (i *Incident) hasParent() bool { return i.TS != "" && i.TS != pendingTS }

// audit writes an audit row about inc in q's transaction.
func (m *Module) audit(ctx context.Context, q store.DBTX, actor, action string, id int64, details map[string]any) error {
	if actor == "" {
		actor = actorSystem
	}
	return store.Audit(ctx, q, store.AuditEntry{At: m.d.Now(), Actor: actor, Action: action, Subject: "incident:" + fmt.Sprint(id), Details: details})
}

func (m *Module) inTx(ctx context.Context, fn func(pgx.Tx) error) error { return m.d.DB.InTx(ctx, fn) }

// Get returns incident id.
func (m *Module) Get(ctx context.Context, id int64) (*Incident, error) {
	return getIncident(ctx, m.d.DB.Pool, id, false)
}

// ByKey returns the incident named "INC-12", "#12" or "12"; a user-facing
// NotFound or Invalid error otherwise.
func (m *Module) ByKey(ctx context.Context, key string) (*Incident, error) {
	id, ok := ParseKey(key)
	if !ok {
		return nil, errorf(commands.Invalid, "`%s` is not an incident; name one like INC-12.", clipRunes(key, 30))
	}
	inc, err := m.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errorf(commands.NotFound, "There is no incident %s.", KeyOf(id))
	}
	return inc, err
}

// OpenIncidents returns the incidents not yet resolved, oldest first.
func (m *Module) OpenIncidents(ctx context.Context) ([]*Incident, error) {
	return listOpen(ctx, m.d.DB.Pool)
}

// Between returns the incidents created in [from, to), with their outcome.
func (m *Module) Between(ctx context.Context, from, to time.Time) ([]*Incident, error) {
	return listBetween(ctx, m.d.DB.Pool, from, to)
}

// Stats returns how many incidents created in [from, to) user acknowledged
// or commanded, and the median time from creation to user's acknowledgement.
func (m *Module) Stats(ctx context.Context, user string, from, to time.Time) (handled int, medianAck time.Duration, err error) {
	n, delays, err := ackStats(ctx, m.d.DB.Pool, user, from, to)
	if err != nil || len(delays) == 0 {
		return n, 0, err
	}
	slices.Sort(delays)
	mid := len(delays) / 2
	if len(delays)%2 == 1 {
		return n, delays[mid], nil
	}
	return n, (delays[mid-1] + delays[mid]) / 2, nil
}

// severityName checks a severity given by a user.
func (m *Module) severityName(s string) (string, error) {
	name := strings.ToUpper(strings.TrimSpace(s))
	if _, ok := m.d.Config.Severity(name); !ok || name == "" {
		return "", errorf(commands.Invalid, "`%s` is not a severity; use one of %s.", clipRunes(s, 20), strings.Join(m.d.Config.SeverityNames(), ", "))
	}
	return name, nil
}

// printable makes outside text storable and showable: valid UTF-8, without
// NUL (PostgreSQL text refuses it) or other control characters except
// newlines and tabs.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' || !unicode.IsControl(r) {
			return r
		}
		return -1
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

// cleanTitle makes a title one line of printable text, collapses white
// space and checks the length.
func cleanTitle(s string) (string, error) {
	t := strings.Join(strings.Fields(printable(s)), " ")
	switch {
	case t == "":
		return "", errorf(commands.Invalid, "An incident needs a title that says what is wrong.")
	case utf8.RuneCountInString(t) > maxTitle:
		return "", errorf(commands.Invalid, "The title is %d characters long; keep it under %d.", utf8.RuneCountInString(t), maxTitle)
	}
	return t, nil
}

// Open stores a new incident (with its audit row), posts its parent in
// #incidents and schedules its escalation, broadcast and reminders. With a
// SourceRef it is idempotent: while an incident of the same Source and
// SourceRef is open, that incident is returned.
func (m *Module) Open(ctx context.Context, req OpenRequest) (*Incident, error) {
	inc, _, err := m.open(ctx, req)
	return inc, err
}

// open is Open, also saying whether the incident is new.
func (m *Module) open(ctx context.Context, req OpenRequest) (*Incident, bool, error) {
	sev, err := m.severityName(req.Severity)
	if err != nil {
		return nil, false, err
	}
	title, err := cleanTitle(req.Title)
	if err != nil {
		return nil, false, err
	}
	req.Source, req.SourceRef, req.Playbook = printable(req.Source), printable(req.SourceRef), printable(req.Playbook)
	req.OpenedBy, req.Note, req.PagerDutyID = printable(req.OpenedBy), printable(req.Note), printable(req.PagerDutyID)
	if req.Source == "" {
		req.Source = SourceSlash
	}
	if req.OpenedBy == "" {
		req.OpenedBy = req.Source
	}
	if req.SourceRef != "" {
		if inc, err := m.existing(ctx, req); err == nil {
			return inc, false, nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, false, err
		}
	}
	now := m.d.Now()
	tl, err := PlanIncident(m.d.Config, sev, now)
	if err != nil {
		return nil, false, err
	}
	inc := &Incident{
		Severity: sev, Title: title, Playbook: req.Playbook, Source: req.Source, SourceRef: req.SourceRef,
		OpenedBy: req.OpenedBy, Channel: m.d.Config.Channels.Incidents, CreatedAt: now, Deadlines: tl.Deadlines,
		Notes: map[string]string{}, Paging: PagingBot, PagerDutyID: req.PagerDutyID,
		Esc: Position{State: escRunning, Due: tl.Deadlines.ClockStart},
	}
	if m.PagerDutyMode() || req.Source == SourcePagerDuty {
		inc.Paging, inc.Esc = PagingPagerDuty, Position{State: escOff}
	}
	err = m.inTx(ctx, func(tx pgx.Tx) error {
		if err := insertIncident(ctx, tx, inc); err != nil {
			return err
		}
		if err := m.audit(ctx, tx, req.OpenedBy, "incident.open", inc.ID, map[string]any{
			"severity": sev, "title": title, "source": req.Source, "source_ref": req.SourceRef, "playbook": req.Playbook,
		}); err != nil {
			return err
		}
		return m.insertAt(ctx, tx, startArgs{IncidentID: inc.ID}, now.Add(startGrace))
	})
	var conflict *store.ConflictError
	if errors.As(err, &conflict) && req.SourceRef != "" {
		// Another request opened it at the same moment.
		inc, err := m.existing(ctx, req)
		return inc, false, err
	}
	if err != nil {
		return nil, false, err
	}
	m.d.Log.Info("incident opened", "incident_id", inc.ID, "severity", sev, "source", req.Source)
	perr := m.ensureParent(ctx, inc.ID)
	if err := m.start(ctx, inc.ID); err != nil {
		return inc, true, err
	}
	entry := fmt.Sprintf(":rotating_light: %s opened %s by %s.", describe(inc), m.openedVia(req.Source), m.mention(req.OpenedBy))
	if req.Note != "" {
		entry += "\n" + req.Note
	}
	m.changed(ctx, inc.ID, entry)
	if perr != nil {
		m.d.Log.Error("incident parent not posted", "incident_id", inc.ID, "err", perr)
		return inc, true, errorf(commands.Unavailable, "%s is open and paging, but Slack did not accept its message in #incidents; it will be retried.", inc.Key)
	}
	if fresh, err := m.Get(ctx, inc.ID); err == nil {
		inc = fresh
	}
	return inc, true, nil
}

// existing finds the incident req would duplicate.
func (m *Module) existing(ctx context.Context, req OpenRequest) (*Incident, error) {
	if req.Source == SourcePagerDuty {
		return byPagerDuty(ctx, m.d.DB.Pool, req.SourceRef, 0)
	}
	return openBySource(ctx, m.d.DB.Pool, req.Source, req.SourceRef)
}

func (m *Module) openedVia(source string) string {
	switch source {
	case SourceSlash:
		return "with /incident"
	case SourceTriage:
		return "with /triage"
	case SourceAlertmanager:
		return "from an Alertmanager alert"
	case SourcePagerDuty:
		return "from PagerDuty"
	}
	return "from " + source
}

// start schedules what an open incident needs: the current escalation step,
// the broadcast, the deadline reminders and, in PagerDuty mode, raising it
// in PagerDuty. Every job has a unique key, so starting twice is harmless.
func (m *Module) start(ctx context.Context, id int64) error {
	return m.inTx(ctx, func(tx pgx.Tx) error {
		inc, err := getIncident(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if !inc.IsOpen() {
			return nil
		}
		if inc.Paging == PagingBot && inc.Esc.State == escRunning && inc.Status == StatusTriggered {
			e := inc.Esc
			if err := m.insertAt(ctx, tx, stepArgs{IncidentID: id, Round: e.Round, Loop: e.Loop, Step: e.Step, At: m.schedAt(e.Due)}, e.Due); err != nil {
				return err
			}
		}
		if sev, ok := m.d.Config.Severity(inc.Severity); ok && len(sev.Broadcast) > 0 {
			if err := m.insertAt(ctx, tx, stepArgs{IncidentID: id, Loop: -1, Step: -1}, time.Time{}); err != nil {
				return err
			}
		}
		d := inc.Deadlines
		for _, r := range []struct {
			kind string
			at   time.Time
		}{{deadlineAck, d.Acknowledge}, {deadlineInvestigate, d.Investigate}, {deadlineFirstUpdate, d.FirstUpdate}, {deadlineResolve, d.Resolve}} {
			if r.at.IsZero() {
				continue
			}
			if err := m.insertAt(ctx, tx, reminderArgs{IncidentID: id, Deadline: r.kind, At: m.schedAt(r.at)}, r.at); err != nil {
				return err
			}
		}
		if inc.Paging == PagingPagerDuty && inc.Source != SourcePagerDuty && inc.PagerDutyID == "" && m.PagerDutyMode() {
			return m.insertPagerDuty(ctx, tx, pagerdutyArgs{IncidentID: id, Action: pdCreate, User: inc.OpenedBy})
		}
		return nil
	})
}

// ensureParent posts the parent message unless it exists or is being posted.
func (m *Module) ensureParent(ctx context.Context, id int64) error {
	inc, err := m.Get(ctx, id)
	if err != nil {
		return err
	}
	_, err = m.ensureParentOf(ctx, inc)
	return err
}

// ensureParentOf is ensureParent for an incident already read; it returns
// inc with its parent's TS once posted here.
func (m *Module) ensureParentOf(ctx context.Context, inc *Incident) (*Incident, error) {
	if inc.TS != "" || inc.Channel == "" {
		return inc, nil
	}
	id := inc.ID
	n, err := exec(ctx, m.d.DB.Pool, "claim parent", `UPDATE incidents SET ts = $2 WHERE id = $1 AND ts = ''`, id, pendingTS)
	if err != nil || n == 0 {
		return inc, err
	}
	m.seen.swap("p", id, m.parentSig(inc))
	ts, err := m.d.Slack.Post(ctx, inc.Channel, m.parentMessage(inc))
	if err != nil {
		_, _ = exec(ctx, m.d.DB.Pool, "release parent", `UPDATE incidents SET ts = '' WHERE id = $1 AND ts = $2`, id, pendingTS)
		return inc, fmt.Errorf("post parent of %s: %w", KeyOf(id), err)
	}
	if _, err = exec(ctx, m.d.DB.Pool, "store parent", `UPDATE incidents SET ts = $2 WHERE id = $1`, id, ts); err != nil {
		return inc, err
	}
	inc.TS = ts
	m.seen.swap("p", id, m.parentSig(inc))
	return inc, nil
}

// alreadyError marks a change that another click or source made first.
type alreadyError struct{ msg string }

func (e *alreadyError) Error() string { return e.msg }

// txFailed turns the error of a state-changing transaction into the answer:
// a change someone else already made is a Conflict naming them (with the
// incident as it is), anything else goes through notFound.
func (m *Module) txFailed(id int64, inc *Incident, err error) (*Incident, error) {
	var already *alreadyError
	if errors.As(err, &already) {
		return inc, errorf(commands.Conflict, "%s", already.msg)
	}
	return nil, m.notFound(id, err)
}

// Acknowledge acknowledges incident id as user (via: button, command,
// pagerduty, …): the chain stops, user becomes incident commander unless
// someone holds command, and the change reaches the parent, the DMs, the App
// Home and, in PagerDuty mode, PagerDuty. A second acknowledgement returns a
// Conflict error naming who was first.
func (m *Module) Acknowledge(ctx context.Context, id int64, user, via string) (*Incident, error) {
	if via != SourcePagerDuty && !m.d.Config.Known(user) {
		return nil, errorf(commands.Forbidden, "Only people in the on-call configuration can acknowledge incidents.")
	}
	var inc *Incident
	err := m.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if inc, err = getIncident(ctx, tx, id, true); err != nil {
			return err
		}
		switch inc.Status {
		case StatusResolved:
			return errorf(commands.Conflict, "%s was resolved by %s at %s; there is nothing to acknowledge.", inc.Key, m.name(inc.ResolvedBy), commands.Date(inc.ResolvedAt))
		case StatusAcknowledged:
			return &alreadyError{fmt.Sprintf("%s was already acknowledged by %s at %s.", inc.Key, m.name(inc.AckedBy), commands.Date(inc.AckedAt))}
		}
		now := m.d.Now()
		if _, err := exec(ctx, tx, "acknowledge incident", `
			UPDATE incidents SET status = 'acknowledged', acked_at = $2, acked_by = $3, acked_via = $4,
				owner = CASE WHEN owner = '' THEN $3 ELSE owner END,
				esc_state = CASE WHEN esc_state = 'running' THEN 'stopped' ELSE esc_state END, esc_due = NULL,
				last_activity_at = $2, check_seq = check_seq + 1
			WHERE id = $1 AND status = 'triggered'`, id, now, user, via); err != nil {
			return err
		}
		if err := m.audit(ctx, tx, user, "incident.acknowledge", id, map[string]any{"via": via, "due": inc.Deadlines.Acknowledge}); err != nil {
			return err
		}
		if err := m.scheduleCheck(ctx, tx, inc, inc.checkSeq+1, now); err != nil {
			return err
		}
		if via != SourcePagerDuty && inc.Paging == PagingPagerDuty && m.PagerDutyMode() {
			return m.insertPagerDuty(ctx, tx, pagerdutyArgs{IncidentID: id, Action: pdAcknowledge, Ref: fmt.Sprint(now.UnixNano()), User: user})
		}
		return nil
	})
	if err != nil {
		return m.txFailed(id, inc, err)
	}
	now := m.d.Now()
	owner := ""
	if inc.Owner != "" && inc.Owner != user {
		owner = fmt.Sprintf(" %s remains incident commander.", m.mention(inc.Owner))
	} else {
		owner = fmt.Sprintf(" %s is incident commander.", m.mention(user))
	}
	entry := fmt.Sprintf(":large_orange_circle: Acknowledged by %s%s after %s (%s).%s",
		m.mention(user), viaText(via), human(now.Sub(inc.CreatedAt)), targetText(inc.Deadlines.Acknowledge, now), owner)
	m.changed(ctx, id, entry)
	return m.Get(ctx, id)
}

// notFound turns a missing row into a user answer.
func (m *Module) notFound(id int64, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return errorf(commands.NotFound, "There is no incident %s.", KeyOf(id))
	}
	return err
}

func viaText(via string) string {
	switch via {
	case "button", "":
		return ""
	case "command":
		return " with /oncall ack"
	case SourcePagerDuty:
		return " in PagerDuty"
	}
	return " (" + via + ")"
}

// targetText says whether a target was met at t.
func targetText(due, t time.Time) string {
	if due.IsZero() {
		return "no target"
	}
	if !t.After(due) {
		return "target " + commands.Date(due) + " met"
	}
	return "target " + commands.Date(due) + " missed by " + human(t.Sub(due))
}

// Resolve resolves incident id as user with its root cause and resolution.
func (m *Module) Resolve(ctx context.Context, id int64, user, rootCause, resolution string) (*Incident, error) {
	return m.resolve(ctx, id, user, rootCause, resolution, "button")
}

func (m *Module) resolve(ctx context.Context, id int64, user, rootCause, resolution, via string) (*Incident, error) {
	rootCause, resolution = clipRunes(strings.TrimSpace(printable(rootCause)), maxText), clipRunes(strings.TrimSpace(printable(resolution)), maxText)
	if via != SourcePagerDuty && !m.d.Config.Known(user) {
		return nil, errorf(commands.Forbidden, "Only people in the on-call configuration can resolve incidents.")
	}
	var inc *Incident
	err := m.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if inc, err = getIncident(ctx, tx, id, true); err != nil {
			return err
		}
		if inc.Status == StatusResolved {
			return &alreadyError{fmt.Sprintf("%s was already resolved by %s at %s.", inc.Key, m.name(inc.ResolvedBy), commands.Date(inc.ResolvedAt))}
		}
		now := m.d.Now()
		if _, err := exec(ctx, tx, "resolve incident", `
			UPDATE incidents SET status = 'resolved', resolved_at = $2, resolved_by = $3, root_cause = $4, resolution = $5,
				esc_state = CASE WHEN esc_state = 'running' THEN 'stopped' ELSE esc_state END, esc_due = NULL,
				last_activity_at = $2, check_seq = check_seq + 1
			WHERE id = $1 AND status <> 'resolved'`, id, now, user, rootCause, resolution); err != nil {
			return err
		}
		if err := m.audit(ctx, tx, user, "incident.resolve", id, map[string]any{"via": via}); err != nil {
			return err
		}
		if via != SourcePagerDuty && inc.Paging == PagingPagerDuty && m.PagerDutyMode() {
			return m.insertPagerDuty(ctx, tx, pagerdutyArgs{IncidentID: id, Action: pdResolve, User: user})
		}
		return nil
	})
	if err != nil {
		return m.txFailed(id, inc, err)
	}
	now := m.d.Now()
	var b strings.Builder
	fmt.Fprintf(&b, ":white_check_mark: *Resolved* by %s%s after %s (%s).", m.mention(user), viaText(via), human(now.Sub(inc.CreatedAt)), targetText(inc.Deadlines.Resolve, now))
	if rootCause != "" {
		fmt.Fprintf(&b, "\n*Root cause:* %s", rootCause)
	}
	if resolution != "" {
		fmt.Fprintf(&b, "\n*Resolution:* %s", resolution)
	}
	m.changed(ctx, id, b.String())
	return m.Get(ctx, id)
}

// Escalate pages the chain's next step now, as actor, for reason.
func (m *Module) Escalate(ctx context.Context, id int64, actor, reason string) (*Incident, error) {
	inc, err := m.Get(ctx, id)
	if err != nil {
		return nil, m.notFound(id, err)
	}
	return m.escalate(ctx, id, actor, reason, inc.Esc)
}

// escalate fires step want now, refusing when the chain has moved on
// (a second click on the same Escalate button).
func (m *Module) escalate(ctx context.Context, id int64, actor, reason string, want Position) (*Incident, error) {
	if !m.d.Config.Known(actor) {
		return nil, errorf(commands.Forbidden, "Only people in the on-call configuration can escalate incidents.")
	}
	if _, err := m.fireStep(ctx, id, want, actor, true, reason); err != nil {
		return nil, m.notFound(id, err)
	}
	return m.Get(ctx, id)
}

// recipients expands role words at t.
func (m *Module) recipients(ctx context.Context, words []string, t time.Time) []string {
	if m.o.Roster == nil {
		return m.d.Config.Recipients(words, "", "")
	}
	var out []string
	for _, w := range words {
		for _, id := range m.o.Roster.Role(ctx, w, t) {
			if id != "" && !slices.Contains(out, id) {
				out = append(out, id)
			}
		}
	}
	return out
}

// fireStep fires escalation step pos of incident id. From a job (manual
// false) it does nothing unless the incident is unacknowledged, its chain
// running and pos its next step; manually (the Escalate button) it fires
// the next step of any open incident. The step is claimed in
// incident_pages in the same transaction that moves the chain on and
// schedules the following step, so it fires once whatever the number of
// replicas or deliveries; the notifications go out after the commit.
func (m *Module) fireStep(ctx context.Context, id int64, pos Position, actor string, manual bool, reason ...string) (bool, error) {
	esc := m.d.Config.Escalation
	var inc, after *Incident
	var recipients []string
	if pos.Step >= 0 && pos.Step < len(esc.Steps) {
		// Resolved before the transaction: the roster reads overrides
		// through the pool, and a transaction waiting for a second
		// connection could starve the pool under a burst.
		recipients = m.recipients(ctx, esc.Steps[pos.Step].Notify, m.d.Now())
	}
	fired := false
	err := m.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if inc, err = getIncident(ctx, tx, id, true); err != nil {
			return err
		}
		cur := inc.Esc
		same := cur.Round == pos.Round && cur.Loop == pos.Loop && cur.Step == pos.Step
		if manual {
			switch {
			case inc.Status == StatusResolved:
				return errorf(commands.Conflict, "%s was resolved by %s at %s; there is no one left to page.", inc.Key, m.name(inc.ResolvedBy), commands.Date(inc.ResolvedAt))
			case inc.Paging == PagingPagerDuty:
				return errorf(commands.Conflict, "PagerDuty runs the escalation of %s; escalate it in PagerDuty.", inc.Key)
			case cur.State == escDone:
				return errorf(commands.Conflict, "Everyone in the escalation chain of %s has been paged (%d loops).", inc.Key, loops(esc))
			case !same:
				return errorf(commands.Conflict, "%s was escalated already: its next step is %s.", inc.Key, stepLabel(esc, cur.Loop, cur.Step))
			}
		} else if !same || inc.Status != StatusTriggered || cur.State != escRunning || inc.Paging != PagingBot {
			return nil
		}
		if pos.Step >= len(esc.Steps) || pos.Loop >= loops(esc) {
			// The configuration changed under a running chain: end it.
			_, err := exec(ctx, tx, "end chain", `UPDATE incidents SET esc_state = 'done', esc_due = NULL WHERE id = $1`, id)
			return err
		}
		now := m.d.Now()
		ok, err := claimPage(ctx, tx, id, pos.Round, pos.Loop, pos.Step, now, recipients, actor)
		if err != nil || !ok {
			if !ok && manual {
				return errorf(commands.Conflict, "%s was escalated already.", inc.Key)
			}
			return err
		}
		fired = true
		base := cur.Due
		if manual || base.IsZero() {
			base = now
		}
		wait := esc.Steps[pos.Step].After.D()
		if len(recipients) == 0 {
			wait = 0 // nobody to wait for
		}
		state, due := cur.State, time.Time{}
		nl, ns, more := nextStep(esc, pos.Loop, pos.Step)
		if !more {
			nl, ns = pos.Loop, pos.Step
			if state == escRunning {
				state = escDone
			}
		}
		schedule := more && state == escRunning && inc.Status == StatusTriggered
		if schedule {
			due = base.Add(wait)
		}
		rows, err := tx.Query(ctx, `
			UPDATE incidents SET esc_loop = $2, esc_step = $3, esc_due = $4, esc_state = $5,
				paged = paged || ARRAY(SELECT unnest($6::text[]) EXCEPT SELECT unnest(paged)), last_activity_at = $7
			WHERE id = $1 RETURNING `+incidentColumns, id, nl, ns, ptr(due), state, recipients, now)
		if err != nil {
			return mapErr("advance chain", err)
		}
		row, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[incidentRow])
		if err != nil {
			return mapErr("advance chain", err)
		}
		after = row.incident()
		details := map[string]any{"round": pos.Round, "loop": pos.Loop, "step": pos.Step, "recipients": recipients, "manual": manual}
		if len(reason) > 0 && reason[0] != "" {
			details["reason"] = reason[0]
		}
		if err := m.audit(ctx, tx, actor, "incident.page", id, details); err != nil {
			return err
		}
		if schedule {
			return m.insertAt(ctx, tx, stepArgs{IncidentID: id, Round: pos.Round, Loop: nl, Step: ns, At: m.schedAt(due)}, due)
		}
		return nil
	})
	if err != nil || !fired {
		return false, err
	}
	label := stepLabel(esc, pos.Loop, pos.Step)
	head := fmt.Sprintf(":rotating_light: Paging %s (%s).", m.mentions(recipients), label)
	if manual {
		head = fmt.Sprintf(":arrow_double_up: Escalated by %s: paging %s (%s).", m.mention(actor), m.mentions(recipients), label)
		if len(reason) > 0 && reason[0] != "" {
			head += " Reason: " + reason[0]
		}
	}
	if len(recipients) == 0 {
		head = fmt.Sprintf(":warning: Escalation %s names no one on call right now; moving on to the next step.", label)
	}
	m.deliver(ctx, after, recipients, head)
	return true, nil
}

// fireBroadcast notifies the severity's broadcast people once.
func (m *Module) fireBroadcast(ctx context.Context, id int64) error {
	inc, err := m.Get(ctx, id)
	if err != nil {
		return err
	}
	sev, ok := m.d.Config.Severity(inc.Severity)
	if inc.Status != StatusTriggered || !ok || len(sev.Broadcast) == 0 {
		return nil
	}
	// Outside the transaction, as in fireStep.
	recipients := m.recipients(ctx, sev.Broadcast, m.d.Now())
	fired := false
	err = m.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if inc, err = getIncident(ctx, tx, id, true); err != nil {
			return err
		}
		if inc.Status != StatusTriggered {
			return nil
		}
		now := m.d.Now()
		if ok, err := claimPage(ctx, tx, id, 0, -1, -1, now, recipients, actorSystem); err != nil || !ok {
			return err
		}
		fired = true
		if inc.Paging == PagingBot {
			if _, err := exec(ctx, tx, "record broadcast", `
				UPDATE incidents SET paged = paged || ARRAY(SELECT unnest($2::text[]) EXCEPT SELECT unnest(paged)) WHERE id = $1`,
				id, recipients); err != nil {
				return err
			}
		}
		return m.audit(ctx, tx, actorSystem, "incident.broadcast", id, map[string]any{"recipients": recipients})
	})
	if err != nil || !fired || len(recipients) == 0 {
		return err
	}
	if inc.Paging == PagingPagerDuty {
		m.changed(ctx, id, fmt.Sprintf(":mega: %s: heads up %s (PagerDuty pages the on-call chain).", inc.Severity, m.mentions(recipients)))
		return nil
	}
	inc, err = m.Get(ctx, id)
	if err != nil {
		return err
	}
	m.deliver(ctx, inc, recipients, fmt.Sprintf(":mega: %s broadcast: notifying %s at once.", inc.Severity, m.mentions(recipients)))
	return nil
}

// deliver DMs each recipient a page with an Acknowledge button, records the
// DMs (to keep them current), adds head to the thread and refreshes; inc is
// the incident as stored after the step.
func (m *Module) deliver(ctx context.Context, inc *Incident, recipients []string, head string) {
	id := inc.ID
	inc, err := m.ensureParentOf(ctx, inc)
	if err != nil {
		m.d.Log.Warn("incident parent not posted", "incident_id", id, "err", err)
	}
	var failed []string
	sent := false
	for _, r := range recipients {
		ts, err := m.d.Slack.Post(ctx, r, m.pageMessage(inc))
		if err != nil {
			m.d.Log.Error("page DM not sent", "incident_id", id, "user_id", r, "err", err)
			failed = append(failed, r)
			continue
		}
		sent = true
		if err := insertMessage(ctx, m.d.DB.Pool, id, message{Channel: r, TS: ts, UserID: r, Kind: kindPage}, m.d.Now()); err != nil {
			m.d.Log.Error("page DM not recorded", "incident_id", id, "err", err)
		}
	}
	if sent {
		// The new DMs show the current state; a refresh updates the older
		// ones only when the state moved on from what they show.
		m.seen.remember("d", id, dmSig(inc))
	}
	if len(failed) > 0 {
		head += fmt.Sprintf("\n:warning: Slack did not deliver the DM to %s; reach them another way.", m.mentions(failed))
	}
	if err := m.reply(ctx, inc, commands.Message{Text: head}); err != nil {
		m.d.Log.Warn("incident timeline entry not posted", "incident_id", id, "err", err)
	}
	m.refreshFrom(ctx, id, inc)
}

func (m *Module) mentions(ids []string) string {
	if len(ids) == 0 {
		return "no one"
	}
	parts := make([]string, 0, len(ids))
	for _, id := range ids {
		parts = append(parts, m.mention(id))
	}
	return strings.Join(parts, ", ")
}

// Deadline reminder kinds.
const (
	deadlineAck         = "acknowledge"
	deadlineInvestigate = "investigate"
	deadlineFirstUpdate = "first_update"
	deadlineResolve     = "resolve"
)

// remind posts the one reminder of an overdue deadline, when it is still overdue.
func (m *Module) remind(ctx context.Context, id int64, deadline string) error {
	var inc *Incident
	fired := false
	err := m.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if inc, err = getIncident(ctx, tx, id, true); err != nil {
			return err
		}
		d := inc.Deadlines
		var due bool
		switch deadline {
		case deadlineAck:
			due = inc.Status == StatusTriggered
		case deadlineInvestigate:
			// An acknowledgement starts the investigation; when both targets
			// fall together the acknowledge reminder says it all.
			due = inc.Status == StatusTriggered && !d.Investigate.Equal(d.Acknowledge)
		case deadlineFirstUpdate:
			due = inc.IsOpen() && inc.FirstUpdateAt.IsZero()
		case deadlineResolve:
			due = inc.IsOpen()
		}
		if !due {
			return nil
		}
		ok, err := claimReminder(ctx, tx, id, deadline, m.d.Now())
		if err != nil || !ok {
			return err
		}
		fired = true
		return m.audit(ctx, tx, actorSystem, "incident.reminder", id, map[string]any{"deadline": deadline})
	})
	if err != nil || !fired {
		return err
	}
	who := inc.Owner
	whom := m.mention(who)
	if who == "" {
		whom = m.mentions(m.nowOnCall(ctx, inc))
	}
	var due time.Time
	var what string
	switch deadline {
	case deadlineAck:
		due, what = inc.Deadlines.Acknowledge, "acknowledge target: nobody has acknowledged it"
	case deadlineInvestigate:
		due, what = inc.Deadlines.Investigate, "investigation target: nobody has acknowledged it"
	case deadlineFirstUpdate:
		due, what = inc.Deadlines.FirstUpdate, "first status update target: please post one with *Post update*"
	case deadlineResolve:
		due, what = inc.Deadlines.Resolve, "resolution target"
	}
	m.changed(ctx, id, fmt.Sprintf(":alarm_clock: %s %s is past its %s (due %s).", whom, inc.Key, what, commands.Date(due)))
	return nil
}

// nowOnCall is who a reminder mentions when an incident has no commander:
// the people paged so far, else the primary.
func (m *Module) nowOnCall(ctx context.Context, inc *Incident) []string {
	if len(inc.Paged) > 0 {
		return inc.Paged
	}
	return m.recipients(ctx, []string{config.WordPrimary}, m.d.Now())
}

// checkEvery is how long an acknowledged incident may stay quiet before its
// commander is asked "still on it?": the first_update target of a P1 or P2,
// zero (no check) otherwise.
func (m *Module) checkEvery(inc *Incident) time.Duration {
	if inc.Severity != "P1" && inc.Severity != "P2" {
		return 0
	}
	sev, ok := m.d.Config.Severity(inc.Severity)
	if !ok {
		return 0
	}
	return sev.FirstUpdate.Duration
}

// scheduleCheck schedules "still on it?" number seq, first_update after since.
func (m *Module) scheduleCheck(ctx context.Context, tx pgx.Tx, inc *Incident, seq int, since time.Time) error {
	every := m.checkEvery(inc)
	if every <= 0 {
		return nil
	}
	at := since.Add(every)
	return m.insertAt(ctx, tx, checkArgs{IncidentID: inc.ID, Seq: seq, Since: since, At: m.schedAt(at)}, at)
}

// check asks the commander of a quiet acknowledged P1/P2 whether they are
// still on it; activity since the check was scheduled pushes it back.
func (m *Module) check(ctx context.Context, a checkArgs) error {
	var inc *Incident
	ask := false
	err := m.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if inc, err = getIncident(ctx, tx, a.IncidentID, true); err != nil {
			return err
		}
		if inc.Status != StatusAcknowledged || inc.checkSeq != a.Seq {
			return nil
		}
		if inc.LastActivityAt.After(a.Since) {
			if _, err := exec(ctx, tx, "push check back", `UPDATE incidents SET check_seq = $2 WHERE id = $1`, inc.ID, a.Seq+1); err != nil {
				return err
			}
			return m.scheduleCheck(ctx, tx, inc, a.Seq+1, inc.LastActivityAt)
		}
		ok, err := claimReminder(ctx, tx, inc.ID, fmt.Sprintf("still:%d", a.Seq), m.d.Now())
		if err != nil || !ok {
			return err
		}
		ask = true
		return m.audit(ctx, tx, actorSystem, "incident.still_on_it", inc.ID, map[string]any{"seq": a.Seq})
	})
	if err != nil || !ask {
		return err
	}
	owner := inc.Owner
	if owner == "" {
		owner = inc.AckedBy
	}
	if !m.d.Config.Known(owner) {
		return nil
	}
	ts, err := m.d.Slack.Post(ctx, owner, m.stillMessage(inc, a.Seq))
	if err != nil {
		m.d.Log.Error("still-on-it DM not sent", "incident_id", inc.ID, "err", err)
	} else if err := insertMessage(ctx, m.d.DB.Pool, inc.ID, message{Channel: owner, TS: ts, UserID: owner, Kind: fmt.Sprintf("%s%d", kindStill, a.Seq)}, m.d.Now()); err != nil {
		m.d.Log.Error("still-on-it DM not recorded", "incident_id", inc.ID, "err", err)
	}
	m.changed(ctx, inc.ID, fmt.Sprintf(":hourglass: No status update or activity on %s for %s; asked %s whether they are still on it.",
		inc.Key, human(m.checkEvery(inc)), m.mention(owner)))
	return nil
}

// answerCheck handles Confirm (handBack false) and Hand back on check seq.
func (m *Module) answerCheck(ctx context.Context, id int64, seq int, user string, handBack bool) (*Incident, error) {
	var inc *Incident
	err := m.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if inc, err = getIncident(ctx, tx, id, true); err != nil {
			return err
		}
		if inc.Status != StatusAcknowledged || inc.checkSeq != seq {
			return errorf(commands.Conflict, "This question about %s was answered already or no longer applies (it is %s).", inc.Key, inc.Status)
		}
		if user != inc.Owner && user != inc.AckedBy && !m.d.Config.IsAdmin(user) {
			return errorf(commands.Forbidden, "Only %s (incident commander) or an admin can answer this.", m.name(inc.Owner))
		}
		now := m.d.Now()
		if !handBack {
			if _, err := exec(ctx, tx, "confirm", `UPDATE incidents SET last_activity_at = $2, check_seq = $3 WHERE id = $1`, id, now, seq+1); err != nil {
				return err
			}
			if err := m.audit(ctx, tx, user, "incident.still_confirm", id, map[string]any{"seq": seq}); err != nil {
				return err
			}
			return m.scheduleCheck(ctx, tx, inc, seq+1, now)
		}
		state := escRunning
		if inc.Paging != PagingBot {
			state = escOff
		}
		if _, err := exec(ctx, tx, "hand back", `
			UPDATE incidents SET status = 'triggered', owner = '', acked_at = NULL, acked_by = '', acked_via = '',
				check_seq = $3, esc_round = esc_round + 1, esc_loop = 0, esc_step = 0, esc_due = $2, esc_state = $4,
				last_activity_at = $2
			WHERE id = $1`, id, now, seq+1, state); err != nil {
			return err
		}
		if err := m.audit(ctx, tx, user, "incident.hand_back", id, map[string]any{"seq": seq}); err != nil {
			return err
		}
		if state == escRunning {
			return m.insertAt(ctx, tx, stepArgs{IncidentID: id, Round: inc.Esc.Round + 1, At: m.schedAt(now)}, now)
		}
		return nil
	})
	if err != nil {
		return nil, m.notFound(id, err)
	}
	if handBack {
		m.changed(ctx, id, fmt.Sprintf(":leftwards_arrow_with_hook: %s handed %s back; the escalation starts again.", m.mention(user), inc.Key))
	} else {
		m.changed(ctx, id, fmt.Sprintf(":muscle: %s confirmed they are still on %s.", m.mention(user), inc.Key))
	}
	return m.Get(ctx, id)
}

// SetOwner makes owner the incident commander of id, as actor. Anyone may
// take command themselves; handing it to someone else takes the current
// commander or an admin (or nobody holding command yet).
func (m *Module) SetOwner(ctx context.Context, id int64, actor, owner string) (*Incident, error) {
	cfg := m.d.Config
	if !cfg.Known(actor) {
		return nil, errorf(commands.Forbidden, "Only people in the on-call configuration can change incident command.")
	}
	if !cfg.Known(owner) {
		return nil, errorf(commands.Invalid, "<@%s> is not in the on-call configuration, so cannot command an incident.", owner)
	}
	var prev string
	var inc *Incident
	err := m.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if inc, err = getIncident(ctx, tx, id, true); err != nil {
			return err
		}
		switch {
		case inc.Status == StatusResolved:
			return errorf(commands.Conflict, "%s is resolved; there is nothing to command.", inc.Key)
		case inc.Owner == owner:
			return errorf(commands.Conflict, "%s is already the incident commander of %s.", cfg.Name(owner), inc.Key)
		case actor != owner && inc.Owner != "" && actor != inc.Owner && !cfg.IsAdmin(actor):
			return errorf(commands.Forbidden, "Only %s (the incident commander of %s) or an admin can hand command to someone else.", cfg.Name(inc.Owner), inc.Key)
		}
		prev = inc.Owner
		if _, err := exec(ctx, tx, "set commander", `UPDATE incidents SET owner = $2, last_activity_at = $3 WHERE id = $1`, id, owner, m.d.Now()); err != nil {
			return err
		}
		return m.audit(ctx, tx, actor, "incident.commander", id, map[string]any{"from": prev, "to": owner})
	})
	if err != nil {
		return nil, m.notFound(id, err)
	}
	entry := fmt.Sprintf(":crown: %s is now incident commander", m.mention(owner))
	if prev != "" {
		entry += " (was " + m.name(prev) + ")"
	}
	if actor != owner {
		entry += ", set by " + m.mention(actor)
	}
	m.changed(ctx, id, entry+".", owner, prev)
	return m.Get(ctx, id)
}

// PostUpdate records a status update (and impact when given) as user and
// posts it in the thread; the first one meets the first_update target.
func (m *Module) PostUpdate(ctx context.Context, id int64, user, status, impact string) (*Incident, error) {
	if !m.d.Config.Known(user) {
		return nil, errorf(commands.Forbidden, "Only people in the on-call configuration can post incident updates.")
	}
	status, impact = strings.TrimSpace(printable(status)), strings.TrimSpace(printable(impact))
	if status == "" {
		return nil, errorf(commands.Invalid, "A status update needs some text.")
	}
	if utf8.RuneCountInString(status) > maxText || utf8.RuneCountInString(impact) > maxText {
		return nil, errorf(commands.Invalid, "Keep a status update and its impact under %d characters each.", maxText)
	}
	var inc *Incident
	err := m.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if inc, err = getIncident(ctx, tx, id, true); err != nil {
			return err
		}
		if inc.Status == StatusResolved {
			return errorf(commands.Conflict, "%s is resolved; use the thread for follow-ups.", inc.Key)
		}
		now := m.d.Now()
		if _, err := exec(ctx, tx, "post update", `
			UPDATE incidents SET latest_update = $2, impact = CASE WHEN $3 = '' THEN impact ELSE $3 END,
				first_update_at = COALESCE(first_update_at, $4), last_activity_at = $4
			WHERE id = $1`, id, status, impact, now); err != nil {
			return err
		}
		return m.audit(ctx, tx, user, "incident.update", id, nil)
	})
	if err != nil {
		return nil, m.notFound(id, err)
	}
	now := m.d.Now()
	var b strings.Builder
	fmt.Fprintf(&b, ":memo: *Status update* from %s", m.mention(user))
	if inc.FirstUpdateAt.IsZero() && !inc.Deadlines.FirstUpdate.IsZero() {
		fmt.Fprintf(&b, " (first update, %s)", targetText(inc.Deadlines.FirstUpdate, now))
	}
	fmt.Fprintf(&b, "\n%s", status)
	if impact != "" {
		fmt.Fprintf(&b, "\n*Impact:* %s", impact)
	}
	m.changed(ctx, id, b.String())
	return m.Get(ctx, id)
}

// SetNote sets (or with an empty text removes) a line shown on the parent,
// such as triage progress, and re-renders the parent.
func (m *Module) SetNote(ctx context.Context, id int64, key, text string) error {
	key, text = strings.TrimSpace(printable(key)), printable(text)
	if key == "" {
		return fmt.Errorf("set note of %s: empty key", KeyOf(id))
	}
	_, err := exec(ctx, m.d.DB.Pool, "set note", `
		UPDATE incidents SET notes = CASE WHEN $3 = '' THEN notes - $2 ELSE jsonb_set(notes, ARRAY[$2], to_jsonb($3::text)) END,
			last_activity_at = $4
		WHERE id = $1`, id, key, clipRunes(strings.TrimSpace(text), 500), m.d.Now())
	if err != nil {
		return err
	}
	m.refresh(ctx, id)
	return nil
}

// Thread posts msg as a timeline entry in the incident's thread; it counts
// as activity for the "still on it?" check.
func (m *Module) Thread(ctx context.Context, id int64, msg commands.Message) error {
	if err := m.post(ctx, id, msg); err != nil {
		return err
	}
	_, err := exec(ctx, m.d.DB.Pool, "touch incident", `UPDATE incidents SET last_activity_at = $2 WHERE id = $1`, id, m.d.Now())
	return err
}

// post adds a timeline entry without counting it as activity (the bot's
// own entries: pages, reminders, questions).
func (m *Module) post(ctx context.Context, id int64, msg commands.Message) error {
	inc, err := m.Get(ctx, id)
	if err != nil {
		return err
	}
	if inc, err = m.ensureParentOf(ctx, inc); err != nil {
		return err
	}
	return m.reply(ctx, inc, msg)
}

// reply posts msg in the thread of inc's parent.
func (m *Module) reply(ctx context.Context, inc *Incident, msg commands.Message) error {
	if !inc.hasParent() {
		return fmt.Errorf("thread of %s: the parent message is not posted yet", inc.Key)
	}
	if _, err := m.d.Slack.Reply(ctx, inc.Channel, inc.TS, msg); err != nil {
		return fmt.Errorf("reply in thread of %s: %w", inc.Key, err)
	}
	return nil
}

// human formats a duration for people: 45s, 12m, 1h 5m, 2d 3h.
func human(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 24*time.Hour:
		h, mm := int(d.Hours()), int(d.Minutes())%60
		if mm == 0 {
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh %dm", h, mm)
	}
	days, h := int(d.Hours())/24, int(d.Hours())%24
	if h == 0 {
		return fmt.Sprintf("%dd", days)
	}
	return fmt.Sprintf("%dd %dh", days, h)
}

func clipRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}
