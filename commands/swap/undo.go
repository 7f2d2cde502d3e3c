package swap

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/contextinject/oncallbot/commands"
	"github.com/contextinject/oncallbot/store"
)

// undoCmd handles `/oncall swap undo [#N]`: the caller's accepted swap that
// has not started yet (the one named, or the only one).
func (m *Module) undoCmd(ctx context.Context, user string, args []string) (commands.Response, error) {
	usage := "Usage: `/oncall swap undo [#N]` — undo your accepted swap #N before it starts (the other person confirms)."
	if len(args) > 1 {
		return commands.Response{}, commands.Errorf(commands.Invalid, "`/oncall swap undo` takes at most a swap number.\n%s", usage)
	}
	if len(args) == 1 {
		id, err := strconv.ParseInt(strings.TrimPrefix(args[0], "#"), 10, 64)
		if err != nil || id <= 0 {
			return commands.Response{}, commands.Errorf(commands.Invalid, "`%s` is not a swap number.\n%s", clip(args[0]), usage)
		}
		return m.requestUndo(ctx, user, id)
	}
	swaps, err := swapsOf(ctx, m.d.DB.Pool, user, statusAccepted)
	if err != nil {
		return commands.Response{}, err
	}
	now := m.d.Now()
	var open []Swap
	for _, s := range swaps {
		if s.Party(user) && now.Before(s.FirstStart()) {
			open = append(open, s)
		}
	}
	switch len(open) {
	case 0:
		return commands.Response{}, commands.Errorf(commands.NotFound,
			"You have no accepted swap that can still be undone; a swap can be undone until its first shift starts.\n%s", usage)
	case 1:
		return m.requestUndo(ctx, user, open[0].ID)
	}
	var b strings.Builder
	b.WriteString("You have several swaps that can be undone; name one:\n")
	for _, s := range open {
		fmt.Fprintf(&b, "• #%d with %s: %s ↔ %s\n", s.ID, m.name(s.Other(user)), span(s.AStart, s.AEnd), span(s.BStart, s.BEnd))
	}
	b.WriteString(usage)
	return commands.Response{}, commands.Errorf(commands.Invalid, "%s", b.String())
}

func (m *Module) undoButton(ctx context.Context, req commands.Action) (commands.Response, error) {
	id, err := parseID(req.Value)
	if err != nil {
		return commands.Response{}, err
	}
	return m.requestUndo(ctx, req.UserID, id)
}

// undoable checks that user may act on the undo of s at now.
func (m *Module) undoable(s Swap, user string, now time.Time) error {
	if !s.Party(user) {
		return commands.Errorf(commands.Forbidden, "Swap #%d is between %s and %s; only they can undo it. Nothing changed.", s.ID, m.name(s.PartyA), m.name(s.PartyB))
	}
	if s.Status != statusAccepted {
		return commands.Errorf(commands.Conflict, "%s Nothing changed.", m.statusLine(s))
	}
	if !now.Before(s.FirstStart()) {
		return commands.Errorf(commands.Conflict, "Swap #%d started %s and can no longer be undone. Nothing changed.", s.ID, commands.Date(s.FirstStart()))
	}
	return nil
}

// requestUndo asks the other party to confirm undoing swap id; when the
// other party already asked, this is the confirmation.
func (m *Module) requestUndo(ctx context.Context, user string, id int64) (commands.Response, error) {
	return m.transition(ctx, strconv.FormatInt(id, 10), func(tx pgx.Tx, s Swap, now time.Time) (outcome, error) {
		if err := m.undoable(s, user, now); err != nil {
			return outcome{}, err
		}
		switch s.UndoBy {
		case user:
			return outcome{}, commands.Errorf(commands.Conflict, "You already asked to undo swap #%d; waiting for %s to confirm.", s.ID, m.name(s.Other(user)))
		case s.Other(user):
			return m.undo(ctx, tx, s, user, now)
		}
		if err := setUndo(ctx, tx, s.ID, user, &now); err != nil {
			return outcome{}, err
		}
		if err := m.audit(ctx, tx, now, user, "swap.undo_request", s, nil); err != nil {
			return outcome{}, err
		}
		s.UndoBy, s.UndoAt = user, &now
		other := s.Other(user)
		return outcome{s: s, answer: fmt.Sprintf("I asked %s to confirm undoing swap #%d.", m.name(other), s.ID), after: func(ctx context.Context) {
			if ts := m.post(ctx, other, m.undoDM(s)); ts != "" {
				if err := setDM(ctx, m.d.DB.Pool, s.ID, "undo_dm_ts", ts); err != nil {
					m.d.Log.Warn("record undo DM failed", "swap_id", s.ID, "err", err)
				}
			}
			m.refreshHome(ctx, s.Parties()...)
		}}, nil
	})
}

// undoConfirm handles Confirm undo by the party who did not ask.
func (m *Module) undoConfirm(ctx context.Context, req commands.Action) (commands.Response, error) {
	return m.transition(ctx, req.Value, func(tx pgx.Tx, s Swap, now time.Time) (outcome, error) {
		if err := m.undoable(s, req.UserID, now); err != nil {
			return outcome{}, err
		}
		switch s.UndoBy {
		case "":
			return outcome{}, commands.Errorf(commands.Conflict, "Nobody asked to undo swap #%d (or the request was withdrawn); nothing changed.", s.ID)
		case req.UserID:
			return outcome{}, commands.Errorf(commands.Forbidden, "You asked to undo swap #%d; %s has to confirm.", s.ID, m.name(s.Other(req.UserID)))
		}
		return m.undo(ctx, tx, s, req.UserID, now)
	})
}

// undoKeep handles Keep the swap: the undo request is turned down.
func (m *Module) undoKeep(ctx context.Context, req commands.Action) (commands.Response, error) {
	return m.transition(ctx, req.Value, func(tx pgx.Tx, s Swap, now time.Time) (outcome, error) {
		if err := m.undoable(s, req.UserID, now); err != nil {
			return outcome{}, err
		}
		if s.UndoBy == "" || s.UndoBy == req.UserID {
			return outcome{}, commands.Errorf(commands.Conflict, "There is no undo request of swap #%d for you to answer; nothing changed.", s.ID)
		}
		asker := s.UndoBy
		if err := setUndo(ctx, tx, s.ID, "", nil); err != nil {
			return outcome{}, err
		}
		if err := m.audit(ctx, tx, now, req.UserID, "swap.undo_keep", s, map[string]any{"asked_by": asker}); err != nil {
			return outcome{}, err
		}
		return outcome{s: s, answer: fmt.Sprintf("Swap #%d stays as agreed.", s.ID), after: func(ctx context.Context) {
			m.update(ctx, req.UserID, s.UndoDMTS, plain(fmt.Sprintf("You kept swap #%d as agreed.", s.ID)))
			m.post(ctx, asker, plain(fmt.Sprintf("%s wants to keep swap #%d as agreed; nothing changed.", m.who(req.UserID), s.ID)))
			m.refreshHome(ctx, s.Parties()...)
		}}, nil
	})
}

// undo removes the swap's overrides and, with PagerDuty, its PagerDuty
// overrides (a River job).
func (m *Module) undo(ctx context.Context, tx pgx.Tx, s Swap, by string, now time.Time) (outcome, error) {
	ok, err := setStatus(ctx, tx, s.ID, statusAccepted, statusUndone, by, now)
	if err != nil {
		return outcome{}, err
	}
	if !ok {
		return outcome{}, fmt.Errorf("swap %d left accepted under its row lock", s.ID)
	}
	if err := m.removeOverrides(ctx, tx, s, by, now, "swap undone"); err != nil {
		return outcome{}, err
	}
	if err := m.audit(ctx, tx, now, by, "swap.undone", s, map[string]any{"asked_by": s.UndoBy}); err != nil {
		return outcome{}, err
	}
	if m.o.PagerDuty != nil {
		if _, err := m.d.Jobs.InsertTx(ctx, tx, PagerDutyArgs{SwapID: s.ID}, nil); err != nil {
			return outcome{}, fmt.Errorf("enqueue PagerDuty removal of swap %d: %w", s.ID, err)
		}
	}
	s.Status = statusUndone
	return outcome{s: s, answer: fmt.Sprintf("Swap #%d is undone; the original schedule is back.", s.ID), after: func(ctx context.Context) {
		text := fmt.Sprintf(":leftwards_arrow_with_hook: Swap #%d between %s and %s is undone (asked by %s, confirmed by %s); the original schedule is back:\n• %s keeps primary %s\n• %s keeps primary %s",
			s.ID, m.who(s.PartyA), m.who(s.PartyB), m.name(s.UndoBy), m.name(by),
			m.name(s.PartyA), span(s.AStart, s.AEnd), m.name(s.PartyB), span(s.BStart, s.BEnd))
		m.update(ctx, by, s.UndoDMTS, plain(fmt.Sprintf("You confirmed undoing swap #%d.", s.ID)))
		for _, p := range s.Parties() {
			m.post(ctx, p, plain(text))
		}
		m.post(ctx, m.d.Config.Channels.Engineering, plain(text))
		m.sync(ctx)
		m.refreshHome(ctx, s.Parties()...)
	}}, nil
}

// removeOverrides marks the swap's stored overrides deleted, audited.
func (m *Module) removeOverrides(ctx context.Context, tx pgx.Tx, s Swap, by string, now time.Time, why string) error {
	ovs, err := store.OverridesByRef(ctx, tx, s.Ref())
	if err != nil {
		return err
	}
	for _, o := range ovs {
		if err := store.DeleteOverride(ctx, tx, o.ID, now); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := store.Audit(ctx, tx, store.AuditEntry{At: now, Actor: by, Action: "override.delete", Subject: fmt.Sprintf("override:%d", o.ID),
			Details: map[string]any{"swap": s.ID, "why": why}}); err != nil {
			return err
		}
	}
	return nil
}
