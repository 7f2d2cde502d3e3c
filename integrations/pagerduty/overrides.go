package pagerduty

import (
	"context"
	"errors"
	"fmt"
	"time"

	pd "github.com/PagerDuty/go-pagerduty"
)

// Override is a schedule override: UserID is on call on ScheduleID during
// [Start, End), winning over the schedule's layers.
type Override struct {
	ID         string
	ScheduleID string
	UserID     string
	Start, End time.Time
}

// CreateOverride creates o on its schedule and returns it with its ID.
// go-pagerduty sends the legacy single-override body {"override":{…}},
// which PagerDuty still accepts (reference/integrations.md §1.4).
func (c *Client) CreateOverride(ctx context.Context, o Override) (Override, error) {
	if o.ScheduleID == "" || o.UserID == "" || !o.End.After(o.Start) {
		return Override{}, fmt.Errorf("create override: schedule %q, user %q, window %s–%s: %w",
			o.ScheduleID, o.UserID, o.Start.Format(time.RFC3339), o.End.Format(time.RFC3339), errBadOverride)
	}
	got, err := c.pd.CreateOverrideWithContext(ctx, o.ScheduleID, pd.Override{
		Start: o.Start.UTC().Format(time.RFC3339),
		End:   o.End.UTC().Format(time.RFC3339),
		User:  pd.APIObject{ID: o.UserID, Type: "user_reference"},
	})
	if err != nil {
		return Override{}, fmt.Errorf("create override on %s for %s: %w", o.ScheduleID, o.UserID, err)
	}
	out, err := overrideOf(o.ScheduleID, *got)
	if err != nil {
		return Override{}, fmt.Errorf("create override on %s: %w", o.ScheduleID, err)
	}
	return out, nil
}

var errBadOverride = errors.New("invalid override")

// ListOverrides returns the overrides of scheduleID intersecting [since, until).
func (c *Client) ListOverrides(ctx context.Context, scheduleID string, since, until time.Time) ([]Override, error) {
	resp, err := c.pd.ListOverridesWithContext(ctx, scheduleID, pd.ListOverridesOptions{
		Since: since.UTC().Format(time.RFC3339),
		Until: until.UTC().Format(time.RFC3339),
	})
	if err != nil {
		return nil, fmt.Errorf("list overrides of %s: %w", scheduleID, err)
	}
	out := make([]Override, 0, len(resp.Overrides))
	for _, o := range resp.Overrides {
		v, err := overrideOf(scheduleID, o)
		if err != nil {
			return nil, fmt.Errorf("list overrides of %s: %w", scheduleID, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// DeleteOverride removes override id from scheduleID. An override that no
// longer exists counts as removed.
func (c *Client) DeleteOverride(ctx context.Context, scheduleID, id string) error {
	err := c.pd.DeleteOverrideWithContext(ctx, scheduleID, id)
	if err != nil && !IsNotFound(err) {
		return fmt.Errorf("delete override %s of %s: %w", id, scheduleID, err)
	}
	return nil
}

func overrideOf(scheduleID string, o pd.Override) (Override, error) {
	start, err := parseTime(o.Start)
	if err != nil {
		return Override{}, err
	}
	end, err := parseTime(o.End)
	if err != nil {
		return Override{}, err
	}
	return Override{ID: o.ID, ScheduleID: scheduleID, UserID: o.User.ID, Start: start, End: end}, nil
}

// IsNotFound reports whether err is PagerDuty's "not found" (404 or code 2100).
func IsNotFound(err error) bool {
	var e pd.APIError
	return errors.As(err, &e) && e.NotFound()
}

// IsTemporary reports whether err may succeed when retried later: a 429, a
// 5xx, or no answer at all (connection refused, timeout). Other API errors
// (400 invalid user, 403, 404) will fail again the same way.
func IsTemporary(err error) bool {
	if err == nil {
		return false
	}
	var e pd.APIError
	if errors.As(err, &e) {
		return e.Temporary()
	}
	return !errors.Is(err, errBadOverride) && !errors.Is(err, ErrNoUser)
}
