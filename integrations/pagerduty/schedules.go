package pagerduty

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	pd "github.com/PagerDuty/go-pagerduty"
)

// RotationSchedule is a PagerDuty schedule's rotation layers.
type RotationSchedule struct {
	ID, Name, TimeZone string
	// Layers in PagerDuty's order (the layer on top first).
	Layers []ScheduleLayer
}

// ScheduleLayer is one rotation of a schedule: its users take turns of
// TurnLength, counted from RotationVirtualStart.
type ScheduleLayer struct {
	ID, Name string
	// Start is when the layer takes effect; End is zero for a layer that does not end.
	Start, End           time.Time
	RotationVirtualStart time.Time
	TurnLength           time.Duration
	// Users are PagerDuty user IDs in rotation order.
	Users []string
}

// Active reports whether the layer still applies at t.
func (l ScheduleLayer) Active(t time.Time) bool { return l.End.IsZero() || l.End.After(t) }

// computedScheduleFields are the read-only fields of a schedule that PagerDuty renders for
// the requested window; they are not sent back on update.
var computedScheduleFields = []string{"final_schedule", "overrides_subschedule", "override_subschedule"}

// RotationSchedule reads schedule id and its layers.
func (c *Client) RotationSchedule(ctx context.Context, id string) (RotationSchedule, error) {
	_, s, err := c.getSchedule(ctx, id)
	return s, err
}

func (c *Client) getSchedule(ctx context.Context, id string) (rawObject, RotationSchedule, error) {
	if err := checkObjectID(id); err != nil {
		return nil, RotationSchedule{}, fmt.Errorf("read schedule: %w", err)
	}
	var doc struct {
		Schedule rawObject `json:"schedule"`
	}
	q := url.Values{"time_zone": {"UTC"}}
	if err := c.rawJSON(ctx, http.MethodGet, "/schedules/"+id, q, nil, &doc); err != nil {
		return nil, RotationSchedule{}, fmt.Errorf("read schedule %s: %w", id, err)
	}
	if doc.Schedule == nil {
		return nil, RotationSchedule{}, fmt.Errorf("read schedule %s: the answer has no schedule", id)
	}
	raw, _ := json.Marshal(doc.Schedule)
	var typed pd.Schedule
	if err := json.Unmarshal(raw, &typed); err != nil {
		return nil, RotationSchedule{}, fmt.Errorf("decode schedule %s: %w", id, err)
	}
	s := RotationSchedule{ID: typed.ID, Name: typed.Name, TimeZone: typed.TimeZone}
	if s.ID == "" {
		s.ID = id
	}
	for i, l := range typed.ScheduleLayers {
		layer := ScheduleLayer{ID: l.ID, Name: l.Name, TurnLength: time.Duration(l.RotationTurnLengthSeconds) * time.Second}
		var err error
		if layer.Start, err = parseLayerTime(l.Start); err != nil {
			return nil, RotationSchedule{}, fmt.Errorf("schedule %s layer %d start: %w", id, i+1, err)
		}
		if layer.End, err = parseLayerTime(l.End); err != nil {
			return nil, RotationSchedule{}, fmt.Errorf("schedule %s layer %d end: %w", id, i+1, err)
		}
		if layer.RotationVirtualStart, err = parseLayerTime(l.RotationVirtualStart); err != nil {
			return nil, RotationSchedule{}, fmt.Errorf("schedule %s layer %d rotation_virtual_start: %w", id, i+1, err)
		}
		for _, u := range l.Users {
			layer.Users = append(layer.Users, u.User.ID)
		}
		s.Layers = append(s.Layers, layer)
	}
	return doc.Schedule, s, nil
}

func parseLayerTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time", s)
	}
	return t, nil
}

// UpdateScheduleLayer makes one layer of schedule scheduleID rotate layer.Users
// from layer.RotationVirtualStart in turns of layer.TurnLength, and changes
// nothing else: it reads the schedule, replaces those three fields of the
// layer with ID layer.ID in the object as PagerDuty sent it (name, time zone,
// teams, the other layers and this layer's restrictions, start and end stay
// as they were) and PUTs it back. A layer without ID is added, starting at
// layer.Start.
func (c *Client) UpdateScheduleLayer(ctx context.Context, scheduleID string, layer ScheduleLayer) error {
	switch {
	case len(layer.Users) == 0:
		return fmt.Errorf("update schedule %s: a layer needs at least one user", scheduleID)
	case layer.TurnLength < time.Second || layer.TurnLength%time.Second != 0:
		return fmt.Errorf("update schedule %s: turn length %s is not a whole number of seconds", scheduleID, layer.TurnLength)
	case layer.RotationVirtualStart.IsZero():
		return fmt.Errorf("update schedule %s: the rotation start is not set", scheduleID)
	}
	obj, _, err := c.getSchedule(ctx, scheduleID)
	if err != nil {
		return err
	}
	var layers []rawObject
	if raw, ok := obj["schedule_layers"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &layers); err != nil {
			return fmt.Errorf("decode layers of schedule %s: %w", scheduleID, err)
		}
	}
	users := make([]map[string]map[string]string, len(layer.Users))
	for i, u := range layer.Users {
		users[i] = map[string]map[string]string{"user": {"id": u, "type": "user_reference"}}
	}
	patch := func(l rawObject) {
		l["users"] = mustRaw(users)
		l["rotation_virtual_start"] = mustRaw(layer.RotationVirtualStart.UTC().Format(time.RFC3339))
		l["rotation_turn_length_seconds"] = mustRaw(int64(layer.TurnLength / time.Second))
		delete(l, "rendered_schedule_entries")
		delete(l, "rendered_coverage_percentage")
	}
	found := false
	for _, l := range layers {
		delete(l, "rendered_schedule_entries")
		delete(l, "rendered_coverage_percentage")
		var lid string
		_ = json.Unmarshal(l["id"], &lid)
		if layer.ID != "" && lid == layer.ID {
			patch(l)
			found = true
		}
	}
	if !found {
		if layer.ID != "" {
			return fmt.Errorf("update schedule %s: it has no layer %s any more", scheduleID, layer.ID)
		}
		start := layer.Start
		if start.IsZero() {
			start = layer.RotationVirtualStart
		}
		l := rawObject{"start": mustRaw(start.UTC().Format(time.RFC3339))}
		if layer.Name != "" {
			l["name"] = mustRaw(layer.Name)
		}
		patch(l)
		layers = append(layers, l)
	}
	for _, k := range computedScheduleFields {
		delete(obj, k)
	}
	obj["schedule_layers"] = mustRaw(layers)
	if _, ok := obj["type"]; !ok {
		obj["type"] = mustRaw("schedule")
	}
	body := map[string]rawObject{"schedule": obj}
	if err := c.rawJSON(ctx, http.MethodPut, "/schedules/"+scheduleID, nil, body, nil); err != nil {
		return fmt.Errorf("update schedule %s: %w", scheduleID, err)
	}
	return nil
}
