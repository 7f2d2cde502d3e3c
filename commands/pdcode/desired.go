// Package pdcode keeps PagerDuty as code: the configuration's escalation
// chain and rotation are the source of truth for the PagerDuty escalation
// policy (escalation.pagerduty_policy) and schedules (rotation.pagerduty).
//
// Desired turns the configuration into what PagerDuty should hold; Compare
// says, in plain words, how PagerDuty differs (pure, no I/O); Check reads
// PagerDuty and compares; Apply makes PagerDuty match, changing only the
// compared fields; Drift checks at start and daily and reports each new
// difference once in #monitoring and in /readyz details.
package pdcode

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/contextinject/oncallbot/commands/config"
	"github.com/contextinject/oncallbot/integrations/pagerduty"
)

// Roles of the mirrored schedules.
const (
	RolePrimary   = "primary"
	RoleSecondary = "secondary"
)

// ErrNotConfigured is returned when the configuration names no PagerDuty
// policy and no schedules.
var ErrNotConfigured = errors.New("the configuration names no PagerDuty escalation policy (escalation.pagerduty_policy) and no schedules (rotation.pagerduty)")

// Desired is what PagerDuty should hold according to the configuration.
type Desired struct {
	// Policy is nil when escalation.pagerduty_policy is not set.
	Policy    *DesiredPolicy
	Schedules []DesiredSchedule
	// Names label PagerDuty IDs in messages: user ID → person's name,
	// schedule ID → "primary" / "secondary".
	Names map[string]string
}

// DesiredPolicy is the escalation policy the configuration describes.
type DesiredPolicy struct {
	ID       string
	Rules    []pagerduty.EscalationRule
	NumLoops int
	// Loops is escalation.loops as configured (NumLoops + 1).
	Loops int
}

// DesiredSchedule is one schedule's rotation layer.
type DesiredSchedule struct {
	Role    string // RolePrimary or RoleSecondary
	ID      string
	Members []string // PagerDuty user IDs in rotation order
	Start   time.Time
	Turn    time.Duration
}

// UserFinder finds a PagerDuty user by email; *pagerduty.Client implements it.
type UserFinder interface {
	UserByEmail(ctx context.Context, email string) (pagerduty.User, error)
}

// resolver maps people of the configuration to PagerDuty user IDs.
type resolver struct {
	cfg   *config.Config
	users UserFinder
	cache map[string]string
	names map[string]string
}

// userID returns the PagerDuty ID of Slack user id: pagerduty_id when set,
// else the PagerDuty user with the person's email.
func (r *resolver) userID(ctx context.Context, key, id string) (string, error) {
	if v, ok := r.cache[id]; ok {
		return v, nil
	}
	p, ok := r.cfg.Person(id)
	if !ok {
		return "", fmt.Errorf("%s: %s is not a person of the configuration", key, id)
	}
	pdID := p.PagerDutyID
	if pdID == "" {
		if p.Email == "" {
			return "", fmt.Errorf("%s: %s has neither pagerduty_id nor email, so PagerDuty cannot be matched", key, p.Name)
		}
		if r.users == nil {
			return "", fmt.Errorf("%s: %s has no pagerduty_id and PagerDuty users cannot be looked up", key, p.Name)
		}
		u, err := r.users.UserByEmail(ctx, p.Email)
		if err != nil {
			return "", fmt.Errorf("%s: find the PagerDuty user of %s by email: %w", key, p.Name, err)
		}
		pdID = u.ID
	}
	r.cache[id] = pdID
	r.names[pdID] = p.Name
	return pdID, nil
}

// Resolve returns what PagerDuty should hold according to cfg, finding
// people without pagerduty_id by email through users.
func Resolve(ctx context.Context, cfg *config.Config, users UserFinder) (Desired, error) {
	pdRot := cfg.Rotation.PagerDuty
	if cfg.Escalation.PagerDutyPolicy == "" && (pdRot == nil || (pdRot.PrimarySchedule == "" && pdRot.SecondarySchedule == "")) {
		return Desired{}, ErrNotConfigured
	}
	r := &resolver{cfg: cfg, users: users, cache: map[string]string{}, names: map[string]string{}}
	d := Desired{Names: r.names}
	for _, p := range cfg.People {
		if p.PagerDutyID != "" {
			r.names[p.PagerDutyID] = p.Name
		}
	}
	schedule := func(role string) string {
		if pdRot == nil {
			return ""
		}
		if role == RolePrimary {
			return pdRot.PrimarySchedule
		}
		return pdRot.SecondarySchedule
	}

	if id := cfg.Escalation.PagerDutyPolicy; id != "" {
		p := &DesiredPolicy{ID: id, Loops: cfg.Escalation.Loops, NumLoops: cfg.Escalation.Loops - 1}
		if p.NumLoops < 0 {
			p.NumLoops = 0
		}
		for i, step := range cfg.Escalation.Steps {
			key := fmt.Sprintf("escalation.steps[%d]", i)
			after := step.After.D()
			if after < 0 || after%time.Minute != 0 {
				return Desired{}, fmt.Errorf("%s.after: %s is not a whole number of minutes, which PagerDuty needs", key, step.After)
			}
			rule := pagerduty.EscalationRule{DelayMinutes: int(after / time.Minute)}
			add := func(t pagerduty.EscalationTarget) {
				if !slices.Contains(rule.Targets, t) {
					rule.Targets = append(rule.Targets, t)
				}
			}
			for _, word := range step.Notify {
				switch word {
				case config.WordPrimary, config.WordSecondary:
					sid := schedule(word)
					if sid == "" {
						return Desired{}, fmt.Errorf("%s.notify: %s needs rotation.pagerduty.%s_schedule, the PagerDuty schedule of the %s on call", key, word, word, word)
					}
					add(pagerduty.EscalationTarget{Type: pagerduty.TargetSchedule, ID: sid})
				default:
					ids := cfg.Recipients([]string{word}, "", "")
					if len(ids) == 0 {
						return Desired{}, fmt.Errorf("%s.notify: %s names nobody in the configuration", key, word)
					}
					for _, sid := range ids {
						uid, err := r.userID(ctx, key+".notify", sid)
						if err != nil {
							return Desired{}, err
						}
						add(pagerduty.EscalationTarget{Type: pagerduty.TargetUser, ID: uid})
					}
				}
			}
			if len(rule.Targets) > 10 {
				return Desired{}, fmt.Errorf("%s.notify: %d targets, but PagerDuty allows at most 10 per rule", key, len(rule.Targets))
			}
			p.Rules = append(p.Rules, rule)
		}
		d.Policy = p
	}

	if pdRot != nil {
		rot := cfg.Rotation
		if rot.Length.D() < time.Second || rot.Length.D()%time.Second != 0 {
			return Desired{}, fmt.Errorf("rotation.length: %s is not a whole number of seconds, which PagerDuty needs", rot.Length)
		}
		members := make([]string, len(rot.Pool))
		for i, sid := range rot.Pool {
			uid, err := r.userID(ctx, fmt.Sprintf("rotation.pool[%d]", i), sid)
			if err != nil {
				return Desired{}, err
			}
			members[i] = uid
		}
		if len(members) == 0 {
			return Desired{}, errors.New("rotation.pool: no one to put in the PagerDuty schedules")
		}
		for _, role := range []string{RolePrimary, RoleSecondary} {
			sid := schedule(role)
			if sid == "" {
				continue
			}
			m := members
			if role == RoleSecondary {
				// The secondary of shift w is the primary of shift w-1 (SPEC §5).
				m = append([]string{members[len(members)-1]}, members[:len(members)-1]...)
			}
			d.Schedules = append(d.Schedules, DesiredSchedule{Role: role, ID: sid, Members: m, Start: rot.Start, Turn: rot.Length.D()})
			r.names[sid] = role + " schedule"
		}
	}
	return d, nil
}
