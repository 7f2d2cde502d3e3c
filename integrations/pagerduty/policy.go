package pagerduty

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	pd "github.com/PagerDuty/go-pagerduty"
)

// Escalation target types.
const (
	TargetSchedule = "schedule"
	TargetUser     = "user"
)

// EscalationPolicy is the part of a PagerDuty escalation policy the bot
// manages as code: its rules and how often it repeats.
type EscalationPolicy struct {
	ID, Name string
	Rules    []EscalationRule
	// NumLoops is how many times the policy repeats after its last rule.
	NumLoops int
}

// EscalationRule is one step: its targets are notified together, and the
// next rule runs after DelayMinutes without an acknowledgement.
type EscalationRule struct {
	DelayMinutes int
	Targets      []EscalationTarget
}

// EscalationTarget is a schedule or a user to notify.
type EscalationTarget struct {
	Type string // TargetSchedule or TargetUser
	ID   string
}

// escalationTargetType maps PagerDuty's reference types to ours.
func escalationTargetType(t string) string {
	switch strings.TrimSuffix(t, "_reference") {
	case "schedule":
		return TargetSchedule
	case "user":
		return TargetUser
	}
	return t
}

// EscalationPolicy reads escalation policy id.
func (c *Client) EscalationPolicy(ctx context.Context, id string) (EscalationPolicy, error) {
	_, p, err := c.getPolicy(ctx, id)
	return p, err
}

func (c *Client) getPolicy(ctx context.Context, id string) (rawObject, EscalationPolicy, error) {
	if err := checkObjectID(id); err != nil {
		return nil, EscalationPolicy{}, fmt.Errorf("read escalation policy: %w", err)
	}
	var doc struct {
		Policy rawObject `json:"escalation_policy"`
	}
	if err := c.rawJSON(ctx, http.MethodGet, "/escalation_policies/"+id, nil, nil, &doc); err != nil {
		return nil, EscalationPolicy{}, fmt.Errorf("read escalation policy %s: %w", id, err)
	}
	if doc.Policy == nil {
		return nil, EscalationPolicy{}, fmt.Errorf("read escalation policy %s: the answer has no escalation_policy", id)
	}
	raw, _ := json.Marshal(doc.Policy)
	var typed pd.EscalationPolicy
	if err := json.Unmarshal(raw, &typed); err != nil {
		return nil, EscalationPolicy{}, fmt.Errorf("decode escalation policy %s: %w", id, err)
	}
	p := EscalationPolicy{ID: typed.ID, Name: typed.Name, NumLoops: int(typed.NumLoops)}
	if p.ID == "" {
		p.ID = id
	}
	for _, r := range typed.EscalationRules {
		rule := EscalationRule{DelayMinutes: int(r.Delay)}
		for _, t := range r.Targets {
			rule.Targets = append(rule.Targets, EscalationTarget{Type: escalationTargetType(t.Type), ID: t.ID})
		}
		p.Rules = append(p.Rules, rule)
	}
	return doc.Policy, p, nil
}

// UpdateEscalationPolicy makes policy id's rules and num_loops equal to
// rules and numLoops and changes nothing else: it reads the policy, replaces
// those two fields in the object as PagerDuty sent it (teams, services,
// name, description, handoff notifications and every field go-pagerduty does
// not model are sent back as they were; rules that stay keep their IDs and
// extra fields) and PUTs it back.
func (c *Client) UpdateEscalationPolicy(ctx context.Context, id string, rules []EscalationRule, numLoops int) error {
	if numLoops < 0 {
		return fmt.Errorf("update escalation policy %s: num_loops %d is negative", id, numLoops)
	}
	if len(rules) == 0 {
		return fmt.Errorf("update escalation policy %s: a policy needs at least one rule", id)
	}
	obj, _, err := c.getPolicy(ctx, id)
	if err != nil {
		return err
	}
	var oldRules []rawObject
	if raw, ok := obj["escalation_rules"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &oldRules); err != nil {
			return fmt.Errorf("decode escalation rules of %s: %w", id, err)
		}
	}
	newRules := make([]rawObject, len(rules))
	for i, r := range rules {
		if r.DelayMinutes < 0 {
			return fmt.Errorf("update escalation policy %s: rule %d has a negative delay", id, i+1)
		}
		if len(r.Targets) == 0 {
			return fmt.Errorf("update escalation policy %s: rule %d has no targets", id, i+1)
		}
		rule := rawObject{}
		if i < len(oldRules) {
			for k, v := range oldRules[i] {
				rule[k] = v
			}
		}
		targets := make([]map[string]string, len(r.Targets))
		for j, t := range r.Targets {
			if t.Type != TargetSchedule && t.Type != TargetUser {
				return fmt.Errorf("update escalation policy %s: rule %d: target type %q is not schedule or user", id, i+1, t.Type)
			}
			targets[j] = map[string]string{"id": t.ID, "type": t.Type + "_reference"}
		}
		rule["targets"] = mustRaw(targets)
		rule["escalation_delay_in_minutes"] = mustRaw(r.DelayMinutes)
		newRules[i] = rule
	}
	obj["escalation_rules"] = mustRaw(newRules)
	obj["num_loops"] = mustRaw(numLoops)
	if _, ok := obj["type"]; !ok {
		obj["type"] = mustRaw("escalation_policy")
	}
	body := map[string]rawObject{"escalation_policy": obj}
	if err := c.rawJSON(ctx, http.MethodPut, "/escalation_policies/"+id, nil, body, nil); err != nil {
		return fmt.Errorf("update escalation policy %s: %w", id, err)
	}
	return nil
}

// mustRaw encodes values that always encode (strings, numbers, maps of them).
func mustRaw(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("pagerduty: encode %T: %v", v, err))
	}
	return b
}

// checkObjectID refuses IDs that could change the request path.
func checkObjectID(id string) error {
	switch {
	case id == "":
		return errors.New("no ID given")
	case len(id) > 64 || strings.ContainsAny(id, "/?#%\\ \t\r\n") || url.PathEscape(id) != id:
		return fmt.Errorf("%q is not a PagerDuty ID", id)
	}
	return nil
}
