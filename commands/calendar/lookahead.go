package calendar

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/contextinject/oncallbot/commands"
	"github.com/contextinject/oncallbot/commands/config"
	"github.com/contextinject/oncallbot/commands/rotation"
	"github.com/contextinject/oncallbot/store"
)

// lookAheadJob names the look-ahead's slots in cron_runs (store.ClaimSlot).
const lookAheadJob = "calendar.lookahead"

// LastFire returns the latest instant at or before now at which s fires;
// ok is false when it never fired in the year before now. It steps back in
// growing windows so frequent schedules (@every 1m) cost few steps.
func LastFire(s interface{ Next(time.Time) time.Time }, now time.Time) (time.Time, bool) {
	for _, back := range []time.Duration{time.Minute, time.Hour, 24 * time.Hour, 8 * 24 * time.Hour, 32 * 24 * time.Hour, 367 * 24 * time.Hour} {
		t := s.Next(now.Add(-back))
		if t.IsZero() || t.After(now) {
			continue
		}
		for range 100000 {
			n := s.Next(t)
			if n.IsZero() || n.After(now) {
				break
			}
			t = n
		}
		return t, true
	}
	return time.Time{}, false
}

// LookAhead makes sure the look-ahead of the latest handoff.reminder slot
// is posted in #engineering — exactly once per slot across replicas
// (store.ClaimSlot) — unless that slot is more than LookAheadGrace ago, then
// refreshes it. It runs at every reminder and at start.
func (m *Module) LookAhead(ctx context.Context) error { return m.lookAhead(ctx, m.o.LookAheadGrace) }

// LookAheadNow is LookAhead without the grace: the latest slot's look-ahead
// is posted however long ago the slot was, still once per slot. The local
// workspace's `run lookahead` uses it.
func (m *Module) LookAheadNow(ctx context.Context) error { return m.lookAhead(ctx, 0) }

// lookAhead posts the latest slot's look-ahead when the slot is at most
// grace ago (any slot when grace is 0), then refreshes it.
func (m *Module) lookAhead(ctx context.Context, grace time.Duration) error {
	now := m.d.Now()
	channel := m.d.Config.Channels.Engineering
	if m.sched == nil || channel == "" {
		return nil
	}
	slot, ok := LastFire(m.sched, now)
	if ok && (grace == 0 || now.Sub(slot) <= grace) {
		err := m.d.DB.InTx(ctx, func(tx pgx.Tx) error {
			if err := lock(ctx, tx); err != nil {
				return err
			}
			claimed, err := store.ClaimSlot(ctx, tx, lookAheadJob, slot, now)
			if err != nil || !claimed {
				return err
			}
			if _, err := insertLookAhead(ctx, tx, slot, channel, now); err != nil {
				return err
			}
			return store.Audit(ctx, tx, store.AuditEntry{At: now, Actor: "oncallbot", Action: "calendar.lookahead.due",
				Subject: "lookahead:" + slot.UTC().Format(time.RFC3339)})
		})
		if err != nil {
			return fmt.Errorf("look-ahead: %w", err)
		}
	}
	return m.RefreshLookAhead(ctx)
}

// RefreshLookAhead posts the latest slot's look-ahead if it is not posted
// yet, or edits it in place (chat.update) when the shifts it lists changed;
// a look-ahead whose week is over (the next reminder passed) is left alone.
// Check calls it after every diff.
func (m *Module) RefreshLookAhead(ctx context.Context) error {
	if m.sched == nil {
		return nil
	}
	now := m.d.Now()
	err := m.d.DB.InTx(ctx, func(tx pgx.Tx) error {
		if err := lock(ctx, tx); err != nil {
			return err
		}
		row, err := latestLookAhead(ctx, tx)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if next := m.sched.Next(row.Slot); !next.IsZero() && !now.Before(next) {
			return nil
		}
		body, err := m.LookAheadText(ctx, tx, row.Slot)
		if err != nil {
			return err
		}
		subject := "lookahead:" + row.Slot.UTC().Format(time.RFC3339)
		switch {
		case row.TS == "":
			ts, err := m.d.Slack.Post(ctx, row.Channel, commands.Message{Text: body})
			if err != nil {
				return fmt.Errorf("post look-ahead: %w", err)
			}
			if err := updateLookAhead(ctx, tx, row.Slot, ts, body, now); err != nil {
				return err
			}
			if err := store.FinishSlot(ctx, tx, lookAheadJob, row.Slot, "ok", now); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			return store.Audit(ctx, tx, store.AuditEntry{At: now, Actor: "oncallbot", Action: "calendar.lookahead.post",
				Subject: subject, Details: map[string]any{"channel": row.Channel, "ts": ts}})
		case body != row.Body:
			if err := m.d.Slack.Update(ctx, row.Channel, row.TS, commands.Message{Text: body}); err != nil {
				return fmt.Errorf("update look-ahead: %w", err)
			}
			if err := updateLookAhead(ctx, tx, row.Slot, row.TS, body, now); err != nil {
				return err
			}
			return store.Audit(ctx, tx, store.AuditEntry{At: now, Actor: "oncallbot", Action: "calendar.lookahead.update",
				Subject: subject, Details: map[string]any{"channel": row.Channel, "ts": row.TS}})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("refresh look-ahead: %w", err)
	}
	return nil
}

// LookAheadText renders the look-ahead of slot: the shift containing it and
// the three after, each with its primary and secondary, overrides marked,
// and any change of people inside a shift on its own line. It depends only
// on the slot and the overrides, so it changes exactly when those shifts do.
func (m *Module) LookAheadText(ctx context.Context, q store.DBTX, slot time.Time) (string, error) {
	w0, ok := m.rot.IndexAt(slot)
	if !ok {
		w0 = 0
	}
	from, _ := m.rot.Bounds(w0)
	_, to := m.rot.Bounds(w0 + lookAheadShifts - 1)
	rows, err := store.ListOverrides(ctx, q, from, to)
	if err != nil {
		return "", err
	}
	return LookAheadText(m.d.Config, m.rot, w0, FromStore(rows)), nil
}

// LookAheadText renders shifts w0 … w0+3 of rot with ovs applied.
func LookAheadText(cfg *config.Config, rot rotation.Rotation, w0 int, ovs []Override) string {
	from, _ := rot.Bounds(w0)
	_, to := rot.Bounds(w0 + lookAheadShifts - 1)
	var b strings.Builder
	fmt.Fprintf(&b, ":calendar: *On-call look-ahead: the next %d shifts*\n", lookAheadShifts)
	last := -1
	for _, s := range rot.Segments(from, to, plain(ovs)) {
		people := "primary " + cfg.Name(s.Primary) + mark(cfg, s.PrimaryOverride)
		if s.HasSecondary() {
			people += ", secondary " + cfg.Name(s.Secondary) + mark(cfg, s.SecondaryOverride)
		}
		if s.Index != last {
			start, end := rot.Bounds(s.Index)
			fmt.Fprintf(&b, "• %s → %s: %s\n", commands.Date(start), commands.Date(end), people)
			last = s.Index
			continue
		}
		fmt.Fprintf(&b, "    ↳ from %s: %s\n", commands.Date(s.Start), people)
	}
	b.WriteString("_This message is edited when a swap or handoff changes these shifts. `/oncall calendar` puts them in your calendar._")
	return b.String()
}

// mark notes an override after a name: " _(swap, instead of Engineer B)_".
func mark(cfg *config.Config, o *rotation.Override) string {
	if o == nil {
		return ""
	}
	s := " _(" + sourceLabel(o.Source)
	if o.Replaces != "" {
		s += ", instead of " + cfg.Name(o.Replaces)
	}
	return s + ")_"
}
