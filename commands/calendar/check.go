package calendar

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/contextinject/oncallbot/commands"
	"github.com/contextinject/oncallbot/store"
)

// overridesKey is the kv key of the overrides Check saw last, to tell which
// were added or removed since (the cause of a change).
const overridesKey = "calendar.overrides_seen"

// Check tells people whose future shifts moved since the last Check, then
// refreshes the week's look-ahead. It computes each person's runs (overrides
// applied) over the horizon, diffs them against their stored snapshot, and
// queues one DM per person listing every change with its cause — except the
// changes they already know of (see AlreadyTold). A person's first Check
// only takes the snapshot. The diff, the snapshots and the queued DMs are
// written in one transaction under an advisory lock, so concurrent Checks
// (two replicas, a periodic run and a RequestCheck) detect each change
// once; DMs are sent after commit, each claimed by one sender.
func (m *Module) Check(ctx context.Context) error {
	now := m.d.Now()
	cfg := m.d.Config
	err := m.d.DB.InTx(ctx, func(tx pgx.Tx) error {
		if err := lock(ctx, tx); err != nil {
			return err
		}
		from, to := Window(now)
		rows, err := store.ListOverrides(ctx, tx, from, to)
		if err != nil {
			return err
		}
		cur := FromStore(rows)
		var old []Override
		if err := store.GetKV(ctx, tx, overridesKey, &old); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		snaps, err := loadSnapshots(ctx, tx)
		if err != nil {
			return err
		}
		runs := Runs(m.rot, from, to, cur)
		all := append(append([]Override(nil), old...), cur...)
		for _, p := range cfg.People {
			theirs := RunsOf(runs, p.SlackID)
			if prev, ok := snaps[p.SlackID]; ok {
				// Compare everything the snapshot could see, so a shift cut
				// short to end before now reads as shortened, not removed.
				if err := m.notice(ctx, tx, p.SlackID, prev, Snap(theirs, prev.TakenAt, to), old, cur, all); err != nil {
					return err
				}
			}
			if err := saveSnapshot(ctx, tx, p.SlackID, Snapshot{TakenAt: now, Until: to, Runs: Snap(theirs, now, to)}); err != nil {
				return err
			}
		}
		return store.PutKV(ctx, tx, overridesKey, cur, now)
	})
	if err != nil {
		return fmt.Errorf("calendar check: %w", err)
	}
	return errors.Join(m.deliver(ctx), m.RefreshLookAhead(ctx))
}

// notice diffs one person's shifts and queues their DM when a change is
// news to them; every detected change is audited either way.
func (m *Module) notice(ctx context.Context, tx pgx.Tx, user string, prev Snapshot, mine []SnapRun, old, cur, all []Override) error {
	now := m.d.Now()
	cfg := m.d.Config
	changes := Diff(prev, mine, now)
	if len(changes) == 0 {
		return nil
	}
	var tell []Change
	for i := range changes {
		Explain(user, &changes[i], old, cur)
		if !AlreadyTold(user, changes[i], all, cfg.Known) {
			tell = append(tell, changes[i])
		}
	}
	details := map[string]any{"changes": len(changes), "told": len(tell)}
	if len(tell) > 0 {
		id, err := insertNotice(ctx, tx, user, NoticeText(tell, cfg.Name, cfg.Known), now)
		if err != nil {
			return err
		}
		details["notice_id"] = id
	}
	return store.Audit(ctx, tx, store.AuditEntry{At: now, Actor: "oncallbot", Action: "calendar.shifts_moved",
		Subject: "calendar:" + user, Details: details})
}

// deliver sends the queued DMs. A notice is claimed before it is sent, so
// two replicas never send it twice; a failed send is retried by the next
// Check, up to maxAttempts.
func (m *Module) deliver(ctx context.Context) error {
	ids, err := openNotices(ctx, m.d.DB.Pool)
	if err != nil {
		return err
	}
	var errs []error
	for _, id := range ids {
		now := m.d.Now()
		user, body, ok, err := claimNotice(ctx, m.d.DB.Pool, id, now, now.Add(-staleClaim))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !ok {
			continue
		}
		_, sendErr := m.d.Slack.Post(ctx, user, commands.Message{Text: body})
		if sendErr != nil {
			m.d.Log.Warn("shift-moved DM failed; will retry", "user_id", user, "notice_id", id, "err", sendErr)
		}
		if err := finishNotice(ctx, m.d.DB.Pool, id, sendErr == nil, m.d.Now()); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
