package config

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// mutate returns the built-in YAML with each old string replaced once by its
// new string; it fails the test if an old string is missing.
func mutate(t *testing.T, pairs ...string) []byte {
	t.Helper()
	s := string(defaultYAML)
	for i := 0; i+1 < len(pairs); i += 2 {
		require.Contains(t, s, pairs[i], "test setup: text to replace")
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	return []byte(s)
}

func validationErrors(t *testing.T, err error) []FieldError {
	t.Helper()
	require.Error(t, err)
	var ve *ValidationError
	require.True(t, errors.As(err, &ve), "want *ValidationError, got %T: %v", err, err)
	return ve.Errors
}

func TestValidationErrorsNameKeyAndLine(t *testing.T) {
	t.Parallel()
	steps := "  steps:                          # who is notified, and how long to wait for an ack before the next step\n" +
		"    - {notify: [primary], after: 15m}\n    - {notify: [secondary], after: 15m}\n" +
		"    - {notify: [engineering_lead], after: 15m}\n    - {notify: [cto], after: 0m}\n"
	sevs := string(defaultYAML[strings.Index(string(defaultYAML), "severities:\n"):strings.Index(string(defaultYAML), "\nhandoff:")])
	tests := []struct {
		name    string
		changes []string // old, new, old, new …
		key     string
		line    int
		msg     string // substring of the message
	}{
		// Durations and types.
		{"bad duration", []string{"length: 168h", "length: 1x"}, "rotation.length", 24, `"1x" is not a duration (use 15m, 1h, 168h)`},
		{"target word is not a duration", []string{"nudge_after: 1h", "nudge_after: next_business_day"}, "handoff.nudge_after", 47, `"next_business_day" is not a duration`},
		{"list where a value goes", []string{"loops: 2", "loops: [2]"}, "escalation.loops", 36, "expected a whole number, got a list"},
		{"value where a list goes", []string{"admins: [U0LEAD, U0CTO]", "admins: U0LEAD"}, "admins", 19, `expected a list, got "U0LEAD"`},
		{"value where a mapping goes", []string{"http:\n  public_url: http://localhost:8080", "http: on\nxpublic_url: http://localhost:8080"}, "http", 70, "expected a mapping"},
		{"duplicate key", []string{"timezone: UTC\n", "timezone: UTC\ntimezone: UTC\n"}, "timezone", 2, "duplicate key (first at line 1)"},

		// Unknown keys at several depths.
		{"unknown top-level key", []string{"timezone: UTC\n", "timezone: UTC\ncolour: blue\n"}, "colour", 2, "unknown key"},
		{"unknown key in channels", []string{"  incidents: C0INCIDENTS", "  incidentz: C0INCIDENTS"}, "channels.incidentz", 5, "unknown key"},
		{"unknown key in a list item", []string{"{notify: [secondary], after: 15m}", "{notify: [secondary], afterr: 15m}"}, "escalation.steps[1].afterr", 33, "unknown key"},
		{"unknown key in a person", []string{"pagerduty_id: PCTO, role: cto}", "pagerduty_id: PCTO, role: cto, team: x}"}, "people[3].team", 18, "unknown key"},
		{"unknown key in a severity", []string{"P2: {acknowledge: 30m", "P2: {acknowledge: 30m, escalate: 1h"}, "severities.P2.escalate", 41, "unknown key"},
		{"unknown key three deep", []string{"redis: {url_env: DIAG_REDIS_URL", "redis: {urlenv: DIAG_REDIS_URL"}, "diagnostics.redis.urlenv", 54, "unknown key"},
		{"unknown key in rotation.pagerduty", []string{"    secondary_schedule: PSECONDARY", "    tertiary_schedule: PSECONDARY"}, "rotation.pagerduty.tertiary_schedule", 27, "unknown key"},

		// Time zone and business hours.
		{"bad time zone", []string{"timezone: UTC", "timezone: Mars/Olympus"}, "timezone", 1, `"Mars/Olympus" is not a time zone`},
		{"Local time zone", []string{"timezone: UTC", "timezone: Local"}, "timezone", 1, "is not a time zone"},
		{"bad day", []string{"days: [Mon,", "days: [Mun,"}, "business_hours.days[0]", 2, `"Mun" is not a day`},
		{"day twice", []string{"Thu, Fri]", "Thu, Mon]"}, "business_hours.days[4]", 2, "listed twice"},
		{"no days", []string{"days: [Mon, Tue, Wed, Thu, Fri]", "days: []"}, "business_hours.days", 2, "at least one day"},
		{"bad clock", []string{`start: "09:00"`, `start: "9am"`}, "business_hours.start", 2, `"9am" is not a time of day`},
		{"start after end", []string{`start: "09:00", end: "18:00"`, `start: "18:00", end: "09:00"`}, "business_hours.end", 2, "must be after start"},
		{"no business hours", []string{`business_hours: {days: [Mon, Tue, Wed, Thu, Fri], start: "09:00", end: "18:00"}`, ""}, "business_hours", 1, "is required"},

		// Channels and user groups.
		{"bad channel ID", []string{"monitoring: C0MONITORING", `monitoring: "#monitoring"`}, "channels.monitoring", 7, "is not a Slack channel ID"},
		{"missing channel", []string{"  monitoring: C0MONITORING\n", ""}, "channels.monitoring", 4, "is required"},
		{"bad user group", []string{"oncall: S0ONCALL", "oncall: oncall"}, "usergroups.oncall", 10, "is not a Slack user group ID"},

		// People.
		{"duplicate slack_id", []string{"{slack_id: U0ENGB,", "{slack_id: U0ENGA,"}, "people[1].slack_id", 16, `"U0ENGA" is already used by people[0] (line 15)`},
		{"bad slack_id", []string{"{slack_id: U0CTO,", "{slack_id: cto,"}, "people[3].slack_id", 18, `"cto" is not a Slack user ID`},
		{"empty name", []string{"name: Engineer B,", `name: "",`}, "people[1].name", 16, "is required"},
		{"bad email", []string{"email: engineer-b@contextinject.ai", "email: engineer-b"}, "people[1].email", 16, `"engineer-b" is not an email address`},
		{"duplicate email", []string{"email: engineer-b@contextinject.ai", "email: Engineer-A@contextinject.ai"}, "people[1].email", 16, "already used by people[0]"},
		{"bad role", []string{"role: cto}", "role: boss}"}, "people[3].role", 18, `"boss" is not a role`},
		{"no people", []string{"people:\n", "people: []\nxpeople:\n"}, "people", 14, "at least one person"},
		{"unknown admin", []string{"admins: [U0LEAD, U0CTO]", "admins: [U0LEAD, U0BOSS]"}, "admins[1]", 19, `"U0BOSS" is not a person of people:`},

		// Rotation.
		{"unknown person in pool", []string{"pool: [U0ENGA, U0ENGB]", "pool: [U0ENGA, U0NOPE]"}, "rotation.pool[1]", 22, `"U0NOPE" is not a person of people:`},
		{"role word in pool", []string{"pool: [U0ENGA, U0ENGB]", "pool: [U0ENGA, engineers]"}, "rotation.pool[1]", 22, `"engineers" is not a person of people:`},
		{"duplicate in pool", []string{"pool: [U0ENGA, U0ENGB]", "pool: [U0ENGA, U0ENGA]"}, "rotation.pool[1]", 22, "listed twice"},
		{"empty pool", []string{"pool: [U0ENGA, U0ENGB]", "pool: []"}, "rotation.pool", 22, "at least one person"},
		{"missing start", []string{"  start: 2026-11-02T09:00:00Z     # first shift starts here (a Monday, 09:00 UTC)\n", ""}, "rotation.start", 21, "is required"},
		{"bad start", []string{"start: 2026-11-02T09:00:00Z", "start: next monday"}, "rotation.start", 23, `"next monday" is not a time`},
		{"length too short", []string{"length: 168h", "length: 30m"}, "rotation.length", 24, "at least 1h"},
		{"length zero", []string{"length: 168h", "length: 0h"}, "rotation.length", 24, "must be positive"},
		{"missing length", []string{"  length: 168h                    # one week\n", ""}, "rotation.length", 21, "is required"},
		{"empty pagerduty block", []string{"    primary_schedule: PPRIMARY\n    secondary_schedule: PSECONDARY\n", "    {}\n"}, "rotation.pagerduty", 25, "names no schedule"},

		// Escalation.
		{"unknown person in notify", []string{"{notify: [secondary], after: 15m}", "{notify: [U0NOPE], after: 15m}"}, "escalation.steps[1].notify[0]", 33,
			`"U0NOPE" is neither a role word (primary, secondary, engineering_lead, cto, engineers) nor a person of people:`},
		{"no steps", []string{steps, "  steps: []\n"}, "escalation.steps", 31, "at least one step"},
		{"empty notify", []string{"{notify: [cto], after: 0m}", "{notify: [], after: 0m}"}, "escalation.steps[3].notify", 35, "at least one role word"},
		{"negative after", []string{"{notify: [cto], after: 0m}", "{notify: [cto], after: -5m}"}, "escalation.steps[3].after", 35, "negative"},
		{"loops zero", []string{"loops: 2", "loops: 0"}, "escalation.loops", 36, "at least once"},
		{"loops not a number", []string{"loops: 2", "loops: two"}, "escalation.loops", 36, `"two" is not a whole number`},

		// Severities.
		{"bad severity name", []string{"  P4: {", "  Sev4: {"}, "severities.Sev4", 43, "is not a severity name"},
		{"P0 is not a severity", []string{"  P4: {", "  P0: {"}, "severities.P0", 43, "is not a severity name"},
		{"missing acknowledge", []string{"P2: {acknowledge: 30m, ", "P2: {"}, "severities.P2.acknowledge", 41, "is required"},
		{"missing resolve", []string{"resolve: 4h, ", ""}, "severities.P2.resolve", 41, "is required"},
		{"bad target", []string{"P2: {acknowledge: 30m", "P2: {acknowledge: soon"}, "severities.P2.acknowledge", 41, `"soon" is neither a duration nor next_business_day`},
		{"zero target", []string{"first_update: 4h", "first_update: 0m"}, "severities.P3.first_update", 42, "positive"},
		{"bad after_hours", []string{"after_hours: same}", "after_hours: never}"}, "severities.P2.after_hours", 41, `"never" is not an after-hours rule`},
		{"unknown broadcast", []string{"broadcast: [cto, engineers]", "broadcast: [cto, everyone]"}, "severities.P1.broadcast[1]", 40, `"everyone" is neither a role word`},
		{"no severities", []string{sevs, "severities: {}"}, "severities", 39, "at least one severity"},

		// Handoff.
		{"cron spec that panics the parser", []string{`reminder: "CRON_TZ=UTC 0 9 * * MON"`, `reminder: "CRON_TZ=UTC"`}, "handoff.reminder", 46, `"CRON_TZ=UTC" is not a cron spec`},
		{"cron spec out of range", []string{`reminder: "CRON_TZ=UTC 0 9 * * MON"`, `reminder: "0 25 * * *"`}, "handoff.reminder", 46, "is not a cron spec"},
		{"cron spec bad zone", []string{`reminder: "CRON_TZ=UTC 0 9 * * MON"`, `reminder: "CRON_TZ=Nowhere/Land 0 9 * * MON"`}, "handoff.reminder", 46, "is not a cron spec"},
		{"missing reminder", []string{`  reminder: "CRON_TZ=UTC 0 9 * * MON"`, "  # no reminder"}, "handoff.reminder", 45, "is required"},
		{"nudge zero", []string{"nudge_after: 1h", "nudge_after: 0m"}, "handoff.nudge_after", 47, "must be positive"},
		{"negative heads_up", []string{"heads_up: 24h", "heads_up: -1h"}, "handoff.heads_up", 48, "negative"},

		// Diagnostics.
		{"api_health not http", []string{"api_health: https://api.contextinject.ai/health", "api_health: ftp://api.contextinject.ai/health"}, "diagnostics.api_health", 51, "is not an http:// or https:// URL"},
		{"tls without port", []string{"tls: [api.contextinject.ai:443]", "tls: [api.contextinject.ai]"}, "diagnostics.tls[0]", 52, "is not host:port"},
		{"tls bad port", []string{"tls: [api.contextinject.ai:443]", "tls: [api.contextinject.ai:99999]"}, "diagnostics.tls[0]", 52, "is not host:port"},
		{"bad env name", []string{"url_env: DIAG_POSTGRES_URL", "url_env: DIAG-POSTGRES"}, "diagnostics.postgres.url_env", 53, "is not an environment variable name"},
		{"missing env name", []string{"redis: {url_env: DIAG_REDIS_URL, ", "redis: {"}, "diagnostics.redis.url_env", 54, "is required"},
		{"qdrant not a URL", []string{"url: http://qdrant:6333", "url: qdrant:6333"}, "diagnostics.qdrant.url", 55, "is not an http:// or https:// URL"},
		{"bad repo", []string{"repo: contextinject/context-inject}", "repo: context-inject}"}, "diagnostics.github.repo", 56, "owner/name"},
		{"timeout zero", []string{"timeout: 5s", "timeout: 0s"}, "diagnostics.timeout", 57, "must be positive"},

		// Links and HTTP.
		{"link without name", []string{"{name: Grafana, ", "{name: '', "}, "links[1].name", 61, "is required"},
		{"link with bad url", []string{"url: https://grafana.internal.contextinject.ai", "url: grafana.internal"}, "links[1].url", 61, "is not an http:// or https:// URL"},
		{"public_url with query", []string{"public_url: http://localhost:8080", "public_url: http://localhost:8080/?a=1"}, "http.public_url", 71, "must not have a query"},
		{"public_url relative", []string{"public_url: http://localhost:8080", "public_url: /calendar"}, "http.public_url", 71, "is not an http:// or https:// URL"},

		// Extra files.
		{"empty playbook path", []string{"playbooks: []", `playbooks: [""]`}, "playbooks[0]", 74, "is empty"},

		// The file as a whole.
		{"YAML syntax error", []string{"loops: 2", "loops: [2"}, "", 36, "invalid YAML"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("oncall.yaml", mutate(t, tc.changes...))
			errs := validationErrors(t, err)
			for _, fe := range errs {
				if fe.Key == tc.key && strings.Contains(fe.Msg, tc.msg) {
					require.Equal(t, tc.line, fe.Line, "line of %s", fe)
					require.Equal(t, "oncall.yaml", fe.File)
					return
				}
			}
			require.Failf(t, "error not reported", "want %s at line %d with %q; got:\n%v", tc.key, tc.line, tc.msg, err)
		})
	}
}

func TestErrorFormat(t *testing.T) {
	t.Parallel()
	_, err := Parse("oncall.yaml", mutate(t, "length: 168h", "length: 1x"))
	require.EqualError(t, err, `oncall.yaml:24: rotation.length: "1x" is not a duration (use 15m, 1h, 168h)`)

	_, err = Parse("oncall.yaml", mutate(t, "  incidents: C0INCIDENTS", "  incidentz: C0INCIDENTS"))
	errs := validationErrors(t, err)
	require.Contains(t, err.Error(), "oncall.yaml:5: channels.incidentz: unknown key")
	require.Len(t, errs, 2, "the unknown key and the missing incidents channel: %v", err)

	_, err = Parse("oncall.yaml", mutate(t, "{notify: [secondary], after: 15m}", "{notify: [U0NOPE], after: 15m}"))
	require.EqualError(t, err, `oncall.yaml:33: escalation.steps[1].notify[0]: "U0NOPE" is neither a role word (primary, secondary, engineering_lead, cto, engineers) nor a person of people:`)
}

func TestAllErrorsCollectedAndSorted(t *testing.T) {
	t.Parallel()
	data := mutate(t,
		"heads_up: 24h", "heads_up: soon",
		"timezone: UTC", "timezone: Nowhere",
		"pool: [U0ENGA, U0ENGB]", "pool: [U0ENGA, U0NOPE]",
		`reminder: "CRON_TZ=UTC 0 9 * * MON"`, `reminder: "TZ="`,
		"  incidents: C0INCIDENTS", "  incidentz: C0INCIDENTS",
	)
	_, err := Parse("oncall.yaml", data)
	errs := validationErrors(t, err)
	require.GreaterOrEqual(t, len(errs), 6)
	require.True(t, sort.SliceIsSorted(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line }))
	lines := strings.Split(err.Error(), "\n")
	require.Len(t, lines, len(errs))
	for i, l := range lines {
		require.True(t, strings.HasPrefix(l, "oncall.yaml:"), l)
		require.Equal(t, errs[i].Error(), l)
	}
	keys := make([]string, len(errs))
	for i, e := range errs {
		keys[i] = e.Key
	}
	for _, k := range []string{"timezone", "channels.incidentz", "channels.incidents", "rotation.pool[1]", "handoff.reminder", "handoff.heads_up"} {
		require.Contains(t, keys, k)
	}
}

func TestEmptyAndNonMappingFiles(t *testing.T) {
	t.Parallel()
	for _, data := range []string{"", "# nothing\n", "- a\n- b\n", "just text"} {
		_, err := Parse("oncall.yaml", []byte(data))
		errs := validationErrors(t, err)
		require.Len(t, errs, 1, "%q", data)
		require.Equal(t, 1, errs[0].Line)
	}
}

func TestDefaultMatchesSpec(t *testing.T) {
	t.Parallel()
	c := Default()
	require.Equal(t, BuiltIn, c.Source)
	require.Equal(t, "UTC", c.Timezone)
	require.Equal(t, time.UTC, c.Location)
	require.Equal(t, []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}, c.BusinessHours.Weekdays)
	require.Equal(t, 9*60, c.BusinessHours.StartMinute)
	require.Equal(t, 18*60, c.BusinessHours.EndMinute)
	require.Equal(t, Channels{Incidents: "C0INCIDENTS", Engineering: "C0ENGINEERING", Monitoring: "C0MONITORING"}, c.Channels)
	require.Equal(t, Usergroups{Oncall: "S0ONCALL", Primary: "S0PRIMARY", Secondary: "S0SECONDARY"}, c.Usergroups)
	require.Len(t, c.People, 4)
	require.Equal(t, Person{SlackID: "U0LEAD", Name: "Engineering Lead", Email: "lead@contextinject.ai", PagerDutyID: "PLEAD", Role: RoleEngineeringLead}, c.People[2])
	require.Equal(t, []string{"U0LEAD", "U0CTO"}, c.Admins)
	require.Equal(t, []string{"U0ENGA", "U0ENGB"}, c.Rotation.Pool)
	require.True(t, time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC).Equal(c.Rotation.Start))
	require.Equal(t, time.Monday, c.Rotation.Start.Weekday())
	require.Equal(t, 168*time.Hour, c.Rotation.Length.D())
	require.Equal(t, &RotationPagerDuty{PrimarySchedule: "PPRIMARY", SecondarySchedule: "PSECONDARY"}, c.Rotation.PagerDuty)
	require.Equal(t, "ContextInject Production", c.Escalation.Name)
	require.Equal(t, []EscalationStep{
		{Notify: []string{"primary"}, After: Duration(15 * time.Minute)},
		{Notify: []string{"secondary"}, After: Duration(15 * time.Minute)},
		{Notify: []string{"engineering_lead"}, After: Duration(15 * time.Minute)},
		{Notify: []string{"cto"}, After: 0},
	}, c.Escalation.Steps)
	require.Equal(t, 2, c.Escalation.Loops)
	require.Equal(t, "PPOLICY", c.Escalation.PagerDutyPolicy)
	require.Equal(t, []string{"P1", "P2", "P3", "P4"}, c.SeverityNames())
	require.Equal(t, Severity{
		Acknowledge: Target{Duration: 15 * time.Minute}, Investigate: Target{Duration: 15 * time.Minute},
		FirstUpdate: Target{Duration: 30 * time.Minute}, Resolve: Target{Duration: time.Hour},
		AfterHours: AfterHoursSame, Broadcast: []string{"cto", "engineers"},
	}, c.Severities["P1"])
	require.Equal(t, AfterHoursNextBusinessMorning, c.Severities["P3"].AfterHours)
	p4, ok := c.Severity("p4")
	require.True(t, ok)
	require.Equal(t, Severity{
		Acknowledge: Target{NextBusinessDay: true}, Investigate: Target{NextBusinessDay: true},
		Resolve: Target{Duration: 168 * time.Hour}, AfterHours: AfterHoursNextBusinessDay,
	}, p4)
	require.True(t, p4.FirstUpdate.IsZero())
	require.Equal(t, Handoff{Reminder: "CRON_TZ=UTC 0 9 * * MON", NudgeAfter: Duration(time.Hour), HeadsUp: Duration(24 * time.Hour)}, c.Handoff)
	require.Equal(t, "https://api.contextinject.ai/health", c.Diagnostics.APIHealth)
	require.Equal(t, []string{"api.contextinject.ai:443"}, c.Diagnostics.TLS)
	require.Equal(t, &DiagPostgres{URLEnv: "DIAG_POSTGRES_URL"}, c.Diagnostics.Postgres)
	require.Equal(t, &DiagRedis{URLEnv: "DIAG_REDIS_URL", Queues: []string{"ingest-document"}}, c.Diagnostics.Redis)
	require.Equal(t, &DiagQdrant{URL: "http://qdrant:6333"}, c.Diagnostics.Qdrant)
	require.Equal(t, &DiagGitHub{Repo: "contextinject/context-inject"}, c.Diagnostics.GitHub)
	require.Equal(t, 5*time.Second, c.Diagnostics.Timeout.D())
	require.Len(t, c.Links, 9)
	require.Equal(t, Link{Name: "Cohere status", URL: "https://status.cohere.com"}, c.Links[8])
	require.Equal(t, "http://localhost:8080", c.HTTP.PublicURL)
	require.Empty(t, c.Playbooks)
	require.Empty(t, c.Templates)

	// The reminder fires Mondays at 09:00 UTC.
	next := c.ReminderSchedule().Next(time.Date(2026, 11, 4, 0, 0, 0, 0, time.UTC))
	require.True(t, time.Date(2026, 11, 9, 9, 0, 0, 0, time.UTC).Equal(next), "%s", next)

	// Each call is a fresh copy.
	c.People[0].Name = "changed"
	require.Equal(t, "Engineer A", Default().People[0].Name)
	require.Equal(t, defaultYAML, DefaultYAML())
}

func TestDefaultYAMLIsTheSpecExample(t *testing.T) {
	t.Parallel()
	spec, err := os.ReadFile("/work/shared/SPEC.md")
	if err != nil {
		t.Skip("SPEC.md not available here")
	}
	s := string(spec)
	i := strings.Index(s, "```yaml\n")
	require.GreaterOrEqual(t, i, 0)
	s = s[i+len("```yaml\n"):]
	s = s[:strings.Index(s, "```")]
	require.Equal(t, s, string(defaultYAML))
}

func TestDefaultsForOmittedKeys(t *testing.T) {
	t.Parallel()
	c, err := Parse("oncall.yaml", mutate(t,
		"timezone: UTC\n", "",
		"  loops: 2\n", "",
		"  nudge_after: 1h                        # no handoff posted by then: remind outgoing primary and lead\n", "",
		"  heads_up: 24h                          # DM each person this long before their shift starts\n", "",
		"  timeout: 5s                                      # per check\n", "",
		", after_hours: same}", "}",
	))
	require.NoError(t, err)
	require.Equal(t, "UTC", c.Timezone)
	require.Equal(t, time.UTC, c.Location)
	require.Equal(t, 1, c.Escalation.Loops)
	require.Equal(t, DefaultNudgeAfter, c.Handoff.NudgeAfter)
	require.Equal(t, DefaultHeadsUp, c.Handoff.HeadsUp)
	require.Equal(t, DefaultDiagnosticTimeout, c.Diagnostics.Timeout)
	require.Equal(t, AfterHoursSame, c.Severities["P2"].AfterHours)
}

const berlinYAML = `
timezone: Europe/Berlin
business_hours: {days: [Monday, tue, Wed, Thu, Fri], start: "08:30", end: "17:00"}
channels: {incidents: C0INC, engineering: C0ENG, monitoring: C0MON}
people:
  - &a {slack_id: U0A, name: Ada, email: ada@example.com}
  - {slack_id: U0B, name: Bo, email: bo@example.com}
  - {slack_id: U0C, name: Cy, role: engineering_lead}
  - {slack_id: W0D, name: Di, role: engineering_lead}
admins: [U0C]
rotation: {pool: [U0A, U0B], start: "2027-03-15T09:00:00", length: 168h}
escalation:
  steps:
    - {notify: [primary, U0C], after: 10m}
    - {notify: [engineers, engineering_lead], after: 0m}
severities:
  base: &base {acknowledge: 1h, resolve: 8h}
  P1: {<<: *base, acknowledge: 5m, broadcast: [engineers, W0D]}
handoff: {reminder: "0 9 * * MON"}
`

func TestParseZonesRolesAndMerges(t *testing.T) {
	t.Parallel()
	_, err := Parse("team.yaml", []byte(berlinYAML))
	errs := validationErrors(t, err)
	require.Len(t, errs, 1)
	require.Equal(t, "severities.base", errs[0].Key)
	require.Equal(t, 17, errs[0].Line)

	c, err := Parse("team.yaml", []byte(strings.Replace(berlinYAML, "  base: &base {acknowledge: 1h, resolve: 8h}\n  P1: {<<: *base,", "  P2: &base {acknowledge: 1h, resolve: 8h}\n  P1: {<<: *base,", 1)))
	require.NoError(t, err)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	require.Equal(t, "Europe/Berlin", c.Location.String())
	require.True(t, time.Date(2027, 3, 15, 8, 0, 0, 0, time.UTC).Equal(c.Rotation.Start), "zone-less start read in the configured zone: %s", c.Rotation.Start)
	require.Equal(t, time.Monday, c.BusinessHours.Weekdays[0])
	require.Equal(t, 8*60+30, c.BusinessHours.StartMinute)
	p1, _ := c.Severity("P1")
	require.Equal(t, 5*time.Minute, p1.Acknowledge.Duration, "explicit key wins over the merge")
	require.Equal(t, 8*time.Hour, p1.Resolve.Duration, "merged from the anchor")

	// The reminder without CRON_TZ runs in the configured zone, across DST.
	next := c.ReminderSchedule().Next(time.Date(2027, 3, 26, 0, 0, 0, 0, time.UTC))
	require.True(t, time.Date(2027, 3, 29, 9, 0, 0, 0, berlin).Equal(next), "%s", next)
	require.Equal(t, 7, next.UTC().Hour())

	// Role words resolve to everyone with the role.
	require.Equal(t, []string{"U0C", "W0D"}, c.WithRole(RoleEngineeringLead))
	require.Empty(t, c.WithRole(RoleCTO))
	require.Equal(t, []string{"U0B", "U0C"}, c.Recipients(c.Escalation.Steps[0].Notify, "U0B", "U0A"))
	require.Equal(t, []string{"U0A", "U0B", "U0C", "W0D"}, c.Recipients(c.Escalation.Steps[1].Notify, "U0B", "U0A"))
	require.Equal(t, []string{"U0A", "W0D"}, c.Recipients([]string{"primary", "secondary", "W0D"}, "U0A", "U0A"))

	r := c.RotationSchedule()
	require.Equal(t, c.Location, r.Location)
	s, ok := r.At(time.Date(2027, 3, 29, 6, 59, 59, 0, time.UTC), nil)
	require.True(t, ok)
	require.Equal(t, 1, s.Index)
	require.Equal(t, 167*time.Hour, s.End.Sub(s.Start))
}

func TestAccessors(t *testing.T) {
	t.Parallel()
	c := Default()
	p, ok := c.Person("U0ENGB")
	require.True(t, ok)
	require.Equal(t, "Engineer B", p.Name)
	_, ok = c.Person("U0NOPE")
	require.False(t, ok)
	p, ok = c.PersonByEmail(" CTO@ContextInject.ai ")
	require.True(t, ok)
	require.Equal(t, "U0CTO", p.SlackID)
	_, ok = c.PersonByEmail("")
	require.False(t, ok)
	p, ok = c.PersonByPagerDutyID("PENGA")
	require.True(t, ok)
	require.Equal(t, "U0ENGA", p.SlackID)
	require.Equal(t, "CTO", c.Name("U0CTO"))
	require.Equal(t, "U0STRANGER", c.Name("U0STRANGER"))
	require.True(t, c.IsAdmin("U0LEAD"))
	require.False(t, c.IsAdmin("U0ENGA"))
	require.True(t, c.InPool("U0ENGA"))
	require.False(t, c.InPool("U0CTO"))
	require.True(t, c.Known("U0CTO"))
	require.False(t, c.Known("U0NOPE"))
	require.Equal(t, []string{"U0LEAD"}, c.WithRole(RoleEngineeringLead))
	require.Equal(t, []string{"U0CTO"}, c.WithRole(RoleCTO))
	require.Empty(t, c.WithRole(""))
	require.Equal(t, []string{"U0CTO", "U0ENGA", "U0ENGB"}, c.Recipients(c.Severities["P1"].Broadcast, "U0ENGA", "U0ENGB"))
	_, ok = c.Severity("P9")
	require.False(t, ok)

	r := c.RotationSchedule()
	s, ok := r.At(time.Date(2026, 11, 9, 9, 0, 0, 0, time.UTC), nil)
	require.True(t, ok)
	require.Equal(t, "U0ENGB", s.Primary)
	require.Equal(t, "U0ENGA", s.Secondary)
}

func TestPublicURL(t *testing.T) {
	t.Parallel()
	c := Default()
	require.Equal(t, "http://localhost:8080", c.PublicURL(":9999"))
	c.HTTP.PublicURL = "https://oncall.example.com/"
	require.Equal(t, "https://oncall.example.com", c.PublicURL(":9999"))
	c.HTTP.PublicURL = ""
	for addr, want := range map[string]string{
		":9090":          "http://localhost:9090",
		"0.0.0.0:8181":   "http://localhost:8181",
		"127.0.0.1:7000": "http://localhost:7000",
		"[::1]:7001":     "http://localhost:7001",
		"":               "http://localhost:8080",
		"9000":           "http://localhost:9000",
		"nonsense":       "http://localhost:8080",
	} {
		require.Equal(t, want, c.PublicURL(addr), addr)
	}
}

func TestParseCron(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 4, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		spec string
		ok   bool
		next time.Time
	}{
		{"CRON_TZ=UTC 0 9 * * MON", true, time.Date(2026, 11, 9, 9, 0, 0, 0, time.UTC)},
		{"30 0 9 * * MON", true, time.Date(2026, 11, 9, 9, 0, 30, 0, time.UTC)},
		{"@every 1h", true, at.Add(time.Hour)},
		{"CRON_TZ=UTC @weekly", true, time.Date(2026, 11, 8, 0, 0, 0, 0, time.UTC)},
		{"CRON_TZ=UTC", false, time.Time{}},
		{"TZ=", false, time.Time{}},
		{"TZ=0", false, time.Time{}},
		{"CRON_TZ=UTC\t0 9 * * MON", false, time.Time{}},
		{"", false, time.Time{}},
		{"0 9 * *", false, time.Time{}},
		{"@fortnightly", false, time.Time{}},
	}
	for _, tc := range tests {
		s, err := ParseCron(tc.spec)
		if !tc.ok {
			require.Error(t, err, tc.spec)
			continue
		}
		require.NoError(t, err, tc.spec)
		require.True(t, tc.next.Equal(s.Next(at)), "%s: %s", tc.spec, s.Next(at))
	}
}

func TestDurationAndTargetYAML(t *testing.T) {
	t.Parallel()
	var v struct {
		D Duration `yaml:"dur"`
		T Target   `yaml:"tgt"`
		N Target   `yaml:"nbd"`
	}
	require.NoError(t, yaml.Unmarshal([]byte("dur: 90m\ntgt: 2h\nnbd: next_business_day\n"), &v))
	require.Equal(t, 90*time.Minute, v.D.D())
	require.Equal(t, "1h30m", v.D.String())
	require.Equal(t, 2*time.Hour, v.T.Duration)
	require.True(t, v.N.NextBusinessDay)
	out, err := yaml.Marshal(v)
	require.NoError(t, err)
	require.Equal(t, "dur: 1h30m\ntgt: 2h\nnbd: next_business_day\n", string(out))

	err = yaml.Unmarshal([]byte("dur: 1x\n"), &v)
	require.ErrorContains(t, err, `line 1: "1x" is not a duration (use 15m, 1h, 168h)`)
	err = yaml.Unmarshal([]byte("tgt: [1h]\n"), &v)
	require.ErrorContains(t, err, "expected a duration or next_business_day, got a list")

	for d, want := range map[time.Duration]string{0: "0m", 15 * time.Minute: "15m", time.Hour: "1h", 168 * time.Hour: "168h", 90 * time.Second: "1m30s", 5 * time.Second: "5s"} {
		require.Equal(t, want, FormatDuration(d))
	}
}

func TestLoadResolvesExtraFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "pb"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "pb", "db.yaml"), []byte("name: db\n"), 0o644))
	path := filepath.Join(dir, "oncall.yaml")
	require.NoError(t, os.WriteFile(path, mutate(t, "playbooks: []", "playbooks: [pb/db.yaml]"), 0o644))
	c, err := Load(path)
	require.NoError(t, err)
	require.Equal(t, []string{filepath.Join(dir, "pb", "db.yaml")}, c.Playbooks)
	require.Equal(t, path, c.Source)

	require.NoError(t, os.WriteFile(path, mutate(t, "templates: []", "templates: [missing.md, pb]"), 0o644))
	_, err = Load(path)
	errs := validationErrors(t, err)
	require.Len(t, errs, 2)
	require.Equal(t, FieldError{File: path, Line: 75, Key: "templates[0]", Msg: `"missing.md" cannot be read (looked at ` + filepath.Join(dir, "missing.md") + ")"}, errs[0])
	require.Equal(t, "templates[1]", errs[1].Key)
	require.Contains(t, errs[1].Msg, "is a directory")

	// Parse keeps paths as written and does not look at the disk.
	c, err = Parse("oncall.yaml", mutate(t, "templates: []", "templates: [missing.md]"))
	require.NoError(t, err)
	require.Equal(t, []string{"missing.md"}, c.Templates)

	_, err = Load(filepath.Join(dir, "nope.yaml"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

// TestResolve changes the working directory, so it does not run in parallel.
func TestResolve(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)

	c, err := Resolve("")
	require.NoError(t, err)
	require.Equal(t, BuiltIn, c.Source, "no ./oncall.yaml: the built-in configuration")

	require.NoError(t, os.WriteFile(DefaultFile, mutate(t, "name: Engineer A,", "name: Ada,"), 0o644))
	c, err = Resolve("")
	require.NoError(t, err)
	require.Equal(t, DefaultFile, c.Source)
	require.Equal(t, "Ada", c.Name("U0ENGA"))

	other := filepath.Join(dir, "team.yaml")
	require.NoError(t, os.WriteFile(other, mutate(t, "name: Engineer A,", "name: Alan,"), 0o644))
	c, err = Resolve(other)
	require.NoError(t, err)
	require.Equal(t, other, c.Source)
	require.Equal(t, "Alan", c.Name("U0ENGA"))

	_, err = Resolve(filepath.Join(dir, "missing.yaml"))
	require.ErrorIs(t, err, os.ErrNotExist, "an explicit ONCALL_CONFIG must exist")

	require.NoError(t, os.WriteFile(DefaultFile, []byte("timezone: [\n"), 0o644))
	_, err = Resolve("")
	errs := validationErrors(t, err)
	require.Equal(t, DefaultFile, errs[0].File, "a broken ./oncall.yaml is an error, not a silent fallback")
}
