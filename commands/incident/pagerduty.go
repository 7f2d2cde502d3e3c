package incident

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/contextinject/oncallbot/commands"
	"github.com/contextinject/oncallbot/commands/config"
	"github.com/contextinject/oncallbot/integrations/pagerduty"
	"github.com/contextinject/oncallbot/store"
)

// PagerDuty mirror actions.
const (
	pdCreate      = "create"
	pdAcknowledge = "acknowledge"
	pdResolve     = "resolve"
)

// pdKeyPrefix prefixes the PagerDuty incident_key of incidents the bot
// raises, so their incident.triggered webhook finds them.
const pdKeyPrefix = "oncallbot-"

// maxBody bounds webhook bodies (SPEC §11).
const maxBody = 1 << 20

func (m *Module) insertPagerDuty(ctx context.Context, tx pgx.Tx, a pagerdutyArgs) error {
	_, err := m.d.Jobs.InsertTx(ctx, tx, a, &river.InsertOpts{Queue: Queue, UniqueOpts: uniqueByArgs, MaxAttempts: pagerdutyAttempts})
	if err != nil {
		return fmt.Errorf("schedule pagerduty %s: %w", a.Action, err)
	}
	return nil
}

// emailOf is the PagerDuty From address of a person ("" when unknown).
func (m *Module) emailOf(user string) string {
	if p, ok := m.d.Config.Person(user); ok {
		return p.Email
	}
	return ""
}

// mirrorToPagerDuty carries a Slack-side change to PagerDuty. A failure is
// retried by River; on the last attempt it is reported in the thread.
func (m *Module) mirrorToPagerDuty(ctx context.Context, a pagerdutyArgs, last bool) error {
	pd := m.o.PagerDuty
	if pd == nil {
		return nil
	}
	inc, err := m.Get(ctx, a.IncidentID)
	if err != nil {
		return err
	}
	if a.Action == pdCreate {
		return m.raiseInPagerDuty(ctx, inc, a.User, last)
	}
	if inc.PagerDutyID == "" {
		if inc.Paging == PagingPagerDuty && inc.Source != SourcePagerDuty && !last {
			return fmt.Errorf("%s is not raised in PagerDuty yet", inc.Key)
		}
		return nil
	}
	from := m.emailOf(a.User)
	if from == "" {
		m.changed(ctx, inc.ID, fmt.Sprintf(":warning: %s has no email in the configuration, so PagerDuty incident %s was not changed; %s it in PagerDuty.", m.name(a.User), inc.PagerDutyID, a.Action))
		return nil
	}
	if a.Action == pdAcknowledge {
		err = pd.AcknowledgeIncident(ctx, inc.PagerDutyID, from)
	} else {
		err = pd.ResolveIncident(ctx, inc.PagerDutyID, from)
	}
	switch {
	case err == nil, errors.Is(err, pagerduty.ErrAlreadyResolved):
		return nil
	case !last:
		return err
	}
	m.d.Log.Error("pagerduty mirror failed", "incident_id", inc.ID, "action", a.Action, "err", err)
	m.changed(ctx, inc.ID, fmt.Sprintf(":warning: PagerDuty did not accept the %s of incident %s as %s; please %s it in PagerDuty.", a.Action, inc.PagerDutyID, m.name(a.User), a.Action))
	return nil
}

// raiseInPagerDuty creates the PagerDuty incident of an incident declared in
// Slack so that PagerDuty pages; when it cannot, the bot pages itself.
func (m *Module) raiseInPagerDuty(ctx context.Context, inc *Incident, user string, last bool) error {
	if inc.PagerDutyID != "" || !inc.IsOpen() {
		return nil
	}
	policy := m.d.Config.Escalation.PagerDutyPolicy
	if policy == "" {
		return m.pageOurselves(ctx, inc.ID, "no escalation.pagerduty_policy is configured")
	}
	from := m.emailOf(user)
	if from == "" {
		for _, id := range m.recipients(ctx, []string{config.WordPrimary}, m.d.Now()) {
			from = m.emailOf(id)
		}
	}
	if from == "" {
		return m.pageOurselves(ctx, inc.ID, "nobody with an email address could raise it")
	}
	services, err := m.o.PagerDuty.PolicyServices(ctx, policy)
	if err == nil && len(services) == 0 {
		return m.pageOurselves(ctx, inc.ID, "the PagerDuty escalation policy has no service")
	}
	var created pagerduty.Incident
	if err == nil {
		urgency := "low"
		if inc.Severity == "P1" || inc.Severity == "P2" {
			urgency = "high"
		}
		created, err = m.o.PagerDuty.CreateIncident(ctx, from, pagerduty.NewIncident{
			Title: fmt.Sprintf("%s %s: %s", inc.Key, inc.Severity, inc.Title), ServiceID: services[0],
			EscalationPolicyID: policy, Urgency: urgency, IncidentKey: pdKeyPrefix + inc.Key,
		})
	}
	if err != nil {
		if !last {
			return err
		}
		m.d.Log.Error("pagerduty incident not created", "incident_id", inc.ID, "err", err)
		return m.pageOurselves(ctx, inc.ID, "PagerDuty did not accept the incident")
	}
	if _, err := exec(ctx, m.d.DB.Pool, "link pagerduty", `UPDATE incidents SET pd_id = $2 WHERE id = $1 AND pd_id = ''`, inc.ID, created.ID); err != nil {
		return err
	}
	link := "#" + strconv.FormatUint(uint64(created.Number), 10)
	if created.HTMLURL != "" {
		link = "<" + created.HTMLURL + "|" + link + ">"
	}
	m.changed(ctx, inc.ID, fmt.Sprintf(":pager: Raised in PagerDuty as %s; PagerDuty pages the on-call chain.", link))
	return nil
}

// pageOurselves switches an incident to the bot's own paging chain.
func (m *Module) pageOurselves(ctx context.Context, id int64, why string) error {
	now := m.d.Now()
	err := m.inTx(ctx, func(tx pgx.Tx) error {
		inc, err := getIncident(ctx, tx, id, true)
		if err != nil || inc.Paging == PagingBot {
			return err
		}
		state, due := escStopped, time.Time{}
		if inc.Status == StatusTriggered {
			state, due = escRunning, now
		}
		if _, err := exec(ctx, tx, "page ourselves", `UPDATE incidents SET paging = 'bot', esc_state = $2, esc_due = $3 WHERE id = $1`,
			id, state, ptr(due)); err != nil {
			return err
		}
		if err := m.audit(ctx, tx, actorSystem, "incident.paging", id, map[string]any{"paging": PagingBot, "why": why}); err != nil {
			return err
		}
		if state == escRunning {
			return m.insertAt(ctx, tx, stepArgs{IncidentID: id, Round: inc.Esc.Round, Loop: inc.Esc.Loop, Step: inc.Esc.Step, At: m.schedAt(now)}, now)
		}
		return nil
	})
	if err != nil {
		return err
	}
	m.changed(ctx, id, fmt.Sprintf(":warning: Not raised in PagerDuty (%s); the bot pages the escalation chain instead.", why))
	return nil
}

// pagerdutyWebhook serves POST /webhooks/pagerduty (v3): a verified
// incident.triggered opens (or finds) the incident, .acknowledged and
// .resolved mirror PagerDuty's state without calling it back.
func (m *Module) pagerdutyWebhook(w http.ResponseWriter, r *http.Request) {
	log := m.d.Log.With("webhook", "pagerduty")
	if m.o.PagerDutySecret == "" {
		http.NotFound(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := pagerduty.VerifyWebhook(r, m.o.PagerDutySecret); err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			log.Warn("webhook refused: body too large")
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		case errors.Is(err, pagerduty.ErrBadSignature):
			log.Warn("webhook refused: bad signature")
			http.Error(w, "invalid signature", http.StatusForbidden)
		case errors.Is(err, pagerduty.ErrMalformed):
			log.Warn("webhook refused: malformed signature header or body")
			http.Error(w, "malformed request", http.StatusBadRequest)
		default:
			log.Warn("webhook refused: body not readable")
			http.Error(w, "body not readable", http.StatusBadRequest)
		}
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "body not readable", http.StatusBadRequest)
		return
	}
	ev, err := pagerduty.ParseWebhook(body)
	if err != nil {
		log.Warn("webhook refused: bad JSON")
		http.Error(w, "bad JSON", http.StatusBadRequest)
		return
	}
	log = log.With("event_type", ev.Type, "webhook_id", r.Header.Get("X-Webhook-Id"))
	if err := m.onPagerDuty(r.Context(), ev); err != nil {
		log.Error("pagerduty webhook not processed", "err", err)
		http.Error(w, "try again", http.StatusServiceUnavailable)
		return
	}
	log.Info("pagerduty webhook processed")
	w.WriteHeader(http.StatusNoContent)
}

// pdSeverity maps a PagerDuty incident to a configured severity: its
// priority when named like one, else high urgency P2, else P3.
func (m *Module) pdSeverity(in pagerduty.Incident) string {
	if _, ok := m.d.Config.Severity(in.Priority); ok && in.Priority != "" {
		return strings.ToUpper(in.Priority)
	}
	want := "P3"
	if in.Urgency == "high" {
		want = "P2"
	}
	return m.fallbackSeverity(want)
}

// fallbackSeverity returns want when configured, else the least severe one.
func (m *Module) fallbackSeverity(want string) string {
	if _, ok := m.d.Config.Severity(want); ok {
		return want
	}
	names := m.d.Config.SeverityNames()
	if len(names) == 0 {
		return want
	}
	return names[len(names)-1]
}

// onPagerDuty applies one PagerDuty event.
func (m *Module) onPagerDuty(ctx context.Context, ev pagerduty.WebhookEvent) error {
	pdi := ev.Incident
	if ev.ResourceType != "incident" || pdi.ID == "" {
		return nil
	}
	switch ev.Type {
	case "incident.triggered", "incident.acknowledged", "incident.resolved", "incident.escalated", "incident.reassigned", "incident.unacknowledged":
	default:
		return nil
	}
	var own int64
	if k, ok := strings.CutPrefix(pdi.IncidentKey, pdKeyPrefix); ok {
		own, _ = ParseKey(k)
	}
	inc, err := byPagerDuty(ctx, m.d.DB.Pool, pdi.ID, own)
	if errors.Is(err, store.ErrNotFound) {
		if ev.Type == "incident.resolved" {
			return nil // never seen open; nothing to mirror
		}
		title := escape(pdi.Title)
		if strings.TrimSpace(title) == "" {
			title = fmt.Sprintf("PagerDuty incident #%d", pdi.Number)
		}
		note := "Triggered in PagerDuty"
		if pdi.HTMLURL != "" {
			note = fmt.Sprintf("Triggered in PagerDuty: <%s|#%d>", pdi.HTMLURL, pdi.Number)
		}
		inc, _, err = m.open(ctx, OpenRequest{
			Severity: m.pdSeverity(pdi), Title: clipRunes(title, maxTitle), Source: SourcePagerDuty, SourceRef: pdi.ID,
			OpenedBy: SourcePagerDuty, PagerDutyID: pdi.ID, Note: note,
		})
	}
	if err != nil {
		if _, ok := commands.UserMessage(err); ok && inc != nil {
			err = nil // opened; only its Slack message failed, which is retried
		} else {
			return err
		}
	}
	if inc.PagerDutyID == "" {
		if _, err := exec(ctx, m.d.DB.Pool, "link pagerduty", `UPDATE incidents SET pd_id = $2 WHERE id = $1 AND pd_id = ''`, inc.ID, pdi.ID); err != nil {
			return err
		}
	}
	user := SourcePagerDuty
	if p, ok := m.d.Config.PersonByPagerDutyID(ev.AgentID); ok {
		user = p.SlackID
	}
	switch ev.Type {
	case "incident.acknowledged":
		_, err = m.Acknowledge(ctx, inc.ID, user, SourcePagerDuty)
	case "incident.resolved":
		_, err = m.resolve(ctx, inc.ID, user, "", "Resolved in PagerDuty.", SourcePagerDuty)
	case "incident.escalated", "incident.reassigned":
		var names []string
		for _, a := range ev.AssigneeIDs {
			if p, ok := m.d.Config.PersonByPagerDutyID(a); ok {
				names = append(names, p.SlackID)
			}
		}
		if len(names) > 0 {
			if _, err := exec(ctx, m.d.DB.Pool, "record pagerduty assignees", `
				UPDATE incidents SET paged = paged || ARRAY(SELECT unnest($2::text[]) EXCEPT SELECT unnest(paged)) WHERE id = $1`,
				inc.ID, names); err != nil {
				return err
			}
			m.changed(ctx, inc.ID, fmt.Sprintf(":pager: PagerDuty %s it to %s.", strings.TrimPrefix(ev.Type, "incident."), m.mentions(names)), names...)
		}
	case "incident.unacknowledged":
		m.changed(ctx, inc.ID, ":pager: PagerDuty: the acknowledgement timed out; PagerDuty is paging again.")
	}
	if _, ok := commands.UserMessage(err); ok {
		return nil // already in that state: a repeat or our own change coming back
	}
	return err
}
