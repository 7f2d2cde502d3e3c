package swap

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/contextinject/oncallbot/commands"
)

// week is the unit of time off in lieu: one day per primary week (runbook).
const week = 7 * 24 * time.Hour

// statsCmd handles `/oncall stats [@eng]`.
func (m *Module) statsCmd(ctx context.Context, req commands.Slash) (commands.Response, error) {
	cfg := m.d.Config
	args := commands.Fields(req.Args)
	target := req.UserID
	switch len(args) {
	case 0:
	case 1:
		id, ok := commands.ParseMention(args[0])
		if !ok {
			return commands.Response{}, commands.Errorf(commands.Invalid, "I don't know who `%s` is; mention them as @name.\nUsage: `%s`", clip(args[0]), usageStats)
		}
		target = id
	default:
		return commands.Response{}, commands.Errorf(commands.Invalid, "`/oncall stats` takes at most one person.\nUsage: `%s`", usageStats)
	}
	if _, ok := cfg.Person(target); !ok {
		if target == req.UserID {
			return commands.Response{}, commands.Errorf(commands.Forbidden, "You are not in the on-call configuration, so there are no stats for you. Name someone: `%s`", usageStats)
		}
		return commands.Response{}, commands.Errorf(commands.Invalid, "<@%s> is not in the on-call configuration.\nUsage: `%s`", target, usageStats)
	}
	text, err := m.StatsText(ctx, target, m.d.Now())
	if err != nil {
		return commands.Response{}, err
	}
	return commands.Text("%s", text), nil
}

// StatsText describes user's on-call year up to now.
func (m *Module) StatsText(ctx context.Context, user string, now time.Time) (string, error) {
	loc := m.d.Config.Location
	if loc == nil {
		loc = time.UTC
	}
	local := now.In(loc)
	from := time.Date(local.Year(), 1, 1, 0, 0, 0, 0, loc)
	to := from.AddDate(1, 0, 0)
	ovs, err := m.o.Roster.Overrides(ctx, from, to)
	if err != nil {
		return "", fmt.Errorf("read overrides: %w", err)
	}
	sv := serve(m.rot, ovs, user, from, now)
	var inYear = ovs[:0:0]
	for _, o := range ovs {
		if !o.Start.Before(from) && o.Start.Before(to) {
			inYear = append(inYear, o)
		}
	}
	taken, given := owed(inYear, user)

	var b strings.Builder
	fmt.Fprintf(&b, "*On-call stats for %s, %d* (to %s)\n", commands.Mention(m.d.Config, user), local.Year(), commands.Date(now))
	fmt.Fprintf(&b, "• Primary: %s (%s)\n", plural(sv.PrimaryShifts, "shift"), hours(sv.Primary))
	fmt.Fprintf(&b, "• Secondary: %s (%s)\n", plural(sv.SecondaryShifts, "shift"), hours(sv.Secondary))
	fmt.Fprintf(&b, "• Time off in lieu earned: %s (1 day per primary week)\n", days(sv.Primary))
	fmt.Fprintf(&b, "• Swaps owed: %+d (covered %s for others, %s covered by others)\n", taken-given, plural(taken, "time"), plural(given, "time"))
	inc := m.incidents.Load()
	if inc == nil {
		b.WriteString("• Incidents handled: no incidents yet · median time to acknowledge: —")
	} else {
		n, median, err := (*inc).Stats(ctx, user, from, now)
		switch {
		case err != nil:
			m.d.Log.Warn("incident stats unavailable", "user_id", user, "err", err)
			b.WriteString("• Incidents handled: unavailable right now (the incident records could not be read)")
		case n == 0:
			b.WriteString("• Incidents handled: no incidents yet · median time to acknowledge: —")
		default:
			fmt.Fprintf(&b, "• Incidents handled: %d · median time to acknowledge: %s", n, median.Round(time.Second))
		}
	}
	return b.String(), nil
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// hours renders a duration as "3 days 4 h" or "5 h".
func hours(d time.Duration) string {
	h := int(d.Round(time.Hour) / time.Hour)
	if h >= 24 {
		if h%24 == 0 {
			return plural(h/24, "day")
		}
		return fmt.Sprintf("%s %d h", plural(h/24, "day"), h%24)
	}
	return fmt.Sprintf("%d h", h)
}

// days renders time off in lieu for primary time d, to a tenth of a day.
func days(primary time.Duration) string {
	v := float64(primary) / float64(week)
	s := strconv.FormatFloat(v, 'f', 1, 64)
	s = strings.TrimSuffix(s, ".0")
	if s == "1" {
		return "1 day"
	}
	return s + " days"
}
