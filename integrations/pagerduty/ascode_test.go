package pagerduty_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/integrations/pagerduty"
	"github.com/contextinject/oncallbot/integrations/pagerduty/pagerdutytest"
)

func asCodeClient(t *testing.T) (*pagerdutytest.AsCode, *pagerduty.Client) {
	f := pagerdutytest.NewAsCode(t)
	f.SetSchedule("PS", map[string]any{"id": "PS", "type": "schedule", "name": "S", "time_zone": "UTC",
		"schedule_layers": []any{map[string]any{"id": "L1", "name": "Weekly", "start": "2026-10-01T00:00:00Z",
			"rotation_virtual_start": "2026-11-02T10:00:00+01:00", "rotation_turn_length_seconds": 604800,
			"users": []any{map[string]any{"user": map[string]any{"id": "PA", "type": "user_reference"}}}}}})
	f.SetPolicy("PP", map[string]any{"id": "PP", "type": "escalation_policy", "name": "P", "teams": []any{},
		"escalation_rules": []any{map[string]any{"escalation_delay_in_minutes": 0, "targets": []any{map[string]any{"id": "PS", "type": "schedule_reference"}}}}})
	return f, pagerduty.New(pagerduty.Options{Token: pagerdutytest.AsCodeToken, BaseURL: f.URL(), MaxRetries: 1,
		Sleep: func(context.Context, time.Duration) error { return nil }})
}

func TestReadPolicyAndSchedule(t *testing.T) {
	t.Parallel()
	_, c := asCodeClient(t)
	ctx := context.Background()
	p, err := c.EscalationPolicy(ctx, "PP")
	require.NoError(t, err)
	require.Equal(t, pagerduty.EscalationPolicy{ID: "PP", Name: "P", Rules: []pagerduty.EscalationRule{
		{DelayMinutes: 0, Targets: []pagerduty.EscalationTarget{{Type: pagerduty.TargetSchedule, ID: "PS"}}}}}, p)
	s, err := c.RotationSchedule(ctx, "PS")
	require.NoError(t, err)
	require.Len(t, s.Layers, 1)
	require.True(t, s.Layers[0].RotationVirtualStart.Equal(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)))
	require.Equal(t, 168*time.Hour, s.Layers[0].TurnLength)
	require.Equal(t, []string{"PA"}, s.Layers[0].Users)
	require.True(t, s.Layers[0].Active(time.Now()))
}

func TestAsCodeWritesRefuseBadInput(t *testing.T) {
	t.Parallel()
	f, c := asCodeClient(t)
	ctx := context.Background()
	start := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	target := []pagerduty.EscalationTarget{{Type: pagerduty.TargetUser, ID: "PA"}}
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"no rules", c.UpdateEscalationPolicy(ctx, "PP", nil, 1), "at least one rule"},
		{"negative loops", c.UpdateEscalationPolicy(ctx, "PP", []pagerduty.EscalationRule{{Targets: target}}, -1), "negative"},
		{"no targets", c.UpdateEscalationPolicy(ctx, "PP", []pagerduty.EscalationRule{{DelayMinutes: 5}}, 1), "rule 1 has no targets"},
		{"bad target type", c.UpdateEscalationPolicy(ctx, "PP", []pagerduty.EscalationRule{{Targets: []pagerduty.EscalationTarget{{Type: "team", ID: "T"}}}}, 1), `target type "team"`},
		{"bad id", c.UpdateEscalationPolicy(ctx, "P/P", []pagerduty.EscalationRule{{Targets: target}}, 1), `"P/P" is not a PagerDuty ID`},
		{"no users", c.UpdateScheduleLayer(ctx, "PS", pagerduty.ScheduleLayer{ID: "L1", TurnLength: time.Hour, RotationVirtualStart: start}), "at least one user"},
		{"odd turn", c.UpdateScheduleLayer(ctx, "PS", pagerduty.ScheduleLayer{ID: "L1", Users: []string{"PA"}, TurnLength: 1500 * time.Millisecond, RotationVirtualStart: start}), "whole number of seconds"},
		{"layer gone", c.UpdateScheduleLayer(ctx, "PS", pagerduty.ScheduleLayer{ID: "L9", Users: []string{"PA"}, TurnLength: time.Hour, RotationVirtualStart: start}), "has no layer L9 any more"},
		{"unknown schedule", c.UpdateScheduleLayer(ctx, "PX", pagerduty.ScheduleLayer{ID: "L1", Users: []string{"PA"}, TurnLength: time.Hour, RotationVirtualStart: start}), "404 Not Found"},
	}
	for _, tc := range cases {
		require.Error(t, tc.err, tc.name)
		require.Contains(t, tc.err.Error(), tc.want, tc.name)
	}
	require.Empty(t, f.Writes())
}

func TestResponseErrorWords(t *testing.T) {
	t.Parallel()
	f, c := asCodeClient(t)
	f.Fail(http.MethodGet, "/schedules/PS", http.StatusForbidden, 1)
	_, err := c.RotationSchedule(context.Background(), "PS")
	var re *pagerduty.ResponseError
	require.ErrorAs(t, err, &re)
	require.Equal(t, http.StatusForbidden, re.Status)
	require.Contains(t, err.Error(), "PagerDuty answered 403 Forbidden to GET /schedules/PS: the token may not do this")
}
