// Package links is the on-call toolkit (runbook §8, SPEC §4 links):
// `/oncall links`, the App Home section, and the list the handoff's Ready
// confirmation shows so the incoming engineer can check access to each.
package links

import (
	"context"
	"fmt"
	"strings"

	"github.com/slack-go/slack"

	"github.com/contextinject/oncallbot/commands"
	"github.com/contextinject/oncallbot/commands/config"
)

const usage = "/oncall links — the on-call toolkit links"

// maxSection keeps one section's text inside Block Kit's 3000 characters.
const maxSection = 2900

// Module answers /oncall links.
type Module struct {
	cfg *config.Config
}

// New returns the module for cfg's links.
func New(cfg *config.Config) *Module { return &Module{cfg: cfg} }

// Register adds /oncall links.
func (m *Module) Register(r *commands.Registry) {
	r.Slash("/oncall", "links", usage, m.links)
}

func (m *Module) links(_ context.Context, req commands.Slash) (commands.Response, error) {
	if req.Args != "" {
		return commands.Response{}, commands.Errorf(commands.Invalid, "`/oncall links` takes no arguments.\nUsage: %s", usage)
	}
	if len(m.cfg.Links) == 0 {
		return commands.Text("No toolkit links are configured: add `links` (name and url) to the configuration."), nil
	}
	return commands.Response{Ephemeral: &commands.Message{
		Text:   "On-call toolkit:\n" + List(m.cfg.Links, "• "),
		Blocks: Blocks(m.cfg.Links, "*On-call toolkit*", "• "),
	}}, nil
}

// HomeSection returns the App Home blocks for the toolkit (none without links);
// append it to the oncall module's HomeSections.
func (m *Module) HomeSection(_ context.Context, _ string) []slack.Block {
	if len(m.cfg.Links) == 0 {
		return nil
	}
	return append([]slack.Block{slack.NewDividerBlock()}, Blocks(m.cfg.Links, "*On-call toolkit*", "• ")...)
}

// List renders links as mrkdwn lines "<bullet><url|name>", one per link.
// The handoff's Ready confirmation passes a checkbox-like bullet ("☐ ") so
// the incoming engineer can check access to each.
func List(ls []config.Link, bullet string) string {
	var b strings.Builder
	for _, l := range ls {
		fmt.Fprintf(&b, "%s%s\n", bullet, Link(l))
	}
	return strings.TrimRight(b.String(), "\n")
}

// Link renders one link as Slack mrkdwn, escaped so a name cannot break
// the link or ping anyone.
func Link(l config.Link) string {
	name := l.Name
	if r := []rune(name); len(r) > 200 {
		name = string(r[:200]) + "…"
	}
	name = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "|", "¦").Replace(name)
	u := strings.NewReplacer("|", "%7C", "<", "%3C", ">", "%3E", " ", "%20").Replace(l.URL)
	return "<" + u + "|" + name + ">"
}

// Blocks renders links under a mrkdwn title as section blocks, split so each
// stays inside Block Kit's limits.
func Blocks(ls []config.Link, title, bullet string) []slack.Block {
	var (
		blocks []slack.Block
		b      strings.Builder
	)
	if title != "" {
		b.WriteString(title + "\n")
	}
	flush := func() {
		if b.Len() == 0 {
			return
		}
		blocks = append(blocks, slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, strings.TrimRight(b.String(), "\n"), false, false), nil, nil))
		b.Reset()
	}
	for _, l := range ls {
		line := bullet + Link(l) + "\n"
		if b.Len()+len(line) > maxSection {
			flush()
		}
		b.WriteString(line)
	}
	flush()
	if len(blocks) > 40 {
		blocks = blocks[:40]
	}
	return blocks
}
