// Package config holds the team configuration (oncall.yaml, SPEC §4): its schema,
// the built-in ContextInject configuration, strict loading and validation.
package config

import (
	"time"

	"github.com/robfig/cron/v3"
)

// Config is a validated team configuration. Every duration is parsed, every
// person reference resolved and every cron spec checked by Load.
type Config struct {
	Timezone      string        `yaml:"timezone"`
	BusinessHours BusinessHours `yaml:"business_hours"`
	Channels      Channels      `yaml:"channels"`
	Usergroups    Usergroups    `yaml:"usergroups"`
	People        []Person      `yaml:"people"`
	Admins        []string      `yaml:"admins"`
	Rotation      Rotation      `yaml:"rotation"`
	Escalation    Escalation    `yaml:"escalation"`
	// Severities by name ("P1".."P9"); SeverityNames lists the names sorted.
	Severities  map[string]Severity `yaml:"severities"`
	Handoff     Handoff             `yaml:"handoff"`
	Diagnostics Diagnostics         `yaml:"diagnostics"`
	Links       []Link              `yaml:"links"`
	HTTP        HTTP                `yaml:"http"`
	// Playbooks and Templates are extra files. Load resolves them against the
	// configuration file's directory (absolute paths) and checks they exist;
	// Parse keeps them as written.
	Playbooks []string `yaml:"playbooks"`
	Templates []string `yaml:"templates"`

	// Location is Timezone resolved; never nil after Load.
	Location *time.Location `yaml:"-"`
	// Source names where the configuration came from ("built-in" or a path).
	Source string `yaml:"-"`

	// reminder is Handoff.Reminder parsed in Location; see ReminderSchedule.
	reminder cron.Schedule
}

// BusinessHours are the team's working hours in Config.Location.
type BusinessHours struct {
	Days  []string `yaml:"days"`  // Mon..Sun
	Start string   `yaml:"start"` // "09:00"
	End   string   `yaml:"end"`   // "18:00"

	// Weekdays, StartMinute and EndMinute are Days, Start and End parsed.
	Weekdays    []time.Weekday `yaml:"-"`
	StartMinute int            `yaml:"-"`
	EndMinute   int            `yaml:"-"`
}

// Channels are Slack channel IDs.
type Channels struct {
	Incidents   string `yaml:"incidents"`
	Engineering string `yaml:"engineering"`
	Monitoring  string `yaml:"monitoring"`
}

// Usergroups are optional Slack user group IDs kept equal to who is on call.
type Usergroups struct {
	Oncall    string `yaml:"oncall"`
	Primary   string `yaml:"primary"`
	Secondary string `yaml:"secondary"`
}

// Person is someone the bot knows. Only people of the configuration may change state.
type Person struct {
	SlackID     string `yaml:"slack_id"`
	Name        string `yaml:"name"`
	Email       string `yaml:"email"`
	PagerDutyID string `yaml:"pagerduty_id"`
	Role        string `yaml:"role"` // "", "engineering_lead" or "cto"
}

// Rotation is the weekly primary rotation (SPEC §5).
type Rotation struct {
	Pool []string `yaml:"pool"`
	// Start is the first shift's start. A value written without a UTC offset
	// ("2026-11-02T09:00:00") is read in the configured timezone.
	Start     time.Time          `yaml:"start"`
	Length    Duration           `yaml:"length"`
	PagerDuty *RotationPagerDuty `yaml:"pagerduty"`
}

// RotationPagerDuty names the PagerDuty schedules that mirror the rotation.
type RotationPagerDuty struct {
	PrimarySchedule   string `yaml:"primary_schedule"`
	SecondarySchedule string `yaml:"secondary_schedule"`
}

// Escalation is the contact chain.
type Escalation struct {
	Name            string           `yaml:"name"`
	Steps           []EscalationStep `yaml:"steps"`
	Loops           int              `yaml:"loops"` // times the chain runs; 1 when absent
	PagerDutyPolicy string           `yaml:"pagerduty_policy"`
}

// EscalationStep notifies people and waits After for an acknowledgement.
type EscalationStep struct {
	// Notify holds role words (primary, secondary, engineering_lead, cto,
	// engineers) or Slack user IDs.
	Notify []string `yaml:"notify"`
	After  Duration `yaml:"after"`
}

// Severity holds the response targets of one severity.
type Severity struct {
	Acknowledge Target   `yaml:"acknowledge"`
	Investigate Target   `yaml:"investigate"`
	FirstUpdate Target   `yaml:"first_update"` // zero Target: not applicable
	Resolve     Target   `yaml:"resolve"`
	AfterHours  string   `yaml:"after_hours"` // same (the default), next_business_morning, next_business_day
	Broadcast   []string `yaml:"broadcast"`
}

// Target is either a duration or "next_business_day".
type Target struct {
	Duration        time.Duration
	NextBusinessDay bool
}

// IsZero reports whether no target is set.
func (t Target) IsZero() bool { return t.Duration == 0 && !t.NextBusinessDay }

// Handoff holds the weekly handoff settings.
type Handoff struct {
	// Reminder is a robfig/cron spec; CRON_TZ=, 6 fields (with seconds) and
	// descriptors (@weekly, @every 1h) are accepted. Without CRON_TZ= it runs in
	// the configured timezone.
	Reminder   string   `yaml:"reminder"`
	NudgeAfter Duration `yaml:"nudge_after"` // 1h when absent
	HeadsUp    Duration `yaml:"heads_up"`    // 24h when absent; 0m: no heads-up DMs
}

// Diagnostics are the read-only checks' targets.
type Diagnostics struct {
	APIHealth string        `yaml:"api_health"`
	TLS       []string      `yaml:"tls"`
	Postgres  *DiagPostgres `yaml:"postgres"`
	Redis     *DiagRedis    `yaml:"redis"`
	Qdrant    *DiagQdrant   `yaml:"qdrant"`
	GitHub    *DiagGitHub   `yaml:"github"`
	Timeout   Duration      `yaml:"timeout"` // per check; 5s when absent
}

// DiagPostgres names the environment variable holding the monitored database URL.
type DiagPostgres struct {
	URLEnv string `yaml:"url_env"`
}

// DiagRedis names the environment variable of the monitored Redis and its BullMQ queues.
type DiagRedis struct {
	URLEnv string   `yaml:"url_env"`
	Queues []string `yaml:"queues"`
}

// DiagQdrant is the Qdrant base URL.
type DiagQdrant struct {
	URL string `yaml:"url"`
}

// DiagGitHub is the repository whose workflow runs are checked.
type DiagGitHub struct {
	Repo string `yaml:"repo"`
}

// Link is one entry of the on-call toolkit.
type Link struct {
	Name string `yaml:"name"`
	URL  string `yaml:"url"`
}

// HTTP holds settings of the HTTP server.
type HTTP struct {
	// PublicURL is how people reach HTTP_ADDR; see Config.PublicURL for the default.
	PublicURL string `yaml:"public_url"`
}

// Duration is a time.Duration written as "15m", "168h" or "0m".
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
