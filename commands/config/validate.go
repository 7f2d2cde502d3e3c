package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Roles of people (Person.Role) and the role words of escalation steps and
// severity broadcasts. A Slack user ID of people: may be used instead of a word.
const (
	RoleEngineeringLead = "engineering_lead" // a person role and a word
	RoleCTO             = "cto"              // a person role and a word
	WordPrimary         = "primary"          // the primary on call now
	WordSecondary       = "secondary"        // the secondary on call now
	WordEngineers       = "engineers"        // everyone in rotation.pool
)

// RoleWords lists the words usable in escalation notify and severity broadcast.
var RoleWords = []string{WordPrimary, WordSecondary, RoleEngineeringLead, RoleCTO, WordEngineers}

// After-hours policies of a severity (SPEC §7).
const (
	AfterHoursSame                = "same"
	AfterHoursNextBusinessMorning = "next_business_morning"
	AfterHoursNextBusinessDay     = "next_business_day"
)

// Defaults applied to keys left out of a configuration.
const (
	DefaultTimezone          = "UTC"
	DefaultLoops             = 1
	DefaultNudgeAfter        = Duration(time.Hour)
	DefaultHeadsUp           = Duration(24 * time.Hour)
	DefaultDiagnosticTimeout = Duration(5 * time.Second)
	DefaultHTTPPort          = "8080"
)

var (
	reSlackUser = regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)
	reChannel   = regexp.MustCompile(`^[CG][A-Z0-9]{2,}$`)
	reUsergroup = regexp.MustCompile(`^S[A-Z0-9]{2,}$`)
	reEmail     = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s.]+$`)
	reEnvName   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	reRepo      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+$`)
	reSeverity  = regexp.MustCompile(`^P[1-9]$`)
	reClock     = regexp.MustCompile(`^([01]\d|2[0-3]):([0-5]\d)$`)
)

var weekdays = map[string]time.Weekday{
	"mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday, "thu": time.Thursday,
	"fri": time.Friday, "sat": time.Saturday, "sun": time.Sunday,
}

// validate checks c after decoding, fills defaults and derived fields, and
// resolves extra files against dir when dir is set.
func (d *decoder) validate(c *Config, dir string) {
	d.validateZone(c)
	d.validateBusinessHours(c)
	d.validateChannels(c)
	d.validatePeople(c)
	d.validateRotation(c)
	d.validateEscalation(c)
	d.validateSeverities(c)
	d.validateHandoff(c)
	d.validateDiagnostics(c)
	d.validateLinks(c)
	d.validateHTTP(c)
	c.Playbooks = d.validateFiles("playbooks", c.Playbooks, dir)
	c.Templates = d.validateFiles("templates", c.Templates, dir)
}

func (d *decoder) validateZone(c *Config) {
	if c.Timezone == "" {
		if d.has("timezone") {
			d.fail("timezone", "is empty (use an IANA name such as UTC or Europe/Berlin)")
		}
		c.Timezone = DefaultTimezone
	}
	loc, err := loadLocation(c.Timezone)
	if err != nil {
		d.fail("timezone", "%q is not a time zone (use an IANA name such as UTC or Europe/Berlin)", c.Timezone)
		loc = time.UTC
	}
	c.Location = loc
}

func (d *decoder) validateBusinessHours(c *Config) {
	const key = "business_hours"
	bh := &c.BusinessHours
	if !d.has(key) {
		d.fail(key, `is required, e.g. {days: [Mon, Tue, Wed, Thu, Fri], start: "09:00", end: "18:00"}`)
		return
	}
	if len(bh.Days) == 0 {
		d.fail(key+".days", "needs at least one day (Mon, Tue, Wed, Thu, Fri, Sat, Sun)")
	}
	bh.Weekdays = nil
	for i, s := range bh.Days {
		k := fmt.Sprintf("%s.days[%d]", key, i)
		wd, ok := weekdays[strings.ToLower(s)]
		if !ok && len(s) > 3 {
			if w, found := weekdays[strings.ToLower(s[:3])]; found && strings.EqualFold(s, w.String()) {
				wd, ok = w, true
			}
		}
		switch {
		case !ok:
			d.fail(k, "%q is not a day (use Mon, Tue, Wed, Thu, Fri, Sat, Sun)", s)
		case slices.Contains(bh.Weekdays, wd):
			d.fail(k, "%q is listed twice", s)
		default:
			bh.Weekdays = append(bh.Weekdays, wd)
		}
	}
	start, okStart := d.clock(key+".start", bh.Start, false)
	end, okEnd := d.clock(key+".end", bh.End, true)
	if okStart && okEnd && start >= end {
		d.fail(key+".end", "%q must be after start %q", bh.End, bh.Start)
	}
	bh.StartMinute, bh.EndMinute = start, end
}

// clock parses "HH:MM" into minutes after midnight; "24:00" only when allowEnd.
func (d *decoder) clock(key, s string, allowEnd bool) (int, bool) {
	if s == "" {
		d.fail(key, `is required ("HH:MM", e.g. "09:00")`)
		return 0, false
	}
	if allowEnd && s == "24:00" {
		return 24 * 60, true
	}
	m := reClock.FindStringSubmatch(s)
	if m == nil {
		d.fail(key, `%q is not a time of day (use "HH:MM", e.g. "09:00")`, s)
		return 0, false
	}
	h, _ := strconv.Atoi(m[1])
	mm, _ := strconv.Atoi(m[2])
	return h*60 + mm, true
}

func (d *decoder) validateChannels(c *Config) {
	for _, ch := range []struct{ key, id string }{
		{"channels.incidents", c.Channels.Incidents},
		{"channels.engineering", c.Channels.Engineering},
		{"channels.monitoring", c.Channels.Monitoring},
	} {
		switch {
		case ch.id == "":
			d.fail(ch.key, "is required (a Slack channel ID like C0123ABCD)")
		case !reChannel.MatchString(ch.id):
			d.fail(ch.key, "%q is not a Slack channel ID (like C0123ABCD; find it under the channel's details)", ch.id)
		}
	}
	for _, ug := range []struct{ key, id string }{
		{"usergroups.oncall", c.Usergroups.Oncall},
		{"usergroups.primary", c.Usergroups.Primary},
		{"usergroups.secondary", c.Usergroups.Secondary},
	} {
		if ug.id != "" && !reUsergroup.MatchString(ug.id) {
			d.fail(ug.key, "%q is not a Slack user group ID (like S0123ABCD)", ug.id)
		}
	}
}

func (d *decoder) validatePeople(c *Config) {
	if len(c.People) == 0 {
		d.fail("people", "needs at least one person ({slack_id: U…, name: …, email: …})")
	}
	ids := map[string]string{}    // slack ID → key of its first use
	emails := map[string]string{} // lower-case email → key of its first use
	for i, p := range c.People {
		k := fmt.Sprintf("people[%d]", i)
		switch {
		case p.SlackID == "":
			d.fail(k+".slack_id", "is required (the person's Slack member ID, like U0123ABCD)")
		case !reSlackUser.MatchString(p.SlackID):
			d.fail(k+".slack_id", "%q is not a Slack user ID (like U0123ABCD or W0123ABCD)", p.SlackID)
		default:
			if first, dup := ids[p.SlackID]; dup {
				d.fail(k+".slack_id", "%q is already used by %s (line %d)", p.SlackID, first, d.line(first))
			} else {
				ids[p.SlackID] = k
			}
		}
		if strings.TrimSpace(p.Name) == "" {
			d.fail(k+".name", "is required")
		}
		if p.Email != "" {
			switch first, dup := emails[strings.ToLower(p.Email)]; {
			case !reEmail.MatchString(p.Email):
				d.fail(k+".email", "%q is not an email address", p.Email)
			case dup:
				d.fail(k+".email", "%q is already used by %s (line %d)", p.Email, first, d.line(first))
			default:
				emails[strings.ToLower(p.Email)] = k
			}
		}
		switch p.Role {
		case "", RoleEngineeringLead, RoleCTO:
		default:
			d.fail(k+".role", "%q is not a role (use %s, %s, or leave it out)", p.Role, RoleEngineeringLead, RoleCTO)
		}
	}
	d.people("admins", c.Admins, c, false)
}

// people checks a list of person references: each must be a person of people:
// (or a role word when words is set), without duplicates.
func (d *decoder) people(key string, refs []string, c *Config, words bool) {
	seen := map[string]bool{}
	for i, id := range refs {
		k := fmt.Sprintf("%s[%d]", key, i)
		switch {
		case words && slices.Contains(RoleWords, id):
		case c.Known(id):
		case words:
			d.fail(k, "%q is neither a role word (%s) nor a person of people:", id, strings.Join(RoleWords, ", "))
			continue
		default:
			d.fail(k, "%q is not a person of people:", id)
			continue
		}
		if seen[id] {
			d.fail(k, "%q is listed twice", id)
		}
		seen[id] = true
	}
}

func (d *decoder) validateRotation(c *Config) {
	r := &c.Rotation
	if len(r.Pool) == 0 {
		d.fail("rotation.pool", "needs at least one person (Slack IDs of people:, primaries in order)")
	}
	d.people("rotation.pool", r.Pool, c, false)
	if r.Start.IsZero() {
		if !d.has("rotation.start") || d.errsAt("rotation.start") == 0 {
			d.fail("rotation.start", "is required: when the first shift starts, e.g. 2026-11-02T09:00:00Z")
		}
	}
	switch l := r.Length.D(); {
	case !d.has("rotation.length"):
		d.fail("rotation.length", "is required, e.g. 168h for weekly shifts")
	case d.errsAt("rotation.length") > 0:
	case l <= 0:
		d.fail("rotation.length", "must be positive, e.g. 168h")
	case l < time.Hour:
		d.fail("rotation.length", "%s is too short: shifts last at least 1h", r.Length)
	}
	if pd := r.PagerDuty; pd != nil && pd.PrimarySchedule == "" && pd.SecondarySchedule == "" {
		d.fail("rotation.pagerduty", "names no schedule (primary_schedule, secondary_schedule); leave it out to not use PagerDuty")
	}
}

// errsAt counts the errors already recorded for key.
func (d *decoder) errsAt(key string) int {
	n := 0
	for _, e := range d.errs {
		if e.Key == key {
			n++
		}
	}
	return n
}

func (d *decoder) validateEscalation(c *Config) {
	e := &c.Escalation
	if len(e.Steps) == 0 {
		d.fail("escalation.steps", "needs at least one step, e.g. {notify: [primary], after: 15m}")
	}
	for i, s := range e.Steps {
		k := fmt.Sprintf("escalation.steps[%d]", i)
		if len(s.Notify) == 0 {
			d.fail(k+".notify", "needs at least one role word (%s) or person", strings.Join(RoleWords, ", "))
		}
		d.people(k+".notify", s.Notify, c, true)
		if s.After < 0 {
			d.fail(k+".after", "%s is negative", s.After)
		}
	}
	switch {
	case !d.has("escalation.loops"):
		e.Loops = DefaultLoops
	case d.errsAt("escalation.loops") > 0:
	case e.Loops < 1:
		d.fail("escalation.loops", "%d: the chain runs at least once (loops: 1)", e.Loops)
	}
}

func (d *decoder) validateSeverities(c *Config) {
	if len(c.Severities) == 0 {
		d.fail("severities", "needs at least one severity, e.g. P1: {acknowledge: 15m, resolve: 1h}")
	}
	for _, name := range c.SeverityNames() {
		s := c.Severities[name]
		k := "severities." + name
		if !reSeverity.MatchString(name) {
			d.fail(k, "%q is not a severity name (use P1 … P9)", name)
		}
		for _, t := range []struct {
			key string
			t   Target
		}{{"acknowledge", s.Acknowledge}, {"resolve", s.Resolve}} {
			if t.t.IsZero() && d.errsAt(k+"."+t.key) == 0 {
				d.fail(k+"."+t.key, "is required (a duration like 15m or %s)", NextBusinessDay)
			}
		}
		switch s.AfterHours {
		case "":
			s.AfterHours = AfterHoursSame
		case AfterHoursSame, AfterHoursNextBusinessMorning, AfterHoursNextBusinessDay:
		default:
			d.fail(k+".after_hours", "%q is not an after-hours rule (use %s, %s or %s)",
				s.AfterHours, AfterHoursSame, AfterHoursNextBusinessMorning, AfterHoursNextBusinessDay)
		}
		d.people(k+".broadcast", s.Broadcast, c, true)
		c.Severities[name] = s
	}
}

func (d *decoder) validateHandoff(c *Config) {
	h := &c.Handoff
	if h.Reminder == "" {
		d.fail("handoff.reminder", `is required: a cron spec such as "CRON_TZ=UTC 0 9 * * MON"`)
	} else {
		s, err := ParseCron(withZone(h.Reminder, c.Timezone))
		if err != nil {
			d.fail("handoff.reminder", "%q is not a cron spec: %s (use e.g. \"CRON_TZ=UTC 0 9 * * MON\")", h.Reminder, err)
		}
		c.reminder = s
	}
	switch {
	case !d.has("handoff.nudge_after"):
		h.NudgeAfter = DefaultNudgeAfter
	case h.NudgeAfter <= 0 && d.errsAt("handoff.nudge_after") == 0:
		d.fail("handoff.nudge_after", "must be positive, e.g. 1h")
	}
	switch {
	case !d.has("handoff.heads_up"):
		h.HeadsUp = DefaultHeadsUp
	case h.HeadsUp < 0:
		d.fail("handoff.heads_up", "%s is negative (0m turns heads-up messages off)", h.HeadsUp)
	}
}

func (d *decoder) validateDiagnostics(c *Config) {
	g := &c.Diagnostics
	if g.APIHealth != "" {
		d.httpURL("diagnostics.api_health", g.APIHealth, false)
	}
	for i, hp := range g.TLS {
		k := fmt.Sprintf("diagnostics.tls[%d]", i)
		host, port, err := net.SplitHostPort(hp)
		if err != nil || host == "" || !validPort(port) {
			d.fail(k, "%q is not host:port (e.g. api.example.com:443)", hp)
		}
	}
	if g.Postgres != nil {
		d.envName("diagnostics.postgres.url_env", g.Postgres.URLEnv)
	}
	if g.Redis != nil {
		d.envName("diagnostics.redis.url_env", g.Redis.URLEnv)
		for i, q := range g.Redis.Queues {
			if strings.TrimSpace(q) == "" {
				d.fail(fmt.Sprintf("diagnostics.redis.queues[%d]", i), "is empty (a BullMQ queue name)")
			}
		}
	}
	if g.Qdrant != nil {
		d.httpURL("diagnostics.qdrant.url", g.Qdrant.URL, false)
	}
	if g.GitHub != nil && !reRepo.MatchString(g.GitHub.Repo) {
		d.fail("diagnostics.github.repo", "%q is not a repository (use owner/name)", g.GitHub.Repo)
	}
	switch {
	case !d.has("diagnostics.timeout"):
		g.Timeout = DefaultDiagnosticTimeout
	case g.Timeout <= 0 && d.errsAt("diagnostics.timeout") == 0:
		d.fail("diagnostics.timeout", "must be positive, e.g. 5s")
	}
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n > 0 && n < 65536
}

func (d *decoder) envName(key, name string) {
	switch {
	case name == "":
		d.fail(key, "is required: the name of the environment variable holding the URL")
	case !reEnvName.MatchString(name):
		d.fail(key, "%q is not an environment variable name (letters, digits and _)", name)
	}
}

// httpURL checks an absolute http(s) URL; noQuery also refuses a query or fragment.
func (d *decoder) httpURL(key, s string, noQuery bool) {
	u, err := url.Parse(s)
	switch {
	case s == "":
		d.fail(key, "is required (an http:// or https:// URL)")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		d.fail(key, "%q is not an http:// or https:// URL", s)
	case noQuery && (u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(s, "?#")):
		d.fail(key, "%q must not have a query or fragment", s)
	}
}

func (d *decoder) validateLinks(c *Config) {
	for i, l := range c.Links {
		k := fmt.Sprintf("links[%d]", i)
		if strings.TrimSpace(l.Name) == "" {
			d.fail(k+".name", "is required")
		}
		d.httpURL(k+".url", l.URL, false)
	}
}

func (d *decoder) validateHTTP(c *Config) {
	if c.HTTP.PublicURL != "" {
		d.httpURL("http.public_url", c.HTTP.PublicURL, true)
	}
}

// validateFiles checks a list of extra files; with dir set it resolves them
// against dir and requires them to exist.
func (d *decoder) validateFiles(key string, files []string, dir string) []string {
	out := make([]string, 0, len(files))
	for i, f := range files {
		k := fmt.Sprintf("%s[%d]", key, i)
		if strings.TrimSpace(f) == "" {
			d.fail(k, "is empty (a file path relative to the configuration file)")
			continue
		}
		p := filepath.Clean(f)
		if dir != "" {
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			st, err := os.Stat(p)
			switch {
			case err != nil:
				d.fail(k, "%q cannot be read (looked at %s)", f, p)
				continue
			case st.IsDir():
				d.fail(k, "%q is a directory, not a file", f)
				continue
			}
		}
		out = append(out, p)
	}
	if files == nil {
		return nil
	}
	return out
}
