package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/commands/config"
	"github.com/contextinject/oncallbot/integrations/pagerduty/pagerdutytest"
	"github.com/contextinject/oncallbot/store"
	"github.com/contextinject/oncallbot/store/storetest"
)

func pdRef(typ, id string) map[string]any {
	return map[string]any{"id": id, "type": typ + "_reference"}
}

func pdUsers(ids ...string) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = map[string]any{"user": pdRef("user", id)}
	}
	return out
}

func pdSchedule(id string, members ...string) map[string]any {
	return map[string]any{"id": id, "type": "schedule", "name": id, "time_zone": "UTC",
		"teams": []any{pdRef("team", "PTEAM")},
		"schedule_layers": []any{map[string]any{"id": "L1", "name": "Weekly", "start": "2026-10-01T00:00:00Z",
			"rotation_virtual_start": "2026-11-02T09:00:00Z", "rotation_turn_length_seconds": 604800, "users": pdUsers(members...)}}}
}

func fakePagerDuty(t *testing.T) *pagerdutytest.AsCode {
	f := pagerdutytest.NewAsCode(t)
	rule := func(delay int, target map[string]any) map[string]any {
		return map[string]any{"escalation_delay_in_minutes": delay, "targets": []any{target}}
	}
	f.SetPolicy("PPOLICY", map[string]any{"id": "PPOLICY", "type": "escalation_policy", "name": "ContextInject Production",
		"num_loops": 1, "teams": []any{pdRef("team", "PTEAM")},
		"escalation_rules": []any{rule(15, pdRef("schedule", "PPRIMARY")), rule(15, pdRef("schedule", "PSECONDARY")),
			rule(15, pdRef("user", "PLEAD")), rule(0, pdRef("user", "PCTO"))}})
	f.SetSchedule("PPRIMARY", pdSchedule("PPRIMARY", "PENGA", "PENGB"))
	f.SetSchedule("PSECONDARY", pdSchedule("PSECONDARY", "PENGB", "PENGA"))
	return f
}

func runPD(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(append([]string{"pagerduty"}, args...), envOf(env), nil, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestPagerDutyDiffAndApply(t *testing.T) {
	f := fakePagerDuty(t)
	dbURL := storetest.FreshURL(t)
	env := map[string]string{"PAGERDUTY_TOKEN": pagerdutytest.AsCodeToken, "PAGERDUTY_API_URL": f.URL(), "DATABASE_URL": dbURL}

	code, out, errOut := runPD(t, env, "diff")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "PagerDuty matches the configuration")

	code, out, _ = runPD(t, env, "apply")
	require.Equal(t, 0, code)
	require.Contains(t, out, "Nothing to change.")
	require.Empty(t, f.Writes())

	s := f.Schedule("PSECONDARY")
	s["schedule_layers"].([]any)[0].(map[string]any)["rotation_turn_length_seconds"] = 86400
	f.SetSchedule("PSECONDARY", s)
	code, out, _ = runPD(t, env, "diff")
	t.Logf("$ oncallbot pagerduty diff  (exit %d)\n%s", code, out)
	require.Equal(t, 1, code)
	require.Contains(t, out, "turn length: PagerDuty has 86400 seconds (24h); the configuration wants 604800 seconds (168h)")
	require.Empty(t, f.Writes())

	code, out, errOut = runPD(t, env, "apply")
	t.Logf("$ oncallbot pagerduty apply  (exit %d)\n%s", code, out)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "turn length: PagerDuty has 86400 seconds")
	require.Contains(t, out, "Changed in PagerDuty:\n  - secondary schedule PSECONDARY (PSECONDARY), layer \"Weekly\"")
	require.Len(t, f.Writes(), 1)
	require.Equal(t, []any{pdRef("team", "PTEAM")}, f.Schedule("PSECONDARY")["teams"])

	code, _, _ = runPD(t, env, "diff")
	require.Equal(t, 0, code)

	ctx := context.Background()
	db, err := store.Open(ctx, dbURL, nil)
	require.NoError(t, err)
	defer db.Close()
	audit, err := store.ListAudit(ctx, db.Pool, "pagerduty", 5)
	require.NoError(t, err)
	require.Len(t, audit, 1)
	require.Equal(t, "pagerduty.apply", audit[0].Action)
	require.Equal(t, "cli", audit[0].Actor)
}

func TestPagerDutyBadInput(t *testing.T) {
	f := fakePagerDuty(t)
	dir := t.TempDir()
	unknown := filepath.Join(dir, "oncall.yaml")
	yaml := strings.Replace(string(config.DefaultYAML()), "pagerduty_policy: PPOLICY", "pagerduty_policy: PUNKNOWN", 1)
	require.NoError(t, os.WriteFile(unknown, []byte(yaml), 0o600))
	base := func(extra ...string) map[string]string {
		env := map[string]string{"PAGERDUTY_TOKEN": pagerdutytest.AsCodeToken, "PAGERDUTY_API_URL": f.URL()}
		for i := 0; i+1 < len(extra); i += 2 {
			env[extra[i]] = extra[i+1]
		}
		return env
	}
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no token", base("PAGERDUTY_TOKEN", ""), []string{"diff"}, "PAGERDUTY_TOKEN is not set"},
		{"no token apply", base("PAGERDUTY_TOKEN", ""), []string{"apply"}, "PAGERDUTY_TOKEN is not set"},
		{"bad token", base("PAGERDUTY_TOKEN", "nope"), []string{"apply"}, "401 Unauthorized to GET /escalation_policies/PPOLICY: the token was refused"},
		{"unknown policy", base("ONCALL_CONFIG", unknown), []string{"apply"}, "escalation.pagerduty_policy PUNKNOWN: read escalation policy PUNKNOWN: PagerDuty answered 404 Not Found"},
		{"no verb", base(), nil, "usage:"},
		{"unknown verb", base(), []string{"sync"}, "usage:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runPD(t, tc.env, tc.args...)
			require.Equal(t, 2, code)
			require.Contains(t, errOut, tc.want)
			require.NotContains(t, errOut, pagerdutytest.AsCodeToken)
		})
	}
	require.Empty(t, f.Writes())
}
