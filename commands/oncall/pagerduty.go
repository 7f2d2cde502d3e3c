package oncall

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/contextinject/oncallbot/commands/config"
	"github.com/contextinject/oncallbot/integrations/pagerduty"
)

// readTimeout bounds one PagerDuty read of who is on call.
const readTimeout = 3 * time.Second

// OnCallLister reads on-call entries of PagerDuty schedules (*pagerduty.Client).
type OnCallLister interface {
	OnCalls(ctx context.Context, scheduleIDs []string, since, until time.Time) ([]pagerduty.OnCall, error)
}

// PagerDutySource is a Source reading who is on call from the configured
// PagerDuty schedules (rotation.pagerduty). Answers are cached for TTL: one
// fetch covers a window ahead, so /oncall's "now" and "next handoff" cost
// one call.
type PagerDutySource struct {
	cfg  *config.Config
	pd   OnCallLister
	now  func() time.Time
	ttl  time.Duration
	span time.Duration

	mu      sync.Mutex
	fetched time.Time
	from    time.Time
	to      time.Time
	entries []pagerduty.OnCall
}

// NewPagerDutySource returns a source over cfg's PagerDuty schedules; ttl
// <= 0 means 30 seconds.
func NewPagerDutySource(cfg *config.Config, pd OnCallLister, now func() time.Time, ttl time.Duration) *PagerDutySource {
	if ttl <= 0 {
		ttl = 30 * time.Second
	}
	return &PagerDutySource{cfg: cfg, pd: pd, now: now, ttl: ttl, span: cfg.Rotation.Length.D() + 24*time.Hour}
}

// Invalidate drops cached answers (after the bot wrote to PagerDuty).
func (s *PagerDutySource) Invalidate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries, s.fetched = nil, time.Time{}
}

// OnCall implements Source. A PagerDuty user who is not a person of the
// configuration (by pagerduty_id, else email) yields "" for that role, so
// the Roster keeps its own answer for it.
func (s *PagerDutySource) OnCall(ctx context.Context, t time.Time) (primary, secondary string, err error) {
	pdc := s.cfg.Rotation.PagerDuty
	if pdc == nil {
		return "", "", nil
	}
	entries, err := s.load(ctx, t)
	if err != nil {
		return "", "", err
	}
	return s.at(entries, pdc.PrimarySchedule, t), s.at(entries, pdc.SecondarySchedule, t), nil
}

func (s *PagerDutySource) load(ctx context.Context, t time.Time) ([]pagerduty.OnCall, error) {
	now := s.now()
	s.mu.Lock()
	if !s.fetched.IsZero() && now.Sub(s.fetched) < s.ttl && now.Sub(s.fetched) >= 0 && !t.Before(s.from) && t.Before(s.to) {
		e := s.entries
		s.mu.Unlock()
		return e, nil
	}
	s.mu.Unlock()
	pdc := s.cfg.Rotation.PagerDuty
	var ids []string
	for _, id := range []string{pdc.PrimarySchedule, pdc.SecondarySchedule} {
		if id != "" {
			ids = append(ids, id)
		}
	}
	from, to := t, t.Add(s.span)
	// "Who is on call" answers a person waiting in Slack: rather the
	// bot's own schedule with a note than a long wait.
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	entries, err := s.pd.OnCalls(ctx, ids, from, to)
	if err != nil {
		return nil, fmt.Errorf("read PagerDuty on-call: %w", err)
	}
	s.mu.Lock()
	s.fetched, s.from, s.to, s.entries = now, from, to, entries
	s.mu.Unlock()
	return entries, nil
}

func (s *PagerDutySource) at(entries []pagerduty.OnCall, schedule string, t time.Time) string {
	if schedule == "" {
		return ""
	}
	for _, e := range entries {
		if e.ScheduleID != schedule {
			continue
		}
		if (!e.Start.IsZero() && t.Before(e.Start)) || (!e.End.IsZero() && !t.Before(e.End)) {
			continue
		}
		if p, ok := s.cfg.PersonByPagerDutyID(e.User.ID); ok {
			return p.SlackID
		}
		if e.User.Email != "" {
			for _, p := range s.cfg.People {
				if strings.EqualFold(p.Email, e.User.Email) {
					return p.SlackID
				}
			}
		}
		return ""
	}
	return ""
}
