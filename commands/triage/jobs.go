package triage

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/contextinject/oncallbot/commands"
	"github.com/contextinject/oncallbot/store"
)

// DiagnosticsArgs is the River job that runs a triage run's diagnostics
// once its thread is posted.
type DiagnosticsArgs struct {
	IncidentID int64 `json:"incident_id"`
}

// Kind implements river.JobArgs.
func (DiagnosticsArgs) Kind() string { return "triage_diagnostics" }

// EscalateArgs is the playbook's "escalate if not resolved within" timer,
// scheduled when the run starts; unique per incident.
type EscalateArgs struct {
	IncidentID int64 `json:"incident_id"`
}

// Kind implements river.JobArgs.
func (EscalateArgs) Kind() string { return "triage_escalate" }

type diagnosticsWorker struct {
	river.WorkerDefaults[DiagnosticsArgs]
	m *Module
}

// Work implements river.Worker.
func (w *diagnosticsWorker) Work(ctx context.Context, job *river.Job[DiagnosticsArgs]) error {
	err := w.m.RunDiagnostics(ctx, job.Args.IncidentID)
	if errors.Is(err, store.ErrNotFound) {
		return river.JobCancel(err) // the run is gone: nothing to do
	}
	return err
}

type escalateWorker struct {
	river.WorkerDefaults[EscalateArgs]
	m *Module
}

// Work implements river.Worker.
func (w *escalateWorker) Work(ctx context.Context, job *river.Job[EscalateArgs]) error {
	err := w.m.EscalateIfUnresolved(ctx, job.Args.IncidentID)
	if errors.Is(err, store.ErrNotFound) {
		return river.JobCancel(err)
	}
	return err
}

// RegisterJobs adds the module's River workers.
func (m *Module) RegisterJobs(workers *river.Workers) error {
	if err := river.AddWorkerSafely(workers, &diagnosticsWorker{m: m}); err != nil {
		return fmt.Errorf("add triage diagnostics worker: %w", err)
	}
	if err := river.AddWorkerSafely(workers, &escalateWorker{m: m}); err != nil {
		return fmt.Errorf("add triage escalation worker: %w", err)
	}
	return nil
}

// EscalateIfUnresolved is the escalation timer's work: when the incident is
// still not resolved, it escalates it once and says so in the thread. It is
// idempotent: the escalation is recorded in the same transaction, under the
// run's row lock, so a retried or duplicated job escalates at most once.
func (m *Module) EscalateIfUnresolved(ctx context.Context, incidentID int64) error {
	inc := m.getIncidents()
	if inc == nil {
		return errors.New("escalate: incidents are not connected")
	}
	var (
		r         run
		escalated bool
	)
	now := m.d.Now()
	err := m.d.DB.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		r, err = loadRun(ctx, tx, incidentID, true)
		if err != nil || r.EscalatedAt != nil {
			return err
		}
		resolved, err := inc.IsResolved(ctx, incidentID)
		if err != nil || resolved {
			return err
		}
		reason := fmt.Sprintf("Not resolved within %s (playbook %s).", fmtDuration(r.Def.EscalateAfter), r.Def.Name)
		if err := inc.Escalate(ctx, incidentID, systemActor, reason); err != nil {
			return fmt.Errorf("escalate incident %d: %w", incidentID, err)
		}
		if escalated, err = markEscalated(ctx, tx, incidentID, now); err != nil {
			return err
		}
		return store.Audit(ctx, tx, store.AuditEntry{At: now, Actor: systemActor, Action: "triage.escalate", Subject: subject(incidentID),
			Details: map[string]any{"playbook": r.Def.Name, "after": r.Def.EscalateAfter.String()}})
	})
	if err != nil || !escalated {
		return err
	}
	text := fmt.Sprintf(":rotating_light: Not resolved within %s, as playbook `%s` asks: escalated to the next step of the chain (%s).",
		fmtDuration(r.Def.EscalateAfter), r.Def.Name, commands.Date(now))
	if _, err := m.d.Slack.Reply(ctx, r.Channel, r.ThreadTS, commands.Message{Text: text}); err != nil {
		// The escalation happened and is recorded; a retry would not say it
		// again, so report the failed post in the log.
		m.d.Log.Error("escalation notice not posted", "incident_id", incidentID, "err", err)
	}
	return nil
}
