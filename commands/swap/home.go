package swap

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/contextinject/oncallbot/commands"
)

// maxHomeSwaps bounds the swaps listed in the App Home (Block Kit allows 100 blocks).
const maxHomeSwaps = 10

// HomeSection returns the viewer's App Home section: their next shifts, the
// next handoff, and their pending swap requests with the same buttons as
// the DMs. It is an oncall.Module HomeSections hook.
func (m *Module) HomeSection(ctx context.Context, user string) []slack.Block {
	now := m.d.Now()
	blocks := []slack.Block{slack.NewDividerBlock(), slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, "Your shifts and swaps", false, false))}
	var b strings.Builder
	if m.d.Config.InPool(user) {
		to := now.Add(time.Duration(2*len(m.d.Config.Rotation.Pool)+1) * m.rot.Length)
		ovs, err := m.o.Roster.Overrides(ctx, now.Add(-m.rot.Length), to.Add(m.rot.Length))
		if err != nil {
			m.d.Log.Warn("app home: overrides unavailable", "err", err)
			b.WriteString(":warning: Swaps and overrides could not be read; this is the plain rotation.\n")
		}
		segs := m.rot.ShiftsOf(user, now, to, ovs)
		if len(segs) == 0 {
			b.WriteString("You have no shifts in the coming weeks.\n")
		} else {
			b.WriteString("*Your next shifts*\n")
			for i, s := range segs {
				if i == 4 {
					break
				}
				role := "secondary"
				if s.Primary == user {
					role = "primary"
				}
				mark := ""
				if (role == "primary" && s.PrimaryOverride != nil) || (role == "secondary" && s.SecondaryOverride != nil) {
					mark = " _(override)_"
				}
				fmt.Fprintf(&b, "• %s: %s%s\n", role, span(maxTime(s.Start, now), s.End), mark)
			}
		}
	} else {
		b.WriteString("You are not in the on-call pool.\n")
	}
	if next := m.o.Roster.NextChange(ctx, now); !next.IsZero() {
		fmt.Fprintf(&b, "Next handoff: %s", commands.Date(next))
	}
	blocks = append(blocks, section(strings.TrimRight(b.String(), "\n")))

	swaps, err := swapsOf(ctx, m.d.DB.Pool, user, statusPending, statusAccepted)
	if err != nil {
		m.d.Log.Warn("app home: swaps unavailable", "err", err)
		return append(blocks, section(":warning: Swap requests could not be read right now."))
	}
	var shown int
	for _, s := range swaps {
		if shown == maxHomeSwaps {
			break
		}
		text, els := m.homeEntry(s, user, now)
		if text == "" {
			continue
		}
		shown++
		blocks = append(blocks, section(text))
		if len(els) > 0 {
			blocks = append(blocks, actions(fmt.Sprintf("swap.home.%d", s.ID), els...))
		}
	}
	if shown == 0 {
		blocks = append(blocks, section("No pending swap requests. To ask for one: `/oncall swap @eng [YYYY-MM-DD]`."))
	}
	return blocks
}

// homeEntry describes s for user with the buttons user may press, "" when
// it needs no attention.
func (m *Module) homeEntry(s Swap, user string, now time.Time) (string, []slack.BlockElement) {
	switch s.Status {
	case statusPending:
		head := fmt.Sprintf("*Swap request #%d* (expires %s)", s.ID, commands.Date(s.ExpiresAt))
		switch {
		case m.invitee(s, user) && !s.acceptedBy(user):
			return fmt.Sprintf("%s — %s asks you:\n%s", head, m.name(s.RequestedBy), m.terms(s)),
				[]slack.BlockElement{button(ActionAccept, "Accept", s.ID, slack.StylePrimary), button(ActionDecline, "Decline", s.ID, slack.StyleDanger)}
		case user == s.RequestedBy:
			return fmt.Sprintf("%s — waiting for %s:\n%s", head, m.pendingNames(s), m.terms(s)),
				[]slack.BlockElement{button(ActionCancel, "Cancel request", s.ID, "")}
		default:
			return fmt.Sprintf("%s — you accepted; waiting for %s:\n%s", head, m.pendingNames(s), m.terms(s)), nil
		}
	case statusAccepted:
		if !s.Party(user) || !now.Before(s.FirstStart()) {
			return "", nil
		}
		head := fmt.Sprintf("*Swap #%d* (agreed; can be undone until %s)", s.ID, commands.Date(s.FirstStart()))
		switch s.UndoBy {
		case "":
			return head + "\n" + m.terms(s), []slack.BlockElement{button(ActionUndo, "Undo swap", s.ID, "")}
		case user:
			return fmt.Sprintf("%s — you asked to undo it; waiting for %s:\n%s", head, m.name(s.Other(user)), m.terms(s)), nil
		default:
			return fmt.Sprintf("%s — %s asks to undo it:\n%s", head, m.name(s.UndoBy), m.terms(s)),
				[]slack.BlockElement{button(ActionUndoConfirm, "Confirm undo", s.ID, slack.StyleDanger), button(ActionUndoKeep, "Keep the swap", s.ID, "")}
		}
	}
	return "", nil
}
