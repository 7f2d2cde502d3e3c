package pdcode_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/commands/config"
	"github.com/contextinject/oncallbot/commands/pdcode"
	"github.com/contextinject/oncallbot/integrations/pagerduty"
	"github.com/contextinject/oncallbot/integrations/pagerduty/pagerdutytest"
)

var now = time.Date(2026, 11, 4, 12, 0, 0, 0, time.UTC)

func ref(typ, id string) map[string]any { return map[string]any{"id": id, "type": typ + "_reference"} }

func rule(id string, delay int, targets ...map[string]any) map[string]any {
	ts := make([]any, len(targets))
	for i, t := range targets {
		ts[i] = t
	}
	return map[string]any{"id": id, "escalation_delay_in_minutes": delay, "targets": ts, "escalation_rule_assignment_strategy": "assign_to_everyone"}
}

// equalPolicy is PPOLICY as the built-in configuration wants it, with fields
// the bot must never touch.
func equalPolicy() map[string]any {
	return map[string]any{
		"id": "PPOLICY", "type": "escalation_policy", "name": "ContextInject Production",
		"description": "Managed by oncallbot", "on_call_handoff_notifications": "if_has_services",
		"num_loops": 1,
		"teams":     []any{map[string]any{"id": "PTEAM", "type": "team_reference"}},
		"services":  []any{map[string]any{"id": "PSVC", "type": "service_reference"}},
		"escalation_rules": []any{
			rule("R1", 15, ref("schedule", "PPRIMARY")),
			rule("R2", 15, ref("schedule", "PSECONDARY")),
			rule("R3", 15, ref("user", "PLEAD")),
			rule("R4", 0, ref("user", "PCTO")),
		},
	}
}

func users(ids ...string) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = map[string]any{"user": ref("user", id)}
	}
	return out
}

func equalSchedule(id, name string, members ...string) map[string]any {
	return map[string]any{
		"id": id, "type": "schedule", "name": name, "time_zone": "Europe/Berlin", "description": "weekly",
		"teams": []any{map[string]any{"id": "PTEAM", "type": "team_reference"}},
		"schedule_layers": []any{
			map[string]any{"id": "L1", "name": "Weekly", "start": "2026-10-01T00:00:00Z",
				"rotation_virtual_start": "2026-11-02T09:00:00Z", "rotation_turn_length_seconds": 604800,
				"users": users(members...), "restrictions": []any{},
				"rendered_schedule_entries": []any{}, "rendered_coverage_percentage": 100},
			map[string]any{"id": "L2", "name": "Lead weekends", "start": "2026-01-01T00:00:00Z",
				"rotation_virtual_start": "2026-01-03T00:00:00Z", "rotation_turn_length_seconds": 86400,
				"users":        users("PLEAD"),
				"restrictions": []any{map[string]any{"type": "weekly_restriction", "start_day_of_week": 6, "start_time_of_day": "00:00:00", "duration_seconds": 172800}}},
			map[string]any{"id": "L0", "name": "Old", "start": "2025-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z",
				"rotation_virtual_start": "2025-01-01T00:00:00Z", "rotation_turn_length_seconds": 86400, "users": users("PCTO")},
		},
		"final_schedule": map[string]any{"name": "Final Schedule", "rendered_schedule_entries": []any{}},
	}
}

type bundle struct {
	fake *pagerdutytest.AsCode
	pd   *pagerduty.Client
	cfg  *config.Config
}

func setup(t *testing.T) bundle {
	t.Helper()
	f := pagerdutytest.NewAsCode(t)
	f.SetPolicy("PPOLICY", equalPolicy())
	f.SetSchedule("PPRIMARY", equalSchedule("PPRIMARY", "Primary", "PENGA", "PENGB"))
	f.SetSchedule("PSECONDARY", equalSchedule("PSECONDARY", "Secondary", "PENGB", "PENGA"))
	c := pagerduty.New(pagerduty.Options{Token: pagerdutytest.AsCodeToken, BaseURL: f.URL(), MaxRetries: 1,
		Sleep: func(context.Context, time.Duration) error { return nil }})
	return bundle{fake: f, pd: c, cfg: config.Default()}
}

func rules(m map[string]any) []any { return m["escalation_rules"].([]any) }

func layers(m map[string]any) []any { return m["schedule_layers"].([]any) }

func layer(m map[string]any, i int) map[string]any { return layers(m)[i].(map[string]any) }

// comparable strips what PagerDuty computes and what a rewrite of rules may
// legitimately move (rule IDs and per-rule extras follow the rule's position).
func comparable(m map[string]any, schedule bool) map[string]any {
	delete(m, "final_schedule")
	delete(m, "id")
	if schedule {
		for _, l := range layers(m) {
			delete(l.(map[string]any), "rendered_schedule_entries")
			delete(l.(map[string]any), "rendered_coverage_percentage")
		}
		return m
	}
	for _, r := range rules(m) {
		delete(r.(map[string]any), "id")
		delete(r.(map[string]any), "escalation_rule_assignment_strategy")
	}
	return m
}

func TestDiffAndApplyEachField(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		drift func(f *pagerdutytest.AsCode)
		want  []string // parts of the diff text
	}{
		{"rule order", func(f *pagerdutytest.AsCode) {
			p := f.Policy("PPOLICY")
			r := rules(p)
			r[0], r[1] = r[1], r[0]
			f.SetPolicy("PPOLICY", p)
		}, []string{"rule order: PagerDuty has 1. schedule PSECONDARY (secondary schedule), then 15 minutes; 2. schedule PPRIMARY", "the configuration wants 1. schedule PPRIMARY (primary schedule)"}},
		{"rule target schedule", func(f *pagerdutytest.AsCode) {
			p := f.Policy("PPOLICY")
			rules(p)[1].(map[string]any)["targets"] = []any{ref("schedule", "PPRIMARY")}
			f.SetPolicy("PPOLICY", p)
		}, []string{"rule 2 targets: PagerDuty has schedule PPRIMARY (primary schedule); the configuration wants schedule PSECONDARY (secondary schedule) (escalation.steps[1].notify)"}},
		{"rule target user", func(f *pagerdutytest.AsCode) {
			p := f.Policy("PPOLICY")
			rules(p)[2].(map[string]any)["targets"] = []any{ref("user", "PCTO"), ref("user", "PLEAD")}
			f.SetPolicy("PPOLICY", p)
		}, []string{"rule 3 targets: PagerDuty has user PCTO (CTO), user PLEAD (Engineering Lead); the configuration wants user PLEAD (Engineering Lead)"}},
		{"delay", func(f *pagerdutytest.AsCode) {
			p := f.Policy("PPOLICY")
			rules(p)[0].(map[string]any)["escalation_delay_in_minutes"] = 30
			f.SetPolicy("PPOLICY", p)
		}, []string{"rule 1 escalation_delay_in_minutes: PagerDuty has 30; the configuration wants 15 (escalation.steps[0].after)"}},
		{"zero delay of the last rule", func(f *pagerdutytest.AsCode) {
			p := f.Policy("PPOLICY")
			rules(p)[3].(map[string]any)["escalation_delay_in_minutes"] = 5
			f.SetPolicy("PPOLICY", p)
		}, []string{"rule 4 escalation_delay_in_minutes: PagerDuty has 5; the configuration wants 0"}},
		{"extra rule", func(f *pagerdutytest.AsCode) {
			p := f.Policy("PPOLICY")
			p["escalation_rules"] = append(rules(p), rule("R5", 10, ref("user", "PENGA")))
			f.SetPolicy("PPOLICY", p)
		}, []string{"rule 5: PagerDuty has user PENGA (Engineer A), then 10 minutes; the configuration wants no such rule (escalation has 4 steps)"}},
		{"missing rule", func(f *pagerdutytest.AsCode) {
			p := f.Policy("PPOLICY")
			p["escalation_rules"] = rules(p)[:3]
			f.SetPolicy("PPOLICY", p)
		}, []string{"rule 4: PagerDuty has no such rule; the configuration wants user PCTO (CTO), then 0 minutes (escalation.steps[3])"}},
		{"num_loops", func(f *pagerdutytest.AsCode) {
			p := f.Policy("PPOLICY")
			p["num_loops"] = 2
			f.SetPolicy("PPOLICY", p)
		}, []string{"num_loops: PagerDuty has 2; the configuration wants 1 (escalation.loops: 2, so the chain runs 2 times"}},
		{"num_loops absent", func(f *pagerdutytest.AsCode) {
			p := f.Policy("PPOLICY")
			delete(p, "num_loops")
			f.SetPolicy("PPOLICY", p)
		}, []string{"num_loops: PagerDuty has 0; the configuration wants 1"}},
		{"members", func(f *pagerdutytest.AsCode) {
			s := f.Schedule("PPRIMARY")
			layer(s, 0)["users"] = users("PENGB", "PENGA", "PLEAD")
			f.SetSchedule("PPRIMARY", s)
		}, []string{`primary schedule PPRIMARY (Primary), layer "Weekly":`, "members in order: PagerDuty has Engineer B (PENGB), Engineer A (PENGA), Engineering Lead (PLEAD); the configuration wants Engineer A (PENGA), Engineer B (PENGB) (rotation.pool)"}},
		{"secondary members", func(f *pagerdutytest.AsCode) {
			s := f.Schedule("PSECONDARY")
			layer(s, 0)["users"] = users("PENGA", "PENGB")
			f.SetSchedule("PSECONDARY", s)
		}, []string{"secondary schedule PSECONDARY", "wants Engineer B (PENGB), Engineer A (PENGA) (rotation.pool shifted by one shift"}},
		{"rotation start", func(f *pagerdutytest.AsCode) {
			s := f.Schedule("PPRIMARY")
			layer(s, 0)["rotation_virtual_start"] = "2026-11-03T10:00:00+01:00"
			f.SetSchedule("PPRIMARY", s)
		}, []string{"rotation start: PagerDuty has 2026-11-03T09:00:00Z; the configuration wants 2026-11-02T09:00:00Z (rotation.start)"}},
		{"turn length", func(f *pagerdutytest.AsCode) {
			s := f.Schedule("PSECONDARY")
			layer(s, 0)["rotation_turn_length_seconds"] = 86400
			f.SetSchedule("PSECONDARY", s)
		}, []string{"turn length: PagerDuty has 86400 seconds (24h); the configuration wants 604800 seconds (168h) (rotation.length)"}},
		{"no active layer", func(f *pagerdutytest.AsCode) {
			s := f.Schedule("PPRIMARY")
			s["schedule_layers"] = []any{layers(s)[2]}
			f.SetSchedule("PPRIMARY", s)
		}, []string{"rotation layer: PagerDuty has no active layer; the configuration wants Engineer A (PENGA), Engineer B (PENGB) taking turns of 604800 seconds (168h) from 2026-11-02T09:00:00Z"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			ctx := context.Background()
			rep, err := pdcode.Check(ctx, b.cfg, b.pd, now)
			require.NoError(t, err)
			require.True(t, rep.Equal(), rep.Text())

			beforePolicy, beforePrimary, beforeSecondary := b.fake.Policy("PPOLICY"), b.fake.Schedule("PPRIMARY"), b.fake.Schedule("PSECONDARY")
			tc.drift(b.fake)
			rep, err = pdcode.Check(ctx, b.cfg, b.pd, now)
			require.NoError(t, err)
			require.False(t, rep.Equal())
			require.Equal(t, 1, rep.Count(), rep.Text())
			for _, part := range tc.want {
				require.Contains(t, rep.Text(), part)
			}
			require.Empty(t, b.fake.Writes(), "diff never writes")

			res := pdcode.Apply(ctx, b.pd, rep)
			require.Empty(t, res.Failed, res.Text())
			require.Len(t, res.Changed, 1)
			require.Len(t, b.fake.Writes(), 1)

			rep, err = pdcode.Check(ctx, b.cfg, b.pd, now)
			require.NoError(t, err)
			require.True(t, rep.Equal(), rep.Text())

			// Everything the bot does not manage is as it was.
			if tc.name == "no active layer" {
				s := b.fake.Schedule("PPRIMARY")
				require.Len(t, layers(s), 2)
				require.Equal(t, comparable(beforePrimary, true)["schedule_layers"].([]any)[2], layers(s)[0], "the ended layer is untouched")
				added := layer(s, 1)
				require.Equal(t, "oncallbot rotation", added["name"])
				require.Equal(t, "2026-11-04T12:00:00Z", added["start"])
				return
			}
			require.Equal(t, comparable(beforePolicy, false), comparable(b.fake.Policy("PPOLICY"), false))
			require.Equal(t, comparable(beforePrimary, true), comparable(b.fake.Schedule("PPRIMARY"), true))
			require.Equal(t, comparable(beforeSecondary, true), comparable(b.fake.Schedule("PSECONDARY"), true))
		})
	}
}

func TestApplyKeepsRuleIDsTeamsAndZeroValues(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	p := b.fake.Policy("PPOLICY")
	rules(p)[0].(map[string]any)["escalation_delay_in_minutes"] = 30
	p["num_loops"] = 0
	b.fake.SetPolicy("PPOLICY", p)
	rep, err := pdcode.Check(ctx, b.cfg, b.pd, now)
	require.NoError(t, err)
	require.Equal(t, 2, rep.Count(), rep.Text())
	res := pdcode.Apply(ctx, b.pd, rep)
	require.Empty(t, res.Failed)

	w := b.fake.Writes()
	require.Len(t, w, 1)
	require.Equal(t, "PUT", w[0].Method)
	require.Equal(t, "/escalation_policies/PPOLICY", w[0].Path)
	sent := w[0].Body["escalation_policy"].(map[string]any)
	require.Equal(t, []any{map[string]any{"id": "PTEAM", "type": "team_reference"}}, sent["teams"], "teams are sent back, never null")
	require.Equal(t, []any{map[string]any{"id": "PSVC", "type": "service_reference"}}, sent["services"])
	require.Equal(t, "Managed by oncallbot", sent["description"])
	require.Equal(t, "if_has_services", sent["on_call_handoff_notifications"])
	require.EqualValues(t, 1, sent["num_loops"])
	r := sent["escalation_rules"].([]any)
	for i, id := range []string{"R1", "R2", "R3", "R4"} {
		require.Equal(t, id, r[i].(map[string]any)["id"], "rules keep their IDs")
		require.Equal(t, "assign_to_everyone", r[i].(map[string]any)["escalation_rule_assignment_strategy"])
	}
	last := r[3].(map[string]any)
	require.Contains(t, last, "escalation_delay_in_minutes", "a zero delay is sent, not omitted")
	require.EqualValues(t, 0, last["escalation_delay_in_minutes"])
}

func TestEquivalentRotationIsEqual(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s := b.fake.Schedule("PPRIMARY")
	// The same rotation counted from shift 1: Engineer B first.
	layer(s, 0)["rotation_virtual_start"] = "2026-11-09T09:00:00Z"
	layer(s, 0)["users"] = users("PENGB", "PENGA")
	b.fake.SetSchedule("PPRIMARY", s)
	rep, err := pdcode.Check(context.Background(), b.cfg, b.pd, now)
	require.NoError(t, err)
	require.True(t, rep.Equal(), rep.Text())
}

func TestApplyOnEqualWritesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	rep, err := pdcode.Check(ctx, b.cfg, b.pd, now)
	require.NoError(t, err)
	require.True(t, rep.Equal())
	require.Contains(t, rep.Text(), "PagerDuty matches the configuration")
	res := pdcode.Apply(ctx, b.pd, rep)
	require.Equal(t, "Nothing to change: PagerDuty already matches the configuration.", res.Text())
	require.Empty(t, b.fake.Writes())
}

func TestApplyFailedWriteMidway(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	p := b.fake.Policy("PPOLICY")
	p["num_loops"] = 5
	b.fake.SetPolicy("PPOLICY", p)
	for _, id := range []string{"PPRIMARY", "PSECONDARY"} {
		s := b.fake.Schedule(id)
		layer(s, 0)["rotation_turn_length_seconds"] = 86400
		b.fake.SetSchedule(id, s)
	}
	rep, err := pdcode.Check(ctx, b.cfg, b.pd, now)
	require.NoError(t, err)
	require.Equal(t, 3, rep.Count())
	b.fake.Fail(http.MethodPut, "/schedules/PPRIMARY", http.StatusInternalServerError, 2) // first try and the one retry

	res := pdcode.Apply(ctx, b.pd, rep)
	require.Equal(t, []string{"escalation policy PPOLICY (ContextInject Production)"}, res.Changed)
	require.Equal(t, `primary schedule PPRIMARY (Primary), layer "Weekly"`, res.Failed)
	require.Equal(t, []string{`secondary schedule PSECONDARY (Secondary), layer "Weekly"`}, res.NotAttempted)
	text := res.Text()
	require.Contains(t, text, "Changed in PagerDuty:\n  - escalation policy PPOLICY")
	require.Contains(t, text, `NOT changed, the write failed: primary schedule PPRIMARY (Primary), layer "Weekly": update schedule PPRIMARY: PagerDuty answered 500 Internal Server Error`)
	require.Contains(t, text, `NOT changed, not attempted after the failure: secondary schedule PSECONDARY`)

	require.EqualValues(t, 1, b.fake.Policy("PPOLICY")["num_loops"])
	require.EqualValues(t, 86400, layer(b.fake.Schedule("PPRIMARY"), 0)["rotation_turn_length_seconds"])
	require.EqualValues(t, 86400, layer(b.fake.Schedule("PSECONDARY"), 0)["rotation_turn_length_seconds"])

	// Running it again finishes the job.
	rep, err = pdcode.Check(ctx, b.cfg, b.pd, now)
	require.NoError(t, err)
	require.Equal(t, 2, rep.Count())
	res = pdcode.Apply(ctx, b.pd, rep)
	require.Empty(t, res.Failed)
	rep, err = pdcode.Check(ctx, b.cfg, b.pd, now)
	require.NoError(t, err)
	require.True(t, rep.Equal())
}

func TestBadInputWritesNothing(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		setup func(b *bundle)
		want  string
	}{
		{"unknown policy", func(b *bundle) { b.cfg.Escalation.PagerDutyPolicy = "PNOPE" }, "escalation.pagerduty_policy PNOPE: read escalation policy PNOPE: PagerDuty answered 404 Not Found"},
		{"unknown schedule", func(b *bundle) {
			b.cfg.Rotation.PagerDuty = &config.RotationPagerDuty{PrimarySchedule: "PPRIMARY", SecondarySchedule: "PGONE"}
		}, "rotation.pagerduty.secondary_schedule PGONE: read schedule PGONE: PagerDuty answered 404 Not Found"},
		{"bad token", func(b *bundle) {
			b.pd = pagerduty.New(pagerduty.Options{Token: "wrong", BaseURL: b.fake.URL(), Sleep: func(context.Context, time.Duration) error { return nil }})
		}, "PagerDuty answered 401 Unauthorized to GET /escalation_policies/PPOLICY: the token was refused; check PAGERDUTY_TOKEN (Authentication failed, code 2006)"},
		{"rate limited", func(b *bundle) { b.fake.Fail(http.MethodGet, "/schedules/PPRIMARY", http.StatusTooManyRequests, 2) }, "PagerDuty answered 429 Too Many Requests to GET /schedules/PPRIMARY: rate limited, and retries ran out"},
		{"server error", func(b *bundle) { b.fake.Fail(http.MethodGet, "/escalation_policies/PPOLICY", http.StatusBadGateway, 2) }, "PagerDuty answered 502 Bad Gateway to GET /escalation_policies/PPOLICY: PagerDuty is failing"},
		{"not configured", func(b *bundle) {
			b.cfg.Escalation.PagerDutyPolicy = ""
			b.cfg.Rotation.PagerDuty = nil
		}, "the configuration names no PagerDuty escalation policy"},
		{"primary without schedule", func(b *bundle) {
			b.cfg.Rotation.PagerDuty = nil
		}, "escalation.steps[0].notify: primary needs rotation.pagerduty.primary_schedule"},
		{"odd delay", func(b *bundle) { b.cfg.Escalation.Steps[1].After = config.Duration(90 * time.Second) }, "escalation.steps[1].after: 1m30s is not a whole number of minutes"},
		{"person without PagerDuty", func(b *bundle) {
			b.cfg.People[2].PagerDutyID, b.cfg.People[2].Email = "", ""
		}, "escalation.steps[2].notify: Engineering Lead has neither pagerduty_id nor email"},
		{"email unknown to PagerDuty", func(b *bundle) { b.cfg.People[3].PagerDutyID = "" }, "escalation.steps[3].notify: find the PagerDuty user of CTO by email"},
		{"bad id", func(b *bundle) { b.cfg.Escalation.PagerDutyPolicy = "../users" }, `"../users" is not a PagerDuty ID`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			tc.setup(&b)
			p := b.fake.Policy("PPOLICY")
			p["num_loops"] = 3 // a drift that must stay
			b.fake.SetPolicy("PPOLICY", p)
			_, err := pdcode.Check(context.Background(), b.cfg, b.pd, now)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
			require.NotContains(t, err.Error(), pagerdutytest.AsCodeToken)
			require.Empty(t, b.fake.Writes())
		})
	}
}

func TestPeopleFoundByEmail(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.cfg.People[3].PagerDutyID = ""
	b.fake.AddUser("PCTO", "The CTO", "CTO@contextinject.ai")
	b.fake.AddUser("POTHER", "Other", "cto@contextinject.ai.example")
	rep, err := pdcode.Check(context.Background(), b.cfg, b.pd, now)
	require.NoError(t, err)
	require.True(t, rep.Equal(), rep.Text())
}

func TestReportHash(t *testing.T) {
	t.Parallel()
	a := pdcode.Report{Sections: []pdcode.Section{{Object: "x", Differences: []pdcode.Difference{{Field: "f", Have: "1", Want: "2"}}}}}
	b := pdcode.Report{Sections: []pdcode.Section{{Object: "x", Differences: []pdcode.Difference{{Field: "f", Have: "1", Want: "3"}}}}}
	require.NotEqual(t, a.Hash(), b.Hash())
	require.Equal(t, a.Hash(), a.Hash())
	require.Equal(t, "equal", pdcode.Report{}.Hash())
	require.True(t, strings.HasPrefix(a.Text(), "PagerDuty differs from the configuration in 1 field:"))
}
