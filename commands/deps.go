package commands

import (
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/contextinject/oncallbot/commands/config"
	"github.com/contextinject/oncallbot/store"
)

// Deps are what feature modules are built from. cmd/oncallbot (through
// bot/app) fills them; tests fill them with a storetest database, the
// simulated Slack and a fixed clock.
type Deps struct {
	Config *config.Config
	DB     *store.DB
	// Jobs enqueues durable jobs and timers; Workers is where modules add
	// their River workers before the client starts.
	Jobs    *river.Client[pgx.Tx]
	Workers *river.Workers
	Slack   Messenger
	Now     Clock
	Log     *slog.Logger
	// Notes sets readiness details shown by /readyz ("" clears).
	Notes func(name, detail string)
}

// Note sets a readiness detail when a sink is configured.
func (d Deps) Note(name, detail string) {
	if d.Notes != nil {
		d.Notes(name, detail)
	}
}
