package swap

import (
	"fmt"
	"strconv"
	"time"

	"github.com/slack-go/slack"

	"github.com/contextinject/oncallbot/commands"
)

// span renders a window with Slack date formatting.
func span(start, end time.Time) string {
	return commands.Date(start) + " → " + commands.Date(end)
}

func (m *Module) who(id string) string { return commands.Mention(m.d.Config, id) }

func (m *Module) name(id string) string { return m.d.Config.Name(id) }

// terms describes what the swap exchanges, naming both windows.
func (m *Module) terms(s Swap) string {
	return fmt.Sprintf("• %s takes primary %s (%s's shift)\n• %s takes primary %s (%s's shift)",
		m.who(s.PartyB), span(s.AStart, s.AEnd), m.name(s.PartyA),
		m.who(s.PartyA), span(s.BStart, s.BEnd), m.name(s.PartyB))
}

func section(text string) slack.Block {
	if len(text) > 3000 {
		text = text[:2990] + "…"
	}
	return slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, text, false, false), nil, nil)
}

func button(actionID, text string, id int64, style slack.Style) *slack.ButtonBlockElement {
	b := slack.NewButtonBlockElement(actionID, strconv.FormatInt(id, 10), slack.NewTextBlockObject(slack.PlainTextType, text, false, false))
	if style != "" {
		b.Style = style
	}
	return b
}

func actions(blockID string, els ...slack.BlockElement) slack.Block {
	return slack.NewActionBlock(blockID, els...)
}

// withButtons returns a message of text followed by buttons.
func withButtons(text, blockID string, els ...slack.BlockElement) commands.Message {
	return commands.Message{Text: text, Blocks: []slack.Block{section(text), actions(blockID, els...)}}
}

func plain(text string) commands.Message {
	return commands.Message{Text: text, Blocks: []slack.Block{section(text)}}
}

// requestDM is the invitation with Accept / Decline sent to invitee.
func (m *Module) requestDM(s Swap) commands.Message {
	var text string
	if s.Arranged() {
		text = fmt.Sprintf(":arrows_counterclockwise: %s proposes that %s and %s swap primary on-call shifts (request #%d):\n%s\nBoth of you must accept. The request expires %s.",
			m.who(s.RequestedBy), m.name(s.PartyA), m.name(s.PartyB), s.ID, m.terms(s), commands.Date(s.ExpiresAt))
	} else {
		text = fmt.Sprintf(":arrows_counterclockwise: %s asks to swap primary on-call shifts with you (request #%d):\n%s\nThe request expires %s.",
			m.who(s.PartyA), s.ID, m.terms(s), commands.Date(s.ExpiresAt))
	}
	return withButtons(text, fmt.Sprintf("swap.request.%d", s.ID),
		button(ActionAccept, "Accept", s.ID, slack.StylePrimary),
		button(ActionDecline, "Decline", s.ID, slack.StyleDanger))
}

// requestedAnswer is the requester's answer, with Cancel.
func (m *Module) requestedAnswer(s Swap) commands.Message {
	asked := m.name(s.PartyB)
	if s.Arranged() {
		asked = m.name(s.PartyA) + " and " + m.name(s.PartyB)
		if s.AAcceptedAt != nil {
			asked = m.name(s.PartyB)
		}
	}
	text := fmt.Sprintf(":incoming_envelope: Swap request #%d sent to %s:\n%s\nI'll tell you the answer. It expires %s unless answered.",
		s.ID, asked, m.terms(s), commands.Date(s.ExpiresAt))
	return withButtons(text, fmt.Sprintf("swap.requested.%d", s.ID), button(ActionCancel, "Cancel request", s.ID, ""))
}

// confirmation is sent to both parties once the swap is in force.
func (m *Module) confirmation(s Swap, pagerDuty bool) commands.Message {
	pd := ""
	if pagerDuty {
		pd = "\nPagerDuty overrides are being written on the on-call schedules; I'll tell you if that fails."
	}
	text := fmt.Sprintf(":white_check_mark: Swap #%d is agreed:\n%s%s\nEither of you can undo it until %s.",
		s.ID, m.terms(s), pd, commands.Date(s.FirstStart()))
	return withButtons(text, fmt.Sprintf("swap.confirmed.%d", s.ID), button(ActionUndo, "Undo swap", s.ID, ""))
}

// undoDM asks the other party to confirm an undo.
func (m *Module) undoDM(s Swap) commands.Message {
	text := fmt.Sprintf(":leftwards_arrow_with_hook: %s wants to undo swap #%d:\n%s\nIf you confirm, the original schedule comes back.",
		m.who(s.UndoBy), s.ID, m.terms(s))
	return withButtons(text, fmt.Sprintf("swap.undo.%d", s.ID),
		button(ActionUndoConfirm, "Confirm undo", s.ID, slack.StyleDanger),
		button(ActionUndoKeep, "Keep the swap", s.ID, ""))
}

// statusLine explains a swap that is no longer pending, for late clicks.
func (m *Module) statusLine(s Swap) string {
	when := ""
	if s.DecidedAt != nil {
		when = " " + commands.Date(*s.DecidedAt)
	}
	by := ""
	if s.DecidedBy != "" && s.DecidedBy != "oncallbot" {
		by = " by " + m.name(s.DecidedBy)
	}
	switch s.Status {
	case statusPending:
		return fmt.Sprintf("Swap request #%d is still waiting for an answer.", s.ID)
	case statusAccepted:
		return fmt.Sprintf("Swap request #%d was already accepted%s%s.", s.ID, by, when)
	case statusDeclined:
		return fmt.Sprintf("Swap request #%d was declined%s%s.", s.ID, by, when)
	case statusCancelled:
		return fmt.Sprintf("Swap request #%d was cancelled%s%s.", s.ID, by, when)
	case statusExpired:
		return fmt.Sprintf("Swap request #%d expired%s without an answer.", s.ID, when)
	case statusObsolete:
		return fmt.Sprintf("Swap request #%d no longer applies: the schedule changed%s.", s.ID, when)
	case statusUndone:
		return fmt.Sprintf("Swap #%d was undone%s%s.", s.ID, by, when)
	case statusFailed:
		return fmt.Sprintf("Swap #%d was called off%s because PagerDuty could not hold it.", s.ID, when)
	}
	return fmt.Sprintf("Swap #%d is %s.", s.ID, s.Status)
}
