package swap

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/contextinject/oncallbot/integrations/pagerduty"
	"github.com/contextinject/oncallbot/store"
)

// schedule returns the PagerDuty schedule of an override role, "" when none
// is configured.
func (m *Module) schedule(role string) string {
	p := m.d.Config.Rotation.PagerDuty
	if p == nil {
		return ""
	}
	if role == store.RoleSecondary {
		return p.SecondarySchedule
	}
	return p.PrimarySchedule
}

// pdUser maps a person to their PagerDuty user: pagerduty_id from the
// configuration, else the PagerDuty user with their email (cached).
func (m *Module) pdUser(ctx context.Context, id string) (string, error) {
	p, ok := m.d.Config.Person(id)
	if !ok {
		return "", fmt.Errorf("person %s: %w", id, pagerduty.ErrNoUser)
	}
	if p.PagerDutyID != "" {
		return p.PagerDutyID, nil
	}
	m.pdUsersMu.Lock()
	cached, ok := m.pdUsers[id]
	m.pdUsersMu.Unlock()
	if ok {
		return cached, nil
	}
	u, err := m.o.PagerDuty.UserByEmail(ctx, p.Email)
	if err != nil {
		return "", err
	}
	m.pdUsersMu.Lock()
	m.pdUsers[id] = u.ID
	m.pdUsersMu.Unlock()
	return u.ID, nil
}

// slackUser maps a PagerDuty user back to a person, "" when unknown.
func (m *Module) slackUser(pdID string) string {
	if p, ok := m.d.Config.PersonByPagerDutyID(pdID); ok {
		return p.SlackID
	}
	m.pdUsersMu.Lock()
	defer m.pdUsersMu.Unlock()
	for slackID, id := range m.pdUsers {
		if id == pdID {
			return slackID
		}
	}
	return ""
}

func (m *Module) changed() {
	if m.o.ChangedFunc != nil {
		m.o.ChangedFunc()
	}
}

// reconcilePD makes PagerDuty hold exactly the swap's overrides: all of
// them while it is accepted, none otherwise. A swap is one unit: when one
// of its overrides cannot be written (refused, or still failing on the last
// attempt), the swap is called off, the overrides already written are
// removed and both people are told — PagerDuty never holds half a swap.
// Temporary failures before the last attempt return an error so River
// retries with backoff.
func (m *Module) reconcilePD(ctx context.Context, id int64, final bool) error {
	if m.o.PagerDuty == nil {
		return nil
	}
	unlock, err := lockSwap(ctx, m.d.DB, id)
	if err != nil {
		return err
	}
	defer unlock()
	for round := 0; round < 3; round++ {
		s, err := getSwap(ctx, m.d.DB.Pool, id, false)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		now := m.d.Now()
		var desired []store.Override
		if s.Status == statusAccepted {
			ovs, err := store.OverridesByRef(ctx, m.d.DB.Pool, s.Ref())
			if err != nil {
				return err
			}
			for _, o := range ovs {
				if o.Source == "swap" && o.End.After(now) && m.schedule(o.Role) != "" {
					desired = append(desired, o)
				}
			}
		}
		recorded, err := activePD(ctx, m.d.DB.Pool, id)
		if err != nil {
			return err
		}
		wrote := false
		for _, r := range recorded {
			if slices.ContainsFunc(desired, func(o store.Override) bool { return o.ID == r.OverrideID }) {
				continue
			}
			if err := m.removePD(ctx, s, r, now, final); err != nil {
				return err
			}
			wrote = true
		}
		var failure error
		for _, o := range desired {
			if slices.ContainsFunc(recorded, func(r pdOverride) bool { return r.OverrideID == o.ID }) {
				continue
			}
			if err := m.writePD(ctx, s, o, now); err != nil {
				if pagerduty.IsTemporary(err) && !final {
					m.changed()
					return err
				}
				failure = err
				break
			}
			wrote = true
		}
		if wrote {
			m.changed()
		}
		if failure == nil {
			return nil
		}
		if err := m.callOff(ctx, s, failure, now); err != nil {
			return err
		}
		// The next round removes what was already written.
	}
	return nil
}

// writePD writes one stored override to PagerDuty and records it. An
// identical override already there (written by an attempt that stopped
// before recording it) is adopted rather than duplicated.
func (m *Module) writePD(ctx context.Context, s Swap, o store.Override, now time.Time) error {
	sched := m.schedule(o.Role)
	user, err := m.pdUser(ctx, o.UserID)
	if err != nil {
		return err
	}
	existing, err := m.o.PagerDuty.ListOverrides(ctx, sched, o.Start, o.End)
	if err != nil {
		return err
	}
	var got pagerduty.Override
	for _, e := range existing {
		if e.UserID == user && e.Start.Equal(o.Start) && e.End.Equal(o.End) {
			got = e
		}
	}
	if got.ID == "" {
		got, err = m.o.PagerDuty.CreateOverride(ctx, pagerduty.Override{ScheduleID: sched, UserID: user, Start: o.Start, End: o.End})
		if err != nil {
			return err
		}
	}
	return m.d.DB.InTx(ctx, func(tx pgx.Tx) error {
		rec := pdOverride{SwapID: s.ID, OverrideID: o.ID, ScheduleID: sched, PDID: got.ID, PDUser: user, UserID: o.UserID,
			Replaces: o.Replaces, Role: o.Role, Start: o.Start, End: o.End, CreatedAt: now}
		if err := insertPD(ctx, tx, rec); err != nil {
			return err
		}
		return m.audit(ctx, tx, now, "oncallbot", "swap.pagerduty_override", s, map[string]any{
			"schedule": sched, "pagerduty_override": got.ID, "pagerduty_user": user, "role": o.Role, "start": o.Start, "end": o.End})
	})
}

// removePD deletes a recorded PagerDuty override; when that keeps failing
// the people are told to remove it by hand.
func (m *Module) removePD(ctx context.Context, s Swap, r pdOverride, now time.Time, final bool) error {
	action := "swap.pagerduty_override_removed"
	var derr error
	if r.End.After(now) {
		derr = m.o.PagerDuty.DeleteOverride(ctx, r.ScheduleID, r.PDID)
		if derr != nil && pagerduty.IsTemporary(derr) && !final {
			return derr
		}
		if derr != nil {
			action = "swap.pagerduty_override_stuck"
			m.d.Log.Error("PagerDuty override could not be removed", "swap_id", s.ID, "pagerduty_override", r.PDID, "err", derr)
		}
	}
	err := m.d.DB.InTx(ctx, func(tx pgx.Tx) error {
		if _, err := setPDStatus(ctx, tx, r.ID, "removed", now); err != nil {
			return err
		}
		return m.audit(ctx, tx, now, "oncallbot", action, s, map[string]any{"schedule": r.ScheduleID, "pagerduty_override": r.PDID})
	})
	if err != nil {
		return err
	}
	if derr != nil {
		text := fmt.Sprintf(":warning: I could not remove a PagerDuty override of swap #%d: %s as %s %s on schedule %s (override %s). Please delete it in PagerDuty, or PagerDuty will page them.",
			s.ID, m.name(r.UserID), r.Role, span(r.Start, r.End), r.ScheduleID, r.PDID)
		for _, u := range uniq(r.UserID, r.Replaces) {
			m.post(ctx, u, plain(text))
		}
		m.post(ctx, m.d.Config.Channels.Engineering, plain(text))
	}
	return nil
}

// callOff ends an accepted swap PagerDuty could not hold: its stored
// overrides go, both people and #engineering are told.
func (m *Module) callOff(ctx context.Context, s Swap, cause error, now time.Time) error {
	why := "PagerDuty refused it"
	switch {
	case errors.Is(cause, pagerduty.ErrNoUser):
		why = "one of you has no PagerDuty user (no pagerduty_id in the configuration and no PagerDuty user with that email)"
	case pagerduty.IsTemporary(cause):
		why = "PagerDuty did not answer in time"
	}
	m.d.Log.Error("swap called off: PagerDuty overrides failed", "swap_id", s.ID, "err", cause)
	called := false
	err := m.d.DB.InTx(ctx, func(tx pgx.Tx) error {
		ok, err := setStatus(ctx, tx, s.ID, statusAccepted, statusFailed, "oncallbot", now)
		if err != nil || !ok {
			return err
		}
		called = true
		if err := m.removeOverrides(ctx, tx, s, "oncallbot", now, "PagerDuty could not hold the swap"); err != nil {
			return err
		}
		return m.audit(ctx, tx, now, "oncallbot", "swap.pagerduty_failed", s, map[string]any{"why": why})
	})
	if err != nil || !called {
		return err
	}
	text := fmt.Sprintf(":warning: Swap #%d between %s and %s is called off: its overrides could not be written to PagerDuty (%s), and PagerDuty must never hold half a swap. The schedule stays as it was:\n• %s keeps primary %s\n• %s keeps primary %s\nTry again later with `/oncall swap`.",
		s.ID, m.who(s.PartyA), m.who(s.PartyB), why, m.name(s.PartyA), span(s.AStart, s.AEnd), m.name(s.PartyB), span(s.BStart, s.BEnd))
	for _, p := range s.Parties() {
		m.post(ctx, p, plain(text))
	}
	m.post(ctx, m.d.Config.Channels.Engineering, plain(text))
	m.sync(ctx)
	m.refreshHome(ctx, s.Parties()...)
	return nil
}

// CheckDrift compares the PagerDuty overrides the bot wrote with what
// PagerDuty holds. One edited or deleted in PagerDuty is reported once to
// the people concerned and #engineering, and the bot's view follows
// PagerDuty: the stored override is deleted, and replaced by PagerDuty's
// version when it was edited.
func (m *Module) CheckDrift(ctx context.Context) error {
	if m.o.PagerDuty == nil {
		return nil
	}
	rows, err := watchedPD(ctx, m.d.DB.Pool, m.d.Now())
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range rows {
		if err := m.checkOne(ctx, r); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (m *Module) checkOne(ctx context.Context, r pdOverride) error {
	unlock, err := lockSwap(ctx, m.d.DB, r.SwapID)
	if err != nil {
		return err
	}
	defer unlock()
	active, err := activePD(ctx, m.d.DB.Pool, r.SwapID)
	if err != nil || !slices.ContainsFunc(active, func(a pdOverride) bool { return a.ID == r.ID }) {
		return err
	}
	list, err := m.o.PagerDuty.ListOverrides(ctx, r.ScheduleID, r.Start, r.End)
	if err != nil {
		return fmt.Errorf("drift check of swap %d: %w", r.SwapID, err)
	}
	var found *pagerduty.Override
	for i := range list {
		if list[i].ID == r.PDID {
			found = &list[i]
		}
	}
	if found != nil && found.UserID == r.PDUser && found.Start.Equal(r.Start) && found.End.Equal(r.End) {
		return nil
	}
	return m.drifted(ctx, r, found)
}

func (m *Module) drifted(ctx context.Context, r pdOverride, found *pagerduty.Override) error {
	now := m.d.Now()
	newUser := ""
	kind := "deleted"
	if found != nil {
		kind = "edited"
		newUser = m.slackUser(found.UserID)
	}
	s, err := getSwap(ctx, m.d.DB.Pool, r.SwapID, false)
	if err != nil {
		return err
	}
	reported := false
	err = m.d.DB.InTx(ctx, func(tx pgx.Tx) error {
		ok, err := setPDStatus(ctx, tx, r.ID, "drifted", now)
		if err != nil || !ok {
			return err
		}
		reported = true
		if err := store.DeleteOverride(ctx, tx, r.OverrideID, now); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if err := store.Audit(ctx, tx, store.AuditEntry{At: now, Actor: "oncallbot", Action: "override.delete", Subject: fmt.Sprintf("override:%d", r.OverrideID),
			Details: map[string]any{"swap": r.SwapID, "why": "PagerDuty override " + kind + " in PagerDuty"}}); err != nil {
			return err
		}
		details := map[string]any{"kind": kind, "schedule": r.ScheduleID, "pagerduty_override": r.PDID, "override": r.OverrideID}
		if found != nil && newUser != "" {
			oid, err := store.InsertOverride(ctx, tx, store.Override{Role: r.Role, UserID: newUser, Start: found.Start, End: found.End,
				Replaces: r.Replaces, Reason: fmt.Sprintf("swap #%d override edited in PagerDuty", r.SwapID), Source: "pagerduty",
				Ref: s.Ref(), CreatedBy: "oncallbot", CreatedAt: now})
			if err != nil {
				return err
			}
			details["replacement"] = oid
			if err := store.Audit(ctx, tx, store.AuditEntry{At: now, Actor: "oncallbot", Action: "override.create", Subject: fmt.Sprintf("override:%d", oid),
				Details: map[string]any{"swap": r.SwapID, "role": r.Role, "user": newUser, "start": found.Start, "end": found.End, "source": "pagerduty"}}); err != nil {
				return err
			}
		}
		return m.audit(ctx, tx, now, "oncallbot", "swap.drift", s, details)
	})
	if err != nil || !reported {
		return err
	}
	var text string
	switch {
	case found == nil:
		text = fmt.Sprintf(":warning: The PagerDuty override of swap #%d — %s as %s %s — was deleted in PagerDuty. I follow PagerDuty: that override is gone from my schedule too, so %s is back on it unless PagerDuty says otherwise.",
			s.ID, m.who(r.UserID), r.Role, span(r.Start, r.End), m.name(r.Replaces))
	case newUser != "":
		text = fmt.Sprintf(":warning: The PagerDuty override of swap #%d — %s as %s %s — was changed in PagerDuty: it now puts %s on %s. I follow PagerDuty and changed my schedule to match.",
			s.ID, m.who(r.UserID), r.Role, span(r.Start, r.End), m.who(newUser), span(found.Start, found.End))
	default:
		text = fmt.Sprintf(":warning: The PagerDuty override of swap #%d — %s as %s %s — was changed in PagerDuty to a PagerDuty user I don't know (%s). I follow PagerDuty: my schedule no longer shows that override.",
			s.ID, m.who(r.UserID), r.Role, span(r.Start, r.End), found.UserID)
	}
	for _, u := range uniq(r.UserID, r.Replaces, newUser) {
		m.post(ctx, u, plain(text))
	}
	m.post(ctx, m.d.Config.Channels.Engineering, plain(text))
	m.changed()
	m.sync(ctx)
	m.refreshHome(ctx, uniq(r.UserID, r.Replaces, newUser)...)
	return nil
}
