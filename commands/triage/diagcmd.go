package triage

import (
	"context"
	"fmt"
	"strings"

	"github.com/slack-go/slack"

	"github.com/contextinject/oncallbot/commands"
)

// diagCmd answers /diag <check>|all to the caller with the result(s).
func (m *Module) diagCmd(ctx context.Context, req commands.Slash) (commands.Response, error) {
	args := strings.Fields(strings.ToLower(req.Args))
	checks := allChecks()
	if len(args) != 1 || (args[0] != "all" && !contains(checks, args[0])) {
		what := "Which check?"
		if len(args) > 0 {
			what = fmt.Sprintf("I have no check `%s`.", escape(short(req.Args, 40)))
		}
		return commands.Response{}, commands.Errorf(commands.Invalid, "%s\nUsage: %s", what, usageDiag)
	}
	if !m.d.Config.Known(req.UserID) {
		return commands.Response{}, commands.Errorf(commands.Forbidden, "Only people of the on-call configuration can run diagnostics.")
	}
	names := []string{args[0]}
	if args[0] == "all" {
		names = checks
	}
	outcomes := m.diag.Run(ctx, names)
	return commands.Response{Ephemeral: diagMessage(outcomes)}, nil
}

func (m *Module) diagHelp(context.Context, commands.Slash) (commands.Response, error) {
	return commands.Text("Usage: %s\nEvery check is read-only and uses only the targets of the configuration (diagnostics: in oncall.yaml).", usageDiag), nil
}

// diagMessage renders outcomes, one section each.
func diagMessage(outcomes []Outcome) *commands.Message {
	blocks := make([]slack.Block, 0, len(outcomes)+1)
	var fallback []string
	for _, o := range outcomes {
		blocks = append(blocks, section(RenderOutcome(o)))
		state := "ok"
		switch {
		case o.NotConfigured != "":
			state = "not configured"
		case o.TimedOut:
			state = "timed out"
		case o.Err != "":
			state = "failed"
		case o.Report.Alert:
			state = "needs attention"
		}
		fallback = append(fallback, checkTitle(o.Name)+": "+state)
	}
	blocks = append(blocks, slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType,
		"Read-only diagnostics against the configured targets. Nothing was changed.", false, false)))
	return &commands.Message{Text: "Diagnostics — " + strings.Join(fallback, " · "), Blocks: blocks}
}
