package oncall

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/contextinject/oncallbot/commands"
	"github.com/contextinject/oncallbot/commands/config"
	"github.com/contextinject/oncallbot/commands/rotation"
)

// Usage lines of the commands this package answers.
const (
	usageWho      = "/oncall [who] — who is on call now, until when, and the next handoff"
	usageSchedule = "/oncall schedule [N] — the next N shifts (default 4, at most 52)"
	usageHelp     = "/oncall help — this list"
	maxSchedule   = 52
)

// Module answers /oncall, /oncall who, /oncall schedule, /oncall help and
// publishes the App Home.
type Module struct {
	d      commands.Deps
	roster *Roster
	reg    *commands.Registry
	// HomeSections adds feature sections to the App Home (open incidents,
	// toolkit links); each returns blocks for user.
	HomeSections []func(ctx context.Context, user string) []slack.Block
}

// New returns the module.
func New(d commands.Deps, roster *Roster) *Module { return &Module{d: d, roster: roster} }

// Register adds the module's handlers to r.
func (m *Module) Register(r *commands.Registry) {
	m.reg = r
	r.Slash("/oncall", "", usageWho, m.who)
	r.Slash("/oncall", "who", "", m.who)
	r.Slash("/oncall", "schedule", usageSchedule, m.schedule)
	r.Slash("/oncall", "help", usageHelp, m.help)
	r.Event("app_home_opened", m.home)
}

func (m *Module) who(ctx context.Context, req commands.Slash) (commands.Response, error) {
	if req.Args != "" && req.Sub == "" {
		return commands.Response{}, commands.Errorf(commands.Invalid,
			"I don't know `/oncall %s`.\n%s", truncate(req.Args, 40), m.usageText())
	}
	if req.Args != "" {
		return commands.Response{}, commands.Errorf(commands.Invalid, "`/oncall who` takes no arguments.\nUsage: %s", usageWho)
	}
	return commands.Response{Ephemeral: &commands.Message{Text: m.WhoText(ctx, m.d.Now())}}, nil
}

// WhoText describes who is on call at now.
func (m *Module) WhoText(ctx context.Context, now time.Time) string {
	cfg := m.d.Config
	shift, note, ok := m.roster.At(ctx, now)
	var b strings.Builder
	if !ok {
		start, _ := m.roster.Rotation().Bounds(0)
		fmt.Fprintf(&b, "No one is on call yet: the rotation starts %s.\n", commands.Date(start))
		for _, role := range []string{"engineering_lead", "cto"} {
			for _, id := range cfg.WithRole(role) {
				fmt.Fprintf(&b, "• %s: %s\n", roleTitle(role), commands.Mention(cfg, id))
			}
		}
		return b.String()
	}
	until := m.roster.NextChange(ctx, now)
	fmt.Fprintf(&b, "*On call now* (until %s)\n", commands.Date(until))
	fmt.Fprintf(&b, "• Primary: %s%s\n", commands.Mention(cfg, shift.Primary), overrideMark(cfg, shift.PrimaryOverride))
	if shift.HasSecondary() {
		fmt.Fprintf(&b, "• Secondary: %s%s\n", commands.Mention(cfg, shift.Secondary), overrideMark(cfg, shift.SecondaryOverride))
	} else {
		b.WriteString("• Secondary: none right now; the engineering lead backs up\n")
	}
	for _, role := range []string{"engineering_lead", "cto"} {
		for _, id := range cfg.WithRole(role) {
			fmt.Fprintf(&b, "• %s: %s\n", roleTitle(role), commands.Mention(cfg, id))
		}
	}
	next := m.roster.Rotation().Shift(shift.Index + 1)
	nextShift, _, _ := m.roster.At(ctx, next.Start)
	fmt.Fprintf(&b, "Next handoff: %s → primary %s, secondary %s",
		commands.Date(next.Start), name(cfg, nextShift.Primary), name(cfg, nextShift.Secondary))
	if note != "" {
		fmt.Fprintf(&b, "\n:warning: %s", note)
	}
	return b.String()
}

func (m *Module) schedule(ctx context.Context, req commands.Slash) (commands.Response, error) {
	n := 4
	if args := commands.Fields(req.Args); len(args) > 0 {
		v, err := strconv.Atoi(args[0])
		if err != nil || len(args) > 1 || v < 1 || v > maxSchedule {
			return commands.Response{}, commands.Errorf(commands.Invalid,
				"`%s` is not a number of shifts from 1 to %d.\nUsage: %s", truncate(req.Args, 40), maxSchedule, usageSchedule)
		}
		n = v
	}
	return commands.Response{Ephemeral: &commands.Message{Text: m.ScheduleText(ctx, m.d.Now(), n)}}, nil
}

// ScheduleText lists n shifts from now.
func (m *Module) ScheduleText(ctx context.Context, now time.Time, n int) string {
	cfg := m.d.Config
	shifts, note := m.roster.Upcoming(ctx, now, n)
	var b strings.Builder
	fmt.Fprintf(&b, "*Next %d shifts*\n", len(shifts))
	for _, s := range shifts {
		sec := name(cfg, s.Secondary)
		if !s.HasSecondary() {
			sec = "none"
		}
		fmt.Fprintf(&b, "• %s → %s: primary %s%s, secondary %s%s\n",
			commands.Date(s.Start), commands.Date(s.End),
			name(cfg, s.Primary), overrideMark(cfg, s.PrimaryOverride),
			sec, overrideMark(cfg, s.SecondaryOverride))
	}
	if note != "" {
		fmt.Fprintf(&b, ":warning: %s\n", note)
	}
	return strings.TrimRight(b.String(), "\n")
}

func (m *Module) help(_ context.Context, req commands.Slash) (commands.Response, error) {
	return commands.Response{Ephemeral: &commands.Message{Text: m.usageText()}}, nil
}

// usageText lists every registered command's usage.
func (m *Module) usageText() string {
	var b strings.Builder
	b.WriteString("*oncallbot commands*\n")
	for _, rt := range m.reg.Routes() {
		if rt.Usage != "" {
			fmt.Fprintf(&b, "• `%s`\n", rt.Usage)
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// home publishes the App Home: who is on call, the next shifts and feature sections.
func (m *Module) home(ctx context.Context, ev commands.Event) error {
	if ev.Tab != "" && ev.Tab != "home" {
		return nil
	}
	return m.PublishHome(ctx, ev.UserID)
}

// PublishHome renders and publishes user's App Home.
func (m *Module) PublishHome(ctx context.Context, user string) error {
	now := m.d.Now()
	blocks := []slack.Block{
		slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, "On call", false, false)),
		slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, clip(m.WhoText(ctx, now)), false, false), nil, nil),
		slack.NewDividerBlock(),
		slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, clip(m.ScheduleText(ctx, now, 4)), false, false), nil, nil),
	}
	for _, f := range m.HomeSections {
		blocks = append(blocks, f(ctx, user)...)
	}
	if len(blocks) > 100 {
		blocks = blocks[:100]
	}
	return m.d.Slack.PublishHome(ctx, user, slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: blocks}})
}

func roleTitle(role string) string {
	switch role {
	case "engineering_lead":
		return "Engineering lead"
	case "cto":
		return "CTO"
	}
	return role
}

func name(cfg *config.Config, id string) string {
	if id == "" {
		return "nobody"
	}
	return cfg.Name(id)
}

func overrideMark(cfg *config.Config, o *rotation.Override) string {
	if o == nil {
		return ""
	}
	what := o.Source
	if what == "" {
		what = "override"
	}
	s := " _(" + what
	if o.Replaces != "" {
		s += ", instead of " + cfg.Name(o.Replaces)
	}
	if !o.End.IsZero() {
		s += ", until " + commands.Date(o.End)
	}
	return s + ")_"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:runeCut(s, n)] + "…"
}

// runeCut returns the largest index at most n that starts a rune of s, so
// that s[:runeCut(s, n)] stays valid UTF-8.
func runeCut(s string, n int) int {
	for n > 0 && n < len(s) && !utf8.RuneStart(s[n]) {
		n--
	}
	return n
}

// clip keeps a section text inside Block Kit's 3000 characters.
func clip(s string) string {
	if len(s) <= 3000 {
		return s
	}
	return s[:runeCut(s, 2990)] + "…"
}
