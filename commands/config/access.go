package config

import (
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/contextinject/oncallbot/commands/rotation"
	"github.com/robfig/cron/v3"
)

// cronParser accepts 5 fields, 6 fields (with seconds), descriptors (@weekly,
// @every 1h) and a CRON_TZ= or TZ= prefix.
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseCron parses a robfig/cron spec (5 or 6 fields, descriptors, CRON_TZ=).
// It never panics: robfig/cron v3.0.1 panics on some malformed specs such as
// "CRON_TZ=UTC" (issues #470, #554), which come back as errors here. A spec
// without CRON_TZ= runs in the zone of the time passed to Next.
func ParseCron(spec string) (s cron.Schedule, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("malformed spec %q", spec)
		}
	}()
	return cronParser.Parse(strings.TrimSpace(spec))
}

// withZone prefixes spec with CRON_TZ=tz unless it names a zone itself.
func withZone(spec, tz string) string {
	spec = strings.TrimSpace(spec)
	if strings.HasPrefix(spec, "CRON_TZ=") || strings.HasPrefix(spec, "TZ=") || tz == "" {
		return spec
	}
	return "CRON_TZ=" + tz + " " + spec
}

// ReminderSchedule returns the weekly handoff reminder's schedule, in the
// configured timezone unless the spec names one with CRON_TZ=. It is nil only
// for a Config that was not loaded and holds an invalid spec.
func (c *Config) ReminderSchedule() cron.Schedule {
	if c.reminder != nil {
		return c.reminder
	}
	s, err := ParseCron(withZone(c.Handoff.Reminder, c.Timezone))
	if err != nil {
		return nil
	}
	return s
}

// Person returns the person with Slack user ID id.
func (c *Config) Person(id string) (Person, bool) {
	for _, p := range c.People {
		if p.SlackID == id {
			return p, true
		}
	}
	return Person{}, false
}

// PersonByEmail returns the person with the email address, compared without case.
func (c *Config) PersonByEmail(email string) (Person, bool) {
	email = strings.TrimSpace(email)
	for _, p := range c.People {
		if p.Email != "" && strings.EqualFold(p.Email, email) {
			return p, true
		}
	}
	return Person{}, false
}

// PersonByPagerDutyID returns the person with the PagerDuty user ID.
func (c *Config) PersonByPagerDutyID(id string) (Person, bool) {
	for _, p := range c.People {
		if p.PagerDutyID != "" && p.PagerDutyID == id {
			return p, true
		}
	}
	return Person{}, false
}

// Name returns the person's name, or id itself for someone not in people.
func (c *Config) Name(id string) string {
	if p, ok := c.Person(id); ok {
		return p.Name
	}
	return id
}

// Known reports whether id is a person of the configuration; only they may
// change state.
func (c *Config) Known(id string) bool {
	_, ok := c.Person(id)
	return ok
}

// IsAdmin reports whether id is listed in admins.
func (c *Config) IsAdmin(id string) bool { return slices.Contains(c.Admins, id) }

// InPool reports whether id is in the rotation pool.
func (c *Config) InPool(id string) bool { return slices.Contains(c.Rotation.Pool, id) }

// WithRole returns the Slack IDs of the people with the role
// (RoleEngineeringLead or RoleCTO), in the order of people.
func (c *Config) WithRole(role string) []string {
	var out []string
	for _, p := range c.People {
		if role != "" && p.Role == role {
			out = append(out, p.SlackID)
		}
	}
	return out
}

// Recipients expands role words and Slack IDs (an escalation step's notify or a
// severity's broadcast) into Slack user IDs, without duplicates, in order.
// primary and secondary are who is on call now; "" leaves them out.
func (c *Config) Recipients(targets []string, primary, secondary string) []string {
	var out []string
	add := func(ids ...string) {
		for _, id := range ids {
			if id != "" && !slices.Contains(out, id) {
				out = append(out, id)
			}
		}
	}
	for _, t := range targets {
		switch t {
		case WordPrimary:
			add(primary)
		case WordSecondary:
			add(secondary)
		case RoleEngineeringLead, RoleCTO:
			add(c.WithRole(t)...)
		case WordEngineers:
			add(c.Rotation.Pool...)
		default:
			add(t)
		}
	}
	return out
}

// SeverityNames returns the configured severity names sorted: P1, P2, ….
func (c *Config) SeverityNames() []string {
	names := make([]string, 0, len(c.Severities))
	for n := range c.Severities {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Severity returns the severity called name ("P1"; "p1" is accepted too).
func (c *Config) Severity(name string) (Severity, bool) {
	s, ok := c.Severities[strings.ToUpper(strings.TrimSpace(name))]
	return s, ok
}

// RotationSchedule returns the rotation as the pure domain value of package
// rotation, in the configured timezone. (Config.Rotation is the field holding
// the rotation: settings, hence the longer name.)
func (c *Config) RotationSchedule() rotation.Rotation {
	loc := c.Location
	if loc == nil {
		loc = time.UTC
	}
	return rotation.Rotation{
		Pool:     slices.Clone(c.Rotation.Pool),
		Start:    c.Rotation.Start,
		Length:   c.Rotation.Length.D(),
		Location: loc,
	}
}

// PublicURL returns how people reach the HTTP server, without a trailing slash:
// http.public_url when set, else http://localhost:<port of httpAddr> (8080 when
// httpAddr names no port).
func (c *Config) PublicURL(httpAddr string) string {
	if c.HTTP.PublicURL != "" {
		return strings.TrimRight(c.HTTP.PublicURL, "/")
	}
	port := DefaultHTTPPort
	if _, p, err := net.SplitHostPort(httpAddr); err == nil && validPort(p) {
		port = p
	} else if validPort(httpAddr) {
		port = httpAddr
	}
	return "http://localhost:" + port
}
