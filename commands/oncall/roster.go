// Package oncall answers "who is on call" (/oncall, /oncall who, /oncall
// schedule, /oncall help and the App Home) and owns the Roster: the rotation
// with its stored overrides applied, the one place every feature asks who is
// primary or secondary at an instant.
package oncall

import (
	"context"
	"log/slog"
	"time"

	"github.com/contextinject/oncallbot/commands/config"
	"github.com/contextinject/oncallbot/commands/rotation"
	"github.com/contextinject/oncallbot/store"
)

// Source is an outside truth of who is on call (PagerDuty's schedules). When
// set, the Roster asks it first and falls back to the rotation formula with
// stored overrides when it fails.
type Source interface {
	// OnCall returns the primary and secondary Slack user IDs at t.
	OnCall(ctx context.Context, t time.Time) (primary, secondary string, err error)
}

// Roster is the rotation plus the overrides stored in PostgreSQL.
type Roster struct {
	cfg    *config.Config
	rot    rotation.Rotation
	db     *store.DB
	log    *slog.Logger
	source Source
}

// NewRoster returns a Roster over cfg's rotation and db's overrides. db may
// be nil (tests of pure formatting), which means no overrides.
func NewRoster(cfg *config.Config, db *store.DB, log *slog.Logger) *Roster {
	return &Roster{cfg: cfg, rot: cfg.RotationSchedule(), db: db, log: log}
}

// SetSource makes the Roster ask src first (PagerDuty).
func (r *Roster) SetSource(src Source) { r.source = src }

// Rotation returns the rotation's definition.
func (r *Roster) Rotation() rotation.Rotation { return r.rot }

// Overrides returns the overrides intersecting [from, to).
func (r *Roster) Overrides(ctx context.Context, from, to time.Time) ([]rotation.Override, error) {
	if r.db == nil {
		return nil, nil
	}
	rows, err := store.ListOverrides(ctx, r.db.Pool, from, to)
	if err != nil {
		return nil, err
	}
	out := make([]rotation.Override, 0, len(rows))
	for _, o := range rows {
		out = append(out, rotation.Override{
			ID: o.ID, Role: rotation.Role(o.Role), UserID: o.UserID, Start: o.Start, End: o.End,
			Reason: o.Reason, Replaces: o.Replaces, Source: o.Source,
		})
	}
	return out, nil
}

// horizon is how far around an instant overrides are loaded: enough for the
// longest schedule view.
func (r *Roster) window(t time.Time, shifts int) (time.Time, time.Time) {
	return t.Add(-r.rot.Length), t.Add(time.Duration(shifts+1) * r.rot.Length)
}

// At returns who is on call at t. note is non-empty when the answer is
// degraded (overrides or PagerDuty unavailable) and says so in words.
func (r *Roster) At(ctx context.Context, t time.Time) (shift rotation.Shift, note string, ok bool) {
	from, to := r.window(t, 1)
	ovs, err := r.Overrides(ctx, from, to)
	if err != nil {
		r.log.Warn("overrides unavailable; answering from the rotation formula", "err", err)
		note = "Swaps and overrides could not be read (database unreachable); this is the plain rotation."
	}
	shift, ok = r.rot.At(t, ovs)
	if !ok {
		return shift, note, false
	}
	if r.source != nil {
		p, s, err := r.source.OnCall(ctx, t)
		switch {
		case err != nil:
			r.log.Warn("pagerduty on-call unavailable; using the rotation", "err", err)
			note = joinNotes(note, "PagerDuty could not be reached; this is the bot's own schedule.")
		default:
			if p != "" && p != shift.Primary {
				shift.Primary, shift.PrimaryOverride = p, &rotation.Override{Role: rotation.Primary, UserID: p, Source: "pagerduty", Start: shift.Start, End: shift.End}
			}
			if s != "" && s != shift.Secondary {
				shift.Secondary, shift.SecondaryOverride = s, &rotation.Override{Role: rotation.Secondary, UserID: s, Source: "pagerduty", Start: shift.Start, End: shift.End}
			}
		}
	}
	return shift, note, true
}

// Upcoming returns n shifts starting with the one containing t.
func (r *Roster) Upcoming(ctx context.Context, t time.Time, n int) ([]rotation.Shift, string) {
	from, to := r.window(t, n)
	ovs, err := r.Overrides(ctx, from, to)
	note := ""
	if err != nil {
		r.log.Warn("overrides unavailable; showing the rotation formula", "err", err)
		note = "Swaps and overrides could not be read (database unreachable); this is the plain rotation."
	}
	return r.rot.Upcoming(t, n, ovs), note
}

// NextChange returns when the people on call next change after t.
func (r *Roster) NextChange(ctx context.Context, t time.Time) time.Time {
	from, to := r.window(t, 1)
	ovs, _ := r.Overrides(ctx, from, to)
	return r.rot.NextChange(t, ovs)
}

// Role returns the Slack IDs a role word names at t (primary, secondary,
// engineering_lead, cto, engineers, or a user ID).
func (r *Roster) Role(ctx context.Context, word string, t time.Time) []string {
	switch word {
	case "primary", "secondary":
		shift, _, ok := r.At(ctx, t)
		if !ok {
			return nil
		}
		if word == "primary" {
			return []string{shift.Primary}
		}
		if !shift.HasSecondary() {
			return nil
		}
		return []string{shift.Secondary}
	case "engineers":
		return append([]string(nil), r.cfg.Rotation.Pool...)
	case "engineering_lead", "cto":
		return r.cfg.WithRole(word)
	}
	if _, ok := r.cfg.Person(word); ok {
		return []string{word}
	}
	return nil
}

func joinNotes(a, b string) string {
	if a == "" {
		return b
	}
	return a + " " + b
}
