package pagerduty

import (
	"context"
	"errors"
	"fmt"
	"strings"

	pd "github.com/PagerDuty/go-pagerduty"
)

// Incident is a PagerDuty incident as the bot needs it.
type Incident struct {
	ID          string
	Number      uint
	Title       string
	Status      string // triggered, acknowledged, resolved
	IncidentKey string
	HTMLURL     string
	Urgency     string // high, low
	Priority    string // the priority's name ("P1"), "" when none
}

// NewIncident describes an incident to raise in PagerDuty.
type NewIncident struct {
	Title string
	// ServiceID is required by PagerDuty; EscalationPolicyID is optional.
	ServiceID          string
	EscalationPolicyID string
	Urgency            string // high or low; "" leaves the service's default
	// IncidentKey de-duplicates: PagerDuty refuses a second open incident with the same key.
	IncidentKey string
	Details     string
}

// ErrAlreadyResolved is returned (wrapped) when PagerDuty refuses a change
// because the incident is already resolved (error code 1001).
var ErrAlreadyResolved = errors.New("pagerduty incident already resolved")

// codeIncidentAlreadyResolved is PagerDuty's error code 1001.
const codeIncidentAlreadyResolved = 1001

func incidentOf(i *pd.Incident) Incident {
	out := Incident{
		ID: i.ID, Number: i.IncidentNumber, Title: i.Title, Status: i.Status,
		IncidentKey: i.IncidentKey, HTMLURL: i.HTMLURL, Urgency: i.Urgency,
	}
	if i.Priority != nil {
		out.Priority = i.Priority.Summary
		if out.Priority == "" {
			out.Priority = i.Priority.Name
		}
	}
	return out
}

// mapIncidentErr turns PagerDuty's "already resolved" answer into ErrAlreadyResolved.
func mapIncidentErr(what string, err error) error {
	var apiErr pd.APIError
	if errors.As(err, &apiErr) && apiErr.APIError.Valid && apiErr.APIError.ErrorObject.Code == codeIncidentAlreadyResolved {
		return fmt.Errorf("%s: %w", what, ErrAlreadyResolved)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// setStatus changes one incident's status as the user with email from
// (PagerDuty requires a From header naming a valid user on every write).
func (c *Client) setStatus(ctx context.Context, id, from, status string) error {
	id, from = strings.TrimSpace(id), strings.TrimSpace(from)
	if id == "" {
		return fmt.Errorf("%s pagerduty incident: no incident id", status)
	}
	if from == "" {
		return fmt.Errorf("%s pagerduty incident %s: no From email", status, id)
	}
	_, err := c.pd.ManageIncidentsWithContext(ctx, from, []pd.ManageIncidentsOptions{{ID: id, Type: "incident", Status: status}})
	if err != nil {
		return mapIncidentErr(fmt.Sprintf("mark pagerduty incident %s %s", id, status), err)
	}
	return nil
}

// AcknowledgeIncident acknowledges incident id as the PagerDuty user whose
// email is from.
func (c *Client) AcknowledgeIncident(ctx context.Context, id, from string) error {
	return c.setStatus(ctx, id, from, "acknowledged")
}

// ResolveIncident resolves incident id as the PagerDuty user whose email is from.
func (c *Client) ResolveIncident(ctx context.Context, id, from string) error {
	return c.setStatus(ctx, id, from, "resolved")
}

// GetIncident returns incident id.
func (c *Client) GetIncident(ctx context.Context, id string) (Incident, error) {
	i, err := c.pd.GetIncidentWithContext(ctx, id)
	if err != nil {
		return Incident{}, fmt.Errorf("get pagerduty incident %s: %w", id, err)
	}
	return incidentOf(i), nil
}

// CreateIncident raises an incident in PagerDuty as the user whose email is
// from; PagerDuty then pages through the service's escalation policy.
func (c *Client) CreateIncident(ctx context.Context, from string, n NewIncident) (Incident, error) {
	if strings.TrimSpace(n.ServiceID) == "" {
		return Incident{}, errors.New("create pagerduty incident: no service")
	}
	if strings.TrimSpace(from) == "" {
		return Incident{}, errors.New("create pagerduty incident: no From email")
	}
	o := &pd.CreateIncidentOptions{
		Title:       n.Title,
		Service:     &pd.APIReference{ID: n.ServiceID, Type: "service_reference"},
		Urgency:     n.Urgency,
		IncidentKey: n.IncidentKey,
	}
	if n.EscalationPolicyID != "" {
		o.EscalationPolicy = &pd.APIReference{ID: n.EscalationPolicyID, Type: "escalation_policy_reference"}
	}
	if n.Details != "" {
		o.Body = &pd.APIDetails{Type: "incident_body", Details: n.Details}
	}
	i, err := c.pd.CreateIncidentWithContext(ctx, from, o)
	if err != nil {
		return Incident{}, fmt.Errorf("create pagerduty incident: %w", err)
	}
	return incidentOf(i), nil
}

// PolicyServices returns the IDs of the services that use escalation policy id.
func (c *Client) PolicyServices(ctx context.Context, id string) ([]string, error) {
	p, err := c.pd.GetEscalationPolicyWithContext(ctx, id, &pd.GetEscalationPolicyOptions{})
	if err != nil {
		return nil, fmt.Errorf("get pagerduty escalation policy %s: %w", id, err)
	}
	out := make([]string, 0, len(p.Services))
	for _, s := range p.Services {
		if s.ID != "" {
			out = append(out, s.ID)
		}
	}
	return out, nil
}
