package pagerduty

import (
	"context"
	"fmt"
	"time"

	pd "github.com/PagerDuty/go-pagerduty"
)

// OnCall is one on-call entry of a schedule: User is on call on ScheduleID
// during [Start, End). Start and End are zero for permanent on-calls.
type OnCall struct {
	ScheduleID string
	User       User
	Level      int
	Start, End time.Time
}

// maxPages bounds pagination so a misbehaving server cannot loop us forever.
const maxPages = 50

// OnCalls returns the on-call entries of the schedules overlapping
// [since, until), following pagination. PagerDuty limits the window to 90
// days into the future.
func (c *Client) OnCalls(ctx context.Context, scheduleIDs []string, since, until time.Time) ([]OnCall, error) {
	if len(scheduleIDs) == 0 {
		return nil, nil
	}
	opts := pd.ListOnCallOptions{
		Limit:       100,
		Includes:    []string{"users"},
		ScheduleIDs: scheduleIDs,
		Since:       since.UTC().Format(time.RFC3339),
		Until:       until.UTC().Format(time.RFC3339),
		TimeZone:    "UTC",
	}
	var out []OnCall
	for page := 0; page < maxPages; page++ {
		resp, err := c.pd.ListOnCallsWithContext(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("list on-calls of %v: %w", scheduleIDs, err)
		}
		for _, o := range resp.OnCalls {
			oc := OnCall{ScheduleID: o.Schedule.ID, User: userOf(o.User), Level: int(o.EscalationLevel)}
			if oc.Start, err = parseTime(o.Start); err != nil {
				return nil, fmt.Errorf("list on-calls: entry start: %w", err)
			}
			if oc.End, err = parseTime(o.End); err != nil {
				return nil, fmt.Errorf("list on-calls: entry end: %w", err)
			}
			out = append(out, oc)
		}
		if !resp.More || len(resp.OnCalls) == 0 {
			return out, nil
		}
		opts.Offset += uint(len(resp.OnCalls))
	}
	return out, fmt.Errorf("list on-calls of %v: more than %d pages", scheduleIDs, maxPages)
}

// parseTime parses PagerDuty's RFC 3339 times; "" is the zero time.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q: %w", s, err)
	}
	return t, nil
}
