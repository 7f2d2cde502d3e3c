package swap

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/contextinject/oncallbot/commands"
	"github.com/contextinject/oncallbot/store"
)

var dateRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

// maxAhead bounds how far ahead a date may be.
const maxAhead = 366 * 24 * time.Hour

func invalid(format string, args ...any) error {
	return commands.Errorf(commands.Invalid, "%s\nUsage: `%s`", fmt.Sprintf(format, args...), usageSwap)
}

// swapRequest is a parsed `/oncall swap` line.
type swapRequest struct {
	people []string
	day    time.Time // zero: no date
}

// parseSwap parses "@eng [date]" or "@a @b [date]". It checks the syntax
// only; who may swap with whom is checked by validate.
func (m *Module) parseSwap(args []string) (swapRequest, error) {
	var r swapRequest
	if len(args) == 0 {
		return r, invalid("Tell me who to swap with.")
	}
	for i, a := range args {
		if id, ok := commands.ParseMention(a); ok {
			if !r.day.IsZero() {
				return r, invalid("Put the date last.")
			}
			if len(r.people) == 2 {
				return r, invalid("Name at most two people.")
			}
			r.people = append(r.people, id)
			continue
		}
		if len(r.people) == 0 {
			return r, invalid("I don't know who `%s` is; mention them as @name.", clip(a))
		}
		if !dateRE.MatchString(a) {
			return r, invalid("`%s` is not a date in the form YYYY-MM-DD.", clip(a))
		}
		day, err := time.ParseInLocation("2006-01-02", a, m.d.Config.Location)
		if err != nil {
			return r, invalid("`%s` is not a date in the form YYYY-MM-DD.", clip(a))
		}
		if i != len(args)-1 {
			return r, invalid("Put the date last, and only one.")
		}
		r.day = day
	}
	return r, nil
}

// clip shortens s to at most 40 bytes for an answer, cutting at a rune
// boundary so the sentence stays valid UTF-8.
func clip(s string) string {
	if len(s) > 40 {
		cut := 40
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return s[:cut] + "…"
	}
	return s
}

// checkSwapper refuses people who cannot swap: unknown, outside the pool.
func (m *Module) checkSwapper(id string) error {
	cfg := m.d.Config
	if _, ok := cfg.Person(id); !ok {
		return invalid("<@%s> is not in the on-call configuration.", id)
	}
	if !cfg.InPool(id) {
		return invalid("%s is not in the on-call pool, so they have no primary shifts to swap.", m.who(id))
	}
	return nil
}

// swapCmd handles `/oncall swap …`.
func (m *Module) swapCmd(ctx context.Context, req commands.Slash) (commands.Response, error) {
	cfg := m.d.Config
	args := commands.Fields(req.Args)
	if len(args) > 0 && strings.EqualFold(args[0], "undo") {
		return m.undoCmd(ctx, req.UserID, args[1:])
	}
	if _, ok := cfg.Person(req.UserID); !ok {
		return commands.Response{}, commands.Errorf(commands.Forbidden, "Only people of the on-call configuration can swap shifts.")
	}
	r, err := m.parseSwap(args)
	if err != nil {
		return commands.Response{}, err
	}
	now := m.d.Now()
	var a, b string
	switch len(r.people) {
	case 1:
		a, b = req.UserID, r.people[0]
		if b == a {
			return commands.Response{}, invalid("You can't swap with yourself; name someone else in the pool.")
		}
		if err := m.checkSwapper(b); err != nil {
			return commands.Response{}, err
		}
		if !cfg.InPool(a) {
			return commands.Response{}, invalid("You are not in the on-call pool, so you have no primary shift to swap.")
		}
	case 2:
		a, b = r.people[0], r.people[1]
		if !cfg.IsAdmin(req.UserID) {
			return commands.Response{}, commands.Errorf(commands.Forbidden,
				"Only admins can arrange a swap between two people.\nUsage: `%s`", usageSwap)
		}
		if a == b {
			return commands.Response{}, invalid("Name two different people.")
		}
		for _, p := range []string{a, b} {
			if err := m.checkSwapper(p); err != nil {
				return commands.Response{}, err
			}
		}
	}
	var dayStart, dayEnd time.Time
	if !r.day.IsZero() {
		dayStart, dayEnd = r.day, r.day.AddDate(0, 0, 1)
		if !dayEnd.After(now) {
			return commands.Response{}, invalid("%s is in the past; pick today or a later date.", r.day.Format("2006-01-02"))
		}
		if dayStart.Sub(now) > maxAhead {
			return commands.Response{}, invalid("%s is more than a year ahead.", r.day.Format("2006-01-02"))
		}
	}
	horizon := now.Add(maxAhead + time.Duration(len(cfg.Rotation.Pool)+2)*m.rot.Length)
	ovs, err := m.o.Roster.Overrides(ctx, now.Add(-m.rot.Length), horizon)
	if err != nil {
		return commands.Response{}, fmt.Errorf("read overrides: %w", err)
	}
	wa, wb, err := findShifts(m.rot, ovs, a, b, now, dayStart, dayEnd)
	whose := "You have"
	if a != req.UserID {
		whose = m.name(a) + " has"
	}
	switch {
	case errors.Is(err, errNoShift):
		return commands.Response{}, commands.Errorf(commands.NotFound, "%s no primary shift coming up to swap.", whose)
	case errors.Is(err, errNoShiftOnDay):
		hint := ""
		if s, ok := m.rot.NextPrimaryShift(a, now, ovs); ok {
			hint = fmt.Sprintf(" The next one is %s.", span(maxTime(s.Start, now), s.End))
		}
		return commands.Response{}, invalid("%s no primary shift on %s.%s", whose, r.day.Format("Mon 2 Jan 2006"), hint)
	case errors.Is(err, errNoPartnerShift):
		return commands.Response{}, commands.Errorf(commands.NotFound,
			"%s has no primary shift after %s to swap with.", m.name(b), span(wa.Start, wa.End))
	case err != nil:
		return commands.Response{}, err
	}
	s := Swap{
		RequestedBy: req.UserID, PartyA: a, PartyB: b, ShiftA: wa.Shift, ShiftB: wb.Shift,
		AStart: wa.Start, AEnd: wa.End, BStart: wb.Start, BEnd: wb.End, CreatedAt: now,
		ExpiresAt: minTime(now.Add(m.o.Expiry), wa.End),
	}
	if a == req.UserID {
		s.AAcceptedAt = &now
	}
	err = m.d.DB.InTx(ctx, func(tx pgx.Tx) error {
		id, err := insertSwap(ctx, tx, s)
		if err != nil {
			return err
		}
		s.ID = id
		if err := store.Audit(ctx, tx, store.AuditEntry{At: now, Actor: req.UserID, Action: "swap.request", Subject: s.Ref(),
			Details: map[string]any{"party_a": a, "party_b": b, "a_start": s.AStart, "a_end": s.AEnd, "b_start": s.BStart, "b_end": s.BEnd, "expires_at": s.ExpiresAt}}); err != nil {
			return err
		}
		if _, err := m.d.Jobs.InsertTx(ctx, tx, ExpireArgs{SwapID: id}, &river.InsertOpts{ScheduledAt: s.ExpiresAt}); err != nil {
			return fmt.Errorf("schedule expiry of swap %d: %w", id, err)
		}
		return nil
	})
	if errors.Is(err, errShiftTaken) {
		other, gerr := m.pendingOf(ctx, wa.Shift, wb.Shift)
		if gerr != nil {
			return commands.Response{}, commands.Errorf(commands.Conflict, "There is already a pending swap request for one of these shifts; wait for it to be answered or cancelled.")
		}
		return commands.Response{}, commands.Errorf(commands.Conflict,
			"There is already a pending swap request for one of these shifts: #%d between %s and %s (%s ↔ %s). Wait for it to be answered or cancelled.",
			other.ID, m.name(other.PartyA), m.name(other.PartyB), span(other.AStart, other.AEnd), span(other.BStart, other.BEnd))
	}
	if err != nil {
		return commands.Response{}, err
	}
	m.invite(ctx, s)
	m.refreshHome(ctx, s.Parties()...)
	msg := m.requestedAnswer(s)
	return commands.Response{Ephemeral: &msg}, nil
}

func (m *Module) pendingOf(ctx context.Context, shifts ...int) (Swap, error) {
	for _, sh := range shifts {
		s, err := pendingFor(ctx, m.d.DB.Pool, sh)
		if err == nil {
			return s, nil
		}
	}
	return Swap{}, store.ErrNotFound
}

// invite DMs the people who still have to accept and records the DMs.
func (m *Module) invite(ctx context.Context, s Swap) {
	for _, p := range []struct {
		user, column string
		done         bool
	}{{s.PartyA, "dm_a_ts", s.AAcceptedAt != nil}, {s.PartyB, "dm_b_ts", s.BAcceptedAt != nil}} {
		if p.done {
			continue
		}
		ts := m.post(ctx, p.user, m.requestDM(s))
		if ts == "" {
			continue
		}
		if err := setDM(ctx, m.d.DB.Pool, s.ID, p.column, ts); err != nil {
			m.d.Log.Warn("record swap DM failed", "swap_id", s.ID, "err", err)
		}
	}
}

// parseID reads a button's swap ID.
func parseID(v string) (int64, error) {
	id, err := strconv.ParseInt(strings.TrimPrefix(strings.TrimSpace(v), "#"), 10, 64)
	if err != nil || id <= 0 {
		return 0, commands.Errorf(commands.Invalid, "That button does not name a swap request.")
	}
	return id, nil
}
