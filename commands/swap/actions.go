package swap

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/contextinject/oncallbot/commands"
	"github.com/contextinject/oncallbot/store"
)

// outcome is what a transition decided, for the notifications sent after
// its transaction commits.
type outcome struct {
	s      Swap
	answer string // for the clicker
	after  func(ctx context.Context)
	// fail is a user error to answer with after the transaction commits
	// a decision found on the way (an expiry, a changed schedule).
	fail error
}

// transition runs f on swap id, locked in a transaction, then the
// notifications it asked for. An error from f rolls everything back; every
// decision it commits is audited.
func (m *Module) transition(ctx context.Context, value string, f func(tx pgx.Tx, s Swap, now time.Time) (outcome, error)) (commands.Response, error) {
	id, err := parseID(value)
	if err != nil {
		return commands.Response{}, err
	}
	var out outcome
	err = m.d.DB.InTx(ctx, func(tx pgx.Tx) error {
		s, err := getSwap(ctx, tx, id, true)
		if errors.Is(err, store.ErrNotFound) {
			return commands.Errorf(commands.NotFound, "There is no swap request #%d.", id)
		}
		if err != nil {
			return err
		}
		out, err = f(tx, s, m.d.Now())
		return err
	})
	if err != nil {
		return commands.Response{}, err
	}
	if out.after != nil {
		out.after(ctx)
	}
	if out.fail != nil {
		return commands.Response{}, out.fail
	}
	if out.answer == "" {
		return commands.Response{}, nil
	}
	return commands.Text("%s", out.answer), nil
}

// dmOf returns the ts of party's request DM.
func dmOf(s Swap, party string) string {
	if party == s.PartyA {
		return s.DMATS
	}
	return s.DMBTS
}

func (m *Module) audit(ctx context.Context, tx pgx.Tx, at time.Time, actor, action string, s Swap, details map[string]any) error {
	return store.Audit(ctx, tx, store.AuditEntry{At: at, Actor: actor, Action: action, Subject: s.Ref(), Details: details})
}

// accept handles Accept: the invitee agrees. The last acceptance puts the
// swap in force.
func (m *Module) accept(ctx context.Context, req commands.Action) (commands.Response, error) {
	return m.decide(ctx, req, func(tx pgx.Tx, s Swap, now time.Time) (outcome, error) {
		if s.acceptedBy(req.UserID) {
			return outcome{}, commands.Errorf(commands.Conflict, "You already accepted swap request #%d; waiting for %s.", s.ID, m.name(s.Other(req.UserID)))
		}
		isA := req.UserID == s.PartyA
		if err := markAccepted(ctx, tx, s.ID, isA, now); err != nil {
			return outcome{}, err
		}
		if isA {
			s.AAcceptedAt = &now
		} else {
			s.BAcceptedAt = &now
		}
		if err := m.audit(ctx, tx, now, req.UserID, "swap.accept", s, nil); err != nil {
			return outcome{}, err
		}
		if s.AAcceptedAt == nil || s.BAcceptedAt == nil {
			other := s.Other(req.UserID)
			return outcome{s: s, answer: fmt.Sprintf("You accepted swap request #%d; waiting for %s.", s.ID, m.name(other)),
				after: func(ctx context.Context) {
					m.update(ctx, req.UserID, dmOf(s, req.UserID), plain(fmt.Sprintf(":hourglass: You accepted swap request #%d:\n%s\nWaiting for %s.", s.ID, m.terms(s), m.name(other))))
					if s.Arranged() {
						m.post(ctx, s.RequestedBy, plain(fmt.Sprintf("%s accepted swap request #%d; waiting for %s.", m.name(req.UserID), s.ID, m.name(other))))
					}
				}}, nil
		}
		return m.putInForce(ctx, tx, s, req.UserID, now)
	})
}

// decide runs f on a pending swap clicked by one of its invitees; a click
// by anyone else, or on a swap no longer pending, changes nothing.
func (m *Module) decide(ctx context.Context, req commands.Action, f func(tx pgx.Tx, s Swap, now time.Time) (outcome, error)) (commands.Response, error) {
	return m.transition(ctx, req.Value, func(tx pgx.Tx, s Swap, now time.Time) (outcome, error) {
		if !m.invitee(s, req.UserID) {
			return outcome{}, commands.Errorf(commands.Forbidden, "Swap request #%d is for %s, not you; nothing changed.", s.ID, m.invitees(s))
		}
		if s.Status != statusPending {
			return outcome{}, commands.Errorf(commands.Conflict, "%s Nothing changed.", m.statusLine(s))
		}
		if !now.Before(s.ExpiresAt) {
			out, err := m.expireLocked(ctx, tx, s, now)
			out.fail = commands.Errorf(commands.Conflict, "Swap request #%d expired %s; nothing changed.", s.ID, commands.Date(s.ExpiresAt))
			return out, err
		}
		return f(tx, s, now)
	})
}

// invitee reports whether user is asked to answer s.
func (m *Module) invitee(s Swap, user string) bool {
	if s.Arranged() {
		return s.Party(user)
	}
	return user == s.PartyB
}

func (m *Module) invitees(s Swap) string {
	if s.Arranged() {
		return m.name(s.PartyA) + " and " + m.name(s.PartyB)
	}
	return m.name(s.PartyB)
}

// putInForce stores the overrides of an accepted swap, after checking the
// schedule still holds the two shifts.
func (m *Module) putInForce(ctx context.Context, tx pgx.Tx, s Swap, by string, now time.Time) (outcome, error) {
	if now.After(s.AStart) {
		s.AStart = now.Truncate(time.Second)
		if err := setWindowA(ctx, tx, s.ID, s.AStart); err != nil {
			return outcome{}, err
		}
	}
	ovs, err := m.o.Roster.Overrides(ctx, s.AStart.Add(-m.rot.Length), s.BEnd.Add(m.rot.Length))
	if err != nil {
		return outcome{}, fmt.Errorf("read overrides: %w", err)
	}
	wa := window{Shift: s.ShiftA, Start: s.AStart, End: s.AEnd}
	wb := window{Shift: s.ShiftB, Start: s.BStart, End: s.BEnd}
	if !holds(m.rot, ovs, s.PartyA, wa) || !holds(m.rot, ovs, s.PartyB, wb) {
		if _, err := setStatus(ctx, tx, s.ID, statusPending, statusObsolete, by, now); err != nil {
			return outcome{}, err
		}
		if err := m.audit(ctx, tx, now, by, "swap.obsolete", s, map[string]any{"why": "schedule changed"}); err != nil {
			return outcome{}, err
		}
		s.Status, s.DecidedAt = statusObsolete, &now
		text := fmt.Sprintf(":warning: Swap request #%d no longer applies: the schedule of those shifts changed since it was sent. Nothing changed; ask again with `/oncall swap`.", s.ID)
		return outcome{s: s, fail: commands.Errorf(commands.Conflict, "%s", text), after: func(ctx context.Context) {
			for _, p := range s.Parties() {
				m.update(ctx, p, dmOf(s, p), plain(text))
			}
			if !s.Party(s.RequestedBy) {
				m.post(ctx, s.RequestedBy, plain(text))
			} else {
				m.post(ctx, s.Other(by), plain(text))
			}
			m.refreshHome(ctx, s.Parties()...)
		}}, nil
	}
	for _, p := range plan(m.rot, ovs, s.PartyA, s.PartyB, wa, wb) {
		o := store.Override{Role: string(p.Role), UserID: p.User, Start: p.Start, End: p.End, Replaces: p.Replaces,
			Reason: fmt.Sprintf("swap #%d between %s and %s", s.ID, m.name(s.PartyA), m.name(s.PartyB)),
			Source: "swap", Ref: s.Ref(), CreatedBy: by, CreatedAt: now}
		oid, err := store.InsertOverride(ctx, tx, o)
		if err != nil {
			return outcome{}, err
		}
		if err := store.Audit(ctx, tx, store.AuditEntry{At: now, Actor: by, Action: "override.create", Subject: fmt.Sprintf("override:%d", oid),
			Details: map[string]any{"swap": s.ID, "role": o.Role, "user": o.UserID, "replaces": o.Replaces, "start": o.Start, "end": o.End}}); err != nil {
			return outcome{}, err
		}
	}
	ok, err := setStatus(ctx, tx, s.ID, statusPending, statusAccepted, by, now)
	if err != nil {
		return outcome{}, err
	}
	if !ok {
		return outcome{}, fmt.Errorf("swap %d left pending under its row lock", s.ID)
	}
	s.Status, s.DecidedAt, s.DecidedBy = statusAccepted, &now, by
	if err := m.audit(ctx, tx, now, by, "swap.accepted", s, map[string]any{"a_start": s.AStart, "a_end": s.AEnd, "b_start": s.BStart, "b_end": s.BEnd}); err != nil {
		return outcome{}, err
	}
	if m.o.PagerDuty != nil {
		if _, err := m.d.Jobs.InsertTx(ctx, tx, PagerDutyArgs{SwapID: s.ID}, nil); err != nil {
			return outcome{}, fmt.Errorf("enqueue PagerDuty overrides of swap %d: %w", s.ID, err)
		}
	}
	return outcome{s: s, after: func(ctx context.Context) {
		done := plain(fmt.Sprintf(":white_check_mark: Swap request #%d was accepted:\n%s", s.ID, m.terms(s)))
		for _, p := range s.Parties() {
			m.update(ctx, p, dmOf(s, p), done)
		}
		for _, p := range s.Parties() {
			m.post(ctx, p, m.confirmation(s, m.o.PagerDuty != nil))
		}
		if s.Arranged() && !s.Party(s.RequestedBy) {
			m.post(ctx, s.RequestedBy, done)
		}
		m.post(ctx, m.d.Config.Channels.Engineering, plain(fmt.Sprintf(":arrows_counterclockwise: On-call swap #%d between %s and %s:\n%s",
			s.ID, m.who(s.PartyA), m.who(s.PartyB), m.terms(s))))
		m.sync(ctx)
		m.refreshHome(ctx, s.Parties()...)
	}}, nil
}

// decline handles Decline: nothing changes and the requester is told.
func (m *Module) decline(ctx context.Context, req commands.Action) (commands.Response, error) {
	return m.decide(ctx, req, func(tx pgx.Tx, s Swap, now time.Time) (outcome, error) {
		if _, err := setStatus(ctx, tx, s.ID, statusPending, statusDeclined, req.UserID, now); err != nil {
			return outcome{}, err
		}
		if err := m.audit(ctx, tx, now, req.UserID, "swap.decline", s, nil); err != nil {
			return outcome{}, err
		}
		s.Status = statusDeclined
		return outcome{s: s, answer: fmt.Sprintf("You declined swap request #%d; nothing changes.", s.ID), after: func(ctx context.Context) {
			text := fmt.Sprintf(":x: %s declined swap request #%d; the schedule stays as it was.", m.who(req.UserID), s.ID)
			for _, p := range s.Parties() {
				if p == req.UserID {
					m.update(ctx, p, dmOf(s, p), plain(fmt.Sprintf(":x: You declined swap request #%d; nothing changes.", s.ID)))
				} else if dmOf(s, p) != "" {
					m.update(ctx, p, dmOf(s, p), plain(text))
				}
			}
			for _, u := range uniq(s.RequestedBy, s.Other(req.UserID)) {
				if u != req.UserID {
					m.post(ctx, u, plain(text))
				}
			}
			m.refreshHome(ctx, s.Parties()...)
		}}, nil
	})
}

func uniq(ids ...string) []string {
	var out []string
	for _, id := range ids {
		dup := false
		for _, o := range out {
			dup = dup || o == id
		}
		if !dup && id != "" {
			out = append(out, id)
		}
	}
	return out
}

// cancel handles Cancel: the requester withdraws a pending request.
func (m *Module) cancel(ctx context.Context, req commands.Action) (commands.Response, error) {
	return m.transition(ctx, req.Value, func(tx pgx.Tx, s Swap, now time.Time) (outcome, error) {
		if req.UserID != s.RequestedBy {
			return outcome{}, commands.Errorf(commands.Forbidden, "Only %s, who asked, can cancel swap request #%d; nothing changed.", m.name(s.RequestedBy), s.ID)
		}
		if s.Status != statusPending {
			return outcome{}, commands.Errorf(commands.Conflict, "%s Nothing changed.", m.statusLine(s))
		}
		if _, err := setStatus(ctx, tx, s.ID, statusPending, statusCancelled, req.UserID, now); err != nil {
			return outcome{}, err
		}
		if err := m.audit(ctx, tx, now, req.UserID, "swap.cancel", s, nil); err != nil {
			return outcome{}, err
		}
		return outcome{s: s, answer: fmt.Sprintf("Swap request #%d is cancelled; nothing changes.", s.ID), after: func(ctx context.Context) {
			text := fmt.Sprintf(":heavy_multiplication_x: %s cancelled swap request #%d; nothing changes.", m.who(req.UserID), s.ID)
			for _, p := range s.Parties() {
				if p != req.UserID {
					m.update(ctx, p, dmOf(s, p), plain(text))
				}
			}
			m.refreshHome(ctx, s.Parties()...)
		}}, nil
	})
}

// expire ends a pending request at its deadline (the River job); a request
// answered meanwhile, or not yet due, is left alone.
func (m *Module) expire(ctx context.Context, id int64) error {
	var (
		out  outcome
		wait time.Duration
	)
	err := m.d.DB.InTx(ctx, func(tx pgx.Tx) error {
		s, err := getSwap(ctx, tx, id, true)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		now := m.d.Now()
		if s.Status != statusPending {
			return nil
		}
		if now.Before(s.ExpiresAt) {
			// Not due by the bot's clock (a clock behind River's): run again then.
			wait = s.ExpiresAt.Sub(now)
			return nil
		}
		out, err = m.expireLocked(ctx, tx, s, now)
		return err
	})
	if err != nil {
		return err
	}
	if wait > 0 {
		return river.JobSnooze(wait)
	}
	if out.after != nil {
		out.after(ctx)
	}
	return nil
}

func (m *Module) expireLocked(ctx context.Context, tx pgx.Tx, s Swap, now time.Time) (outcome, error) {
	ok, err := setStatus(ctx, tx, s.ID, statusPending, statusExpired, "oncallbot", now)
	if err != nil || !ok {
		return outcome{}, err
	}
	if err := m.audit(ctx, tx, now, "oncallbot", "swap.expire", s, map[string]any{"expires_at": s.ExpiresAt}); err != nil {
		return outcome{}, err
	}
	return outcome{s: s, after: func(ctx context.Context) {
		text := fmt.Sprintf(":hourglass: Swap request #%d expired without an answer from %s; the schedule stays as it was.", s.ID, m.pendingNames(s))
		for _, p := range s.Parties() {
			m.update(ctx, p, dmOf(s, p), plain(fmt.Sprintf(":hourglass: Swap request #%d expired %s; nothing changed.", s.ID, commands.Date(s.ExpiresAt))))
		}
		m.post(ctx, s.RequestedBy, plain(text))
		m.refreshHome(ctx, s.Parties()...)
	}}, nil
}

func (m *Module) pendingNames(s Swap) string {
	var names []string
	for _, p := range s.Parties() {
		if !s.acceptedBy(p) {
			names = append(names, m.name(p))
		}
	}
	if len(names) == 2 {
		return names[0] + " and " + names[1]
	}
	if len(names) == 1 {
		return names[0]
	}
	return "everyone"
}
