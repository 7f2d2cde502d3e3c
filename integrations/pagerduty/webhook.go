package pagerduty

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/PagerDuty/go-pagerduty/webhookv3"
)

// SignatureHeader carries a v3 webhook's signatures: v1=<hex>[,v1=<hex>…].
const SignatureHeader = "X-PagerDuty-Signature"

// Webhook verification errors; test with errors.Is.
var (
	// ErrBadSignature means no signature matched the secret (answer 403).
	ErrBadSignature = errors.New("pagerduty webhook: no valid signature")
	// ErrMalformed means a missing or malformed signature header or an
	// empty or undecodable body (answer 400).
	ErrMalformed = errors.New("pagerduty webhook: malformed request")
)

// VerifyWebhook checks the request's X-PagerDuty-Signature against secret
// over the raw body and leaves r.Body readable again. Spaces around the
// comma-separated signatures are trimmed first: go-pagerduty v1.8.0 splits
// on "," without trimming, so "v1=a, v1=b" would fail on the second
// signature during a secret rotation (reference/integrations.md §0.8).
// Wrap r.Body in http.MaxBytesReader first to bound it; the size error comes
// back wrapped (test with errors.As and *http.MaxBytesError).
func VerifyWebhook(r *http.Request, secret string) error {
	if secret == "" {
		return fmt.Errorf("%w: no secret configured", ErrBadSignature)
	}
	parts := strings.Split(r.Header.Get(SignatureHeader), ",")
	kept := parts[:0]
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			kept = append(kept, p)
		}
	}
	r.Header.Set(SignatureHeader, strings.Join(kept, ","))
	err := webhookv3.VerifySignature(r, secret)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, webhookv3.ErrNoValidSignatures):
		return ErrBadSignature
	case errors.Is(err, webhookv3.ErrMalformedHeader), errors.Is(err, webhookv3.ErrMalformedBody):
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return fmt.Errorf("read pagerduty webhook: %w", err)
}

// WebhookEvent is one v3 webhook event. The incident fields are filled for
// resource_type "incident" (incident.triggered, .acknowledged, .resolved, …).
type WebhookEvent struct {
	ID           string
	Type         string // incident.triggered, incident.acknowledged, incident.resolved, …
	ResourceType string
	OccurredAt   time.Time
	// AgentID is the PagerDuty user who acted ("" for automation).
	AgentID      string
	AgentSummary string
	Incident     Incident
	// AssigneeIDs are the PagerDuty user IDs the incident is assigned to.
	AssigneeIDs []string
}

type webhookRef struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Summary string `json:"summary"`
}

type webhookBody struct {
	Event *struct {
		ID           string      `json:"id"`
		EventType    string      `json:"event_type"`
		ResourceType string      `json:"resource_type"`
		OccurredAt   time.Time   `json:"occurred_at"`
		Agent        *webhookRef `json:"agent"`
		Data         *struct {
			ID          string       `json:"id"`
			Type        string       `json:"type"`
			Number      uint         `json:"number"`
			Status      string       `json:"status"`
			Title       string       `json:"title"`
			IncidentKey string       `json:"incident_key"`
			HTMLURL     string       `json:"html_url"`
			Urgency     string       `json:"urgency"`
			Priority    *webhookRef  `json:"priority"`
			Assignees   []webhookRef `json:"assignees"`
		} `json:"data"`
	} `json:"event"`
}

// ParseWebhook decodes a v3 webhook body. A body that is not JSON or has no
// event is ErrMalformed.
func ParseWebhook(body []byte) (WebhookEvent, error) {
	var b webhookBody
	if err := json.Unmarshal(body, &b); err != nil {
		return WebhookEvent{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if b.Event == nil || b.Event.EventType == "" {
		return WebhookEvent{}, fmt.Errorf("%w: no event", ErrMalformed)
	}
	e := b.Event
	out := WebhookEvent{ID: e.ID, Type: e.EventType, ResourceType: e.ResourceType, OccurredAt: e.OccurredAt}
	if e.Agent != nil {
		out.AgentID, out.AgentSummary = e.Agent.ID, e.Agent.Summary
	}
	if d := e.Data; d != nil && d.Type == "incident" {
		out.Incident = Incident{
			ID: d.ID, Number: d.Number, Title: d.Title, Status: d.Status,
			IncidentKey: d.IncidentKey, HTMLURL: d.HTMLURL, Urgency: d.Urgency,
		}
		if d.Priority != nil {
			out.Incident.Priority = d.Priority.Summary
		}
		for _, a := range d.Assignees {
			if a.ID != "" {
				out.AssigneeIDs = append(out.AssigneeIDs, a.ID)
			}
		}
	}
	return out, nil
}
