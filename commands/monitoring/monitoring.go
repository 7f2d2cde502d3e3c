package monitoring

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/contextinject/oncallbot/commands"
	"github.com/contextinject/oncallbot/store"
)

// Module posts non-paging alert groups in #monitoring and tracks their
// acknowledgement by reaction.
type Module struct {
	d commands.Deps
}

// New returns the module.
func New(d commands.Deps) *Module { return &Module{d: d} }

// Register adds the reaction handlers.
func (m *Module) Register(r *commands.Registry) {
	r.Event("reaction_added", m.reaction)
	r.Event("reaction_removed", m.reaction)
}

// errRaced means another writer created the group first; try again.
var errRaced = errors.New("alert group created concurrently")

// subject names a group in the audit log; group keys are long and quoted.
func subject(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "alert_group:" + hex.EncodeToString(sum[:8])
}

// Alert records notification g of a non-paging alert group and posts or
// edits the group's message in #monitoring. It is idempotent: a repeated or
// redelivered notification edits nothing. The state is stored before the
// message is posted; when Slack fails the error is returned (the webhook
// answers 5xx so Alertmanager retries) and the next call posts it.
func (m *Module) Alert(ctx context.Context, g Group) error {
	if err := Validate(g); err != nil {
		return commands.Errorf(commands.Invalid, "The alert group was refused: %s.", err)
	}
	channel := m.d.Config.Channels.Monitoring
	if channel == "" {
		return commands.Errorf(commands.Unavailable, "No #monitoring channel is configured (channels.monitoring).")
	}
	now := m.d.Now()
	var err error
	for range 3 {
		err = m.d.DB.InTx(ctx, func(tx pgx.Tx) error {
			r, err := lockGroup(ctx, tx, g.GroupKey)
			switch {
			case errors.Is(err, store.ErrNotFound):
				s, _ := Merge(State{}, g, now)
				ok, err := insertGroup(ctx, tx, g.GroupKey, channel, s, now)
				if err != nil {
					return err
				}
				if !ok {
					return errRaced
				}
				return m.auditAlert(ctx, tx, g, s, now, "monitoring.alert_group")
			case err != nil:
				return err
			}
			s, changed := Merge(r.State, g, now)
			if !changed {
				return nil
			}
			if err := saveState(ctx, tx, g.GroupKey, s, now); err != nil {
				return err
			}
			return m.auditAlert(ctx, tx, g, s, now, "monitoring.alert_update")
		})
		if !errors.Is(err, errRaced) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("record alert group: %w", err)
	}
	return m.render(ctx, g.GroupKey)
}

func (m *Module) auditAlert(ctx context.Context, tx pgx.Tx, g Group, s State, now time.Time, action string) error {
	return store.Audit(ctx, tx, store.AuditEntry{At: now, Actor: "alertmanager", Action: action, Subject: subject(g.GroupKey),
		Details: map[string]any{"group_key": clip(g.GroupKey, 300), "title": s.Title, "status": s.Status(), "firing": s.Firing(), "alerts": len(s.Alerts)}})
}

// render brings the group's message up to date with its state: it posts it
// the first time and edits it after. The row lock makes concurrent renders
// of one group take turns, so the message is posted once.
func (m *Module) render(ctx context.Context, key string) error {
	now := m.d.Now()
	err := m.d.DB.InTx(ctx, func(tx pgx.Tx) error {
		r, err := lockGroup(ctx, tx, key)
		if err != nil {
			return err
		}
		if r.RenderedVersion >= r.Version && r.TS != "" {
			return nil
		}
		msg := Render(m.d.Config, r.State)
		ts := r.TS
		if ts == "" {
			if ts, err = m.d.Slack.Post(ctx, r.Channel, msg); err != nil {
				return fmt.Errorf("post alert group: %w", err)
			}
		} else if err := m.d.Slack.Update(ctx, r.Channel, ts, msg); err != nil {
			return fmt.Errorf("edit alert group message %s: %w", ts, err)
		}
		return markRendered(ctx, tx, key, ts, r.Version, now)
	})
	if err != nil {
		return fmt.Errorf("show alert group: %w", err)
	}
	return nil
}

// reaction handles reaction_added and reaction_removed: a ✅ by a person of
// the configuration on an alert group's message acknowledges it, and taking
// the ✅ away takes the acknowledgement back. Anything else changes nothing.
func (m *Module) reaction(ctx context.Context, ev commands.Event) error {
	cfg := m.d.Config
	if ev.Reaction != AckEmoji || ev.ItemTS == "" || cfg.Channels.Monitoring == "" || ev.ChannelID != cfg.Channels.Monitoring {
		return nil
	}
	if !cfg.Known(ev.UserID) {
		m.d.Log.Debug("reaction by someone outside the configuration ignored", "user_id", ev.UserID)
		return nil
	}
	add := ev.Type == "reaction_added"
	now := m.d.Now()
	var key string
	err := m.d.DB.InTx(ctx, func(tx pgx.Tx) error {
		r, err := lockMessage(ctx, tx, ev.ChannelID, ev.ItemTS)
		if errors.Is(err, store.ErrNotFound) {
			return nil // not an alert group's message
		}
		if err != nil {
			return err
		}
		var (
			s       State
			changed bool
			action  = "monitoring.ack"
		)
		if add {
			s, changed = AddAck(r.State, ev.UserID, now)
		} else {
			s, changed = RemoveAck(r.State, ev.UserID)
			action = "monitoring.unack"
		}
		if !changed {
			return nil
		}
		if err := saveState(ctx, tx, r.GroupKey, s, now); err != nil {
			return err
		}
		key = r.GroupKey
		return store.Audit(ctx, tx, store.AuditEntry{At: now, Actor: ev.UserID, Action: action, Subject: subject(r.GroupKey),
			Details: map[string]any{"title": s.Title, "message_ts": ev.ItemTS}})
	})
	if err != nil {
		return fmt.Errorf("record %s by %s: %w", ev.Type, ev.UserID, err)
	}
	if key == "" {
		return nil
	}
	return m.render(ctx, key)
}
