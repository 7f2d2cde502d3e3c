package handoff

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/slack-go/slack"

	"github.com/contextinject/oncallbot/commands"
	"github.com/contextinject/oncallbot/store"
)

// maxReason bounds an emergency handoff's reason.
const maxReason = 500

func (m *Module) slashEmergency(ctx context.Context, req commands.Slash) (commands.Response, error) {
	cfg := m.d.Config
	reason := strings.Join(strings.Fields(req.Args), " ")
	switch {
	case !cfg.Known(req.UserID):
		return commands.Response{}, commands.Errorf(commands.Forbidden, "Only people of the on-call configuration can hand off.")
	case reason == "":
		return commands.Response{}, commands.Errorf(commands.Invalid, "Say why you need to hand off.\nUsage: %s", usageEmergency)
	case len([]rune(reason)) > maxReason:
		return commands.Response{}, commands.Errorf(commands.Invalid, "Keep the reason under %d characters.\nUsage: %s", maxReason, usageEmergency)
	}
	return m.Emergency(ctx, req.UserID, reason)
}

// Emergency hands the current primary's shift over (runbook §7, Emergency
// Handoff): the secondary becomes primary for the rest of the shift, the
// notice goes to #engineering with a call for a volunteer secondary, and the
// new primary gets the active issues. user must be the primary, the
// secondary or an admin.
func (m *Module) Emergency(ctx context.Context, user, reason string) (commands.Response, error) {
	cfg := m.d.Config
	now := m.d.Now()
	shift, _, ok := m.o.Roster.At(ctx, now)
	if !ok {
		return commands.Response{}, commands.Errorf(commands.Conflict, "The rotation has not started yet: nobody is on call to hand off.")
	}
	if user != shift.Primary && user != shift.Secondary && !cfg.IsAdmin(user) {
		return commands.Response{}, commands.Errorf(commands.Forbidden,
			"Only the primary (%s), the secondary or an admin can start an emergency handoff.", commands.Mention(cfg, shift.Primary))
	}
	if !shift.HasSecondary() {
		return commands.Response{}, commands.Errorf(commands.Conflict,
			"There is no secondary to take over from %s right now (an emergency handoff may be waiting for a volunteer in <#%s>).",
			commands.Mention(cfg, shift.Primary), cfg.Channels.Engineering)
	}
	e := emergency{ShiftStart: shift.Start, ShiftEnd: shift.End, RequestedBy: user, Reason: reason,
		FromPrimary: shift.Primary, NewPrimary: shift.Secondary, CreatedAt: now}
	err := m.d.DB.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		if e.ID, err = insertEmergency(ctx, tx, e); err != nil {
			return err
		}
		if _, err := store.InsertOverride(ctx, tx, store.Override{
			Role: store.RolePrimary, UserID: e.NewPrimary, Start: now, End: e.ShiftEnd, Reason: reason,
			Replaces: e.FromPrimary, Source: "emergency", Ref: ref(e.ID), CreatedBy: user, CreatedAt: now,
		}); err != nil {
			return err
		}
		return store.Audit(ctx, tx, store.AuditEntry{At: now, Actor: user, Action: "handoff.emergency", Subject: ref(e.ID),
			Details: map[string]any{"from_primary": e.FromPrimary, "new_primary": e.NewPrimary, "reason": reason, "until": e.ShiftEnd}})
	})
	var conflict *store.ConflictError
	if errors.As(err, &conflict) && conflict.Constraint == emergencyOnce {
		return commands.Response{}, commands.Errorf(commands.Conflict, "An emergency handoff of %s's shift is already under way.", cfg.Name(e.FromPrimary))
	}
	if err != nil {
		return commands.Response{}, fmt.Errorf("store emergency handoff: %w", err)
	}

	ch := cfg.Channels.Engineering
	var errs []error
	who := commands.Mention(cfg, e.FromPrimary)
	if user != e.FromPrimary {
		who = fmt.Sprintf("%s for %s", commands.Mention(cfg, user), commands.Mention(cfg, e.FromPrimary))
	}
	notice := fmt.Sprintf(":rotating_light: *Emergency handoff* — %s: I need to hand off on-call. %s\n%s (secondary) is now primary until %s.",
		who, reason, commands.Mention(cfg, e.NewPrimary), commands.Date(e.ShiftEnd))
	noticeTS, err := m.d.Slack.Post(ctx, ch, commands.Message{Text: notice})
	if err != nil {
		errs = append(errs, err)
	}
	vts, err := m.d.Slack.Post(ctx, ch, m.volunteerMessage(e))
	if err != nil {
		errs = append(errs, err)
	} else if err := setEmergencyMessage(ctx, m.d.DB.Pool, e.ID, ch, vts); err != nil {
		errs = append(errs, err)
	}
	if err := m.pagerDuty(ctx, "primary", e.NewPrimary, now, e.ShiftEnd); err != nil {
		errs = append(errs, err)
		if noticeTS != "" {
			if _, rerr := m.d.Slack.Reply(ctx, ch, noticeTS, commands.Message{Text: ":warning: The PagerDuty override could not be created: update the PagerDuty schedule by hand now."}); rerr != nil {
				errs = append(errs, rerr)
			}
		}
	}
	if _, err := m.d.Slack.Post(ctx, e.NewPrimary, commands.Message{Text: m.briefing(ctx, e)}); err != nil {
		errs = append(errs, err)
	}
	if m.o.Sync != nil {
		if err := m.o.Sync(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		m.log.Error("emergency handoff partly announced", "emergency_id", e.ID, "err", err)
	}
	return commands.Text("Done: %s is primary until %s, and <#%s> is asked for a volunteer secondary.",
		commands.Mention(cfg, e.NewPrimary), commands.Date(e.ShiftEnd), ch), nil
}

func ref(id int64) string { return "emergency:" + strconv.FormatInt(id, 10) }

func (m *Module) pagerDuty(ctx context.Context, role, user string, start, end time.Time) error {
	_, _, pd := m.sources()
	if pd == nil {
		return nil
	}
	if err := pd.Override(ctx, role, user, start, end); err != nil {
		return fmt.Errorf("pagerduty %s override for %s: %w", role, user, err)
	}
	return nil
}

func (m *Module) volunteerMessage(e emergency) commands.Message {
	text := fmt.Sprintf(":raising_hand: We need a volunteer for *secondary* on-call until %s (emergency handoff of %s).",
		commands.Date(e.ShiftEnd), m.d.Config.Name(e.FromPrimary))
	return commands.Message{Text: text, Blocks: []slack.Block{
		slack.NewSectionBlock(md(text), nil, nil),
		slack.NewActionBlock("handoff_volunteer", button(ActionVolunteer, "I'll take secondary", strconv.FormatInt(e.ID, 10), slack.StylePrimary)),
	}}
}

// briefing is the new primary's DM: why, until when, and the active issues.
func (m *Module) briefing(ctx context.Context, e emergency) string {
	cfg := m.d.Config
	var b strings.Builder
	fmt.Fprintf(&b, ":rotating_light: You are now *primary* on-call until %s: %s had to hand off (%s).\n*Active issues:*\n",
		commands.Date(e.ShiftEnd), commands.Mention(cfg, e.FromPrimary), e.Reason)
	incidents, _, _ := m.sources()
	if incidents == nil {
		fmt.Fprintf(&b, "• Unknown here (incidents are not connected): check <#%s>.", cfg.Channels.Incidents)
		return b.String()
	}
	ctx, cancel := context.WithTimeout(ctx, m.o.DataTimeout)
	defer cancel()
	open, err := incidents.OpenIncidents(ctx)
	switch {
	case err != nil:
		m.log.Warn("read open incidents for the emergency briefing", "err", err)
		fmt.Fprintf(&b, "• Could not be read just now: check <#%s>.", cfg.Channels.Incidents)
	case len(open) == 0:
		b.WriteString("• None")
	default:
		for _, l := range Normalize(Prefill(cfg, open, nil, nil, nil).Active) {
			b.WriteString("•" + strings.TrimPrefix(l, "-") + "\n")
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

func (m *Module) clickVolunteer(ctx context.Context, req commands.Action) (commands.Response, error) {
	cfg := m.d.Config
	id, err := strconv.ParseInt(req.Value, 10, 64)
	if err != nil || id <= 0 {
		return commands.Response{}, commands.Errorf(commands.Invalid, "This button does not name an emergency handoff.")
	}
	e, err := getEmergency(ctx, m.d.DB.Pool, id)
	if errors.Is(err, store.ErrNotFound) {
		return commands.Response{}, commands.Errorf(commands.NotFound, "This emergency handoff no longer exists.")
	}
	if err != nil {
		return commands.Response{}, err
	}
	now := m.d.Now()
	switch {
	case !cfg.Known(req.UserID):
		return commands.Response{}, commands.Errorf(commands.Forbidden, "Only people of the on-call configuration can take secondary.")
	case e.Volunteer != "":
		return m.taken(e, req.UserID), nil
	case req.UserID == e.NewPrimary:
		return commands.Response{}, commands.Errorf(commands.Invalid, "You are the new primary; someone else needs to take secondary.")
	case req.UserID == e.FromPrimary:
		return commands.Response{}, commands.Errorf(commands.Invalid, "You handed off; someone else needs to take secondary.")
	case !now.Before(e.ShiftEnd):
		return commands.Response{}, commands.Errorf(commands.Conflict, "That shift is over; the rotation has moved on.")
	}
	var claimed bool
	err = m.d.DB.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		if claimed, err = claimVolunteer(ctx, tx, id, req.UserID, now); err != nil || !claimed {
			return err
		}
		if _, err := store.InsertOverride(ctx, tx, store.Override{
			Role: store.RoleSecondary, UserID: req.UserID, Start: now, End: e.ShiftEnd, Reason: e.Reason,
			Replaces: e.NewPrimary, Source: "emergency", Ref: ref(id), CreatedBy: req.UserID, CreatedAt: now,
		}); err != nil {
			return err
		}
		return store.Audit(ctx, tx, store.AuditEntry{At: now, Actor: req.UserID, Action: "handoff.emergency.secondary", Subject: ref(id),
			Details: map[string]any{"until": e.ShiftEnd}})
	})
	if err != nil {
		return commands.Response{}, fmt.Errorf("take secondary: %w", err)
	}
	if !claimed {
		if e, err = getEmergency(ctx, m.d.DB.Pool, id); err != nil {
			return commands.Response{}, err
		}
		return m.taken(e, req.UserID), nil
	}
	var errs []error
	done := commands.Message{Text: fmt.Sprintf(":white_check_mark: %s took *secondary* until %s (emergency handoff of %s). Thank you!",
		commands.Mention(cfg, req.UserID), commands.Date(e.ShiftEnd), cfg.Name(e.FromPrimary))}
	if e.Channel != "" && e.TS != "" {
		if err := m.d.Slack.Update(ctx, e.Channel, e.TS, done); err != nil {
			errs = append(errs, err)
		}
	}
	if err := m.pagerDuty(ctx, "secondary", req.UserID, now, e.ShiftEnd); err != nil {
		errs = append(errs, err)
		if e.Channel != "" && e.TS != "" {
			if _, rerr := m.d.Slack.Reply(ctx, e.Channel, e.TS, commands.Message{Text: ":warning: The PagerDuty secondary override could not be created: update the schedule by hand."}); rerr != nil {
				errs = append(errs, rerr)
			}
		}
	}
	if m.o.Sync != nil {
		if err := m.o.Sync(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		m.log.Warn("volunteer secondary partly announced", "emergency_id", id, "err", err)
	}
	return commands.Text("You are secondary on-call until %s. Thank you!", commands.Date(e.ShiftEnd)), nil
}

func (m *Module) taken(e emergency, user string) commands.Response {
	if e.Volunteer == user {
		return commands.Text("You already took secondary until %s.", commands.Date(e.ShiftEnd))
	}
	return commands.Text("%s already took secondary — thank you anyway.", commands.Mention(m.d.Config, e.Volunteer))
}
