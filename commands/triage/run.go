package triage

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/slack-go/slack"

	"github.com/contextinject/oncallbot/commands"
	"github.com/contextinject/oncallbot/commands/config"
	"github.com/contextinject/oncallbot/commands/playbook"
	"github.com/contextinject/oncallbot/store"
)

// maxSection is Block Kit's limit of a section's text.
const maxSection = 3000

// start records the run (with its escalation timer, in one transaction),
// posts the missing step replies, sets the progress line and starts the
// diagnostics.
func (m *Module) start(ctx context.Context, opened Opened, pb playbook.Playbook, actor string) error {
	now := m.d.Now()
	r := run{
		IncidentID: opened.ID, IncidentKey: opened.Key, Def: snapshot(pb),
		Channel: opened.Channel, ThreadTS: opened.TS, StartedBy: actor, StartedAt: now,
	}
	err := m.d.DB.InTx(ctx, func(tx pgx.Tx) error {
		created, err := insertRun(ctx, tx, r)
		if err != nil || !created {
			return err
		}
		if pb.EscalateAfter > 0 && m.d.Jobs != nil {
			_, err := m.d.Jobs.InsertTx(ctx, tx, EscalateArgs{IncidentID: opened.ID},
				&river.InsertOpts{ScheduledAt: now.Add(pb.EscalateAfter), UniqueOpts: river.UniqueOpts{ByArgs: true}})
			if err != nil {
				return fmt.Errorf("schedule escalation of incident %d: %w", opened.ID, err)
			}
		}
		return store.Audit(ctx, tx, store.AuditEntry{At: now, Actor: actor, Action: "triage.start", Subject: subject(opened.ID),
			Details: map[string]any{"playbook": pb.Name, "steps": len(pb.Steps), "escalate_after": pb.EscalateAfter.String()}})
	})
	if err != nil {
		return err
	}
	// Post the missing replies holding the run's row lock, so that two
	// concurrent starts (a redelivered webhook) never post a step twice.
	var (
		cur  run
		errs []error
	)
	err = m.d.DB.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		cur, err = loadRun(ctx, tx, opened.ID, true)
		if err != nil {
			return err
		}
		for i, s := range cur.Steps {
			if s.MessageTS != "" {
				continue
			}
			ts, err := m.d.Slack.Reply(ctx, cur.Channel, cur.ThreadTS, renderStep(m.d.Config, cur, i))
			if err != nil {
				errs = append(errs, fmt.Errorf("post step %d of incident %d: %w", i+1, opened.ID, err))
				continue
			}
			// Recorded at once, outside the lock's transaction: a later
			// failure must not forget a message already posted.
			if err := setMessage(ctx, m.d.DB.Pool, opened.ID, i, ts); err != nil {
				errs = append(errs, err)
			}
			cur.Steps[i].MessageTS = ts
		}
		return nil
	})
	if err != nil {
		return err
	}
	m.progress(ctx, cur)
	if len(pb.UsesDiagnostics()) > 0 {
		if err := m.requestDiagnostics(ctx, opened.ID); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// requestDiagnostics runs the run's diagnostics as a River job (durable,
// after the answer), or inline without a job client.
func (m *Module) requestDiagnostics(ctx context.Context, incidentID int64) error {
	if m.d.Jobs == nil {
		return m.RunDiagnostics(ctx, incidentID)
	}
	_, err := m.d.Jobs.Insert(ctx, DiagnosticsArgs{IncidentID: incidentID}, &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}})
	if err != nil {
		return fmt.Errorf("enqueue diagnostics of incident %d: %w", incidentID, err)
	}
	return nil
}

// RunDiagnostics runs every diagnostic of an incident's playbook at once
// (each at most once, however many steps use it), then records and shows
// each step's results.
func (m *Module) RunDiagnostics(ctx context.Context, incidentID int64) error {
	r, err := loadRun(ctx, m.d.DB.Pool, incidentID, false)
	if err != nil {
		return err
	}
	var names []string
	for _, s := range r.Def.Steps {
		for _, d := range s.Diagnostics {
			if !contains(names, d) {
				names = append(names, d)
			}
		}
	}
	outcomes := map[string]string{}
	for _, o := range m.diag.Run(ctx, names) {
		outcomes[o.Name] = RenderOutcome(o)
	}
	now := m.d.Now()
	var errs []error
	for i, s := range r.Def.Steps {
		if len(s.Diagnostics) == 0 {
			continue
		}
		results := make([]string, len(s.Diagnostics))
		for j, d := range s.Diagnostics {
			results[j] = outcomes[d]
		}
		if err := setResults(ctx, m.d.DB.Pool, incidentID, i, results, now); err != nil {
			errs = append(errs, err)
			continue
		}
		r.Steps[i].Results, r.Steps[i].ResultsAt = results, &now
		if err := m.show(ctx, r, i); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// show edits step i's message to its current state.
func (m *Module) show(ctx context.Context, r run, i int) error {
	ts := r.Steps[i].MessageTS
	if ts == "" {
		return nil // not posted (yet): start posts it with its state
	}
	if err := m.d.Slack.Update(ctx, r.Channel, ts, renderStep(m.d.Config, r, i)); err != nil {
		return fmt.Errorf("update step %d of incident %d: %w", i+1, r.IncidentID, err)
	}
	return nil
}

// progress sets the parent's triage line ("2/5 steps done").
func (m *Module) progress(ctx context.Context, r run) {
	inc := m.getIncidents()
	if inc == nil {
		return
	}
	if err := inc.SetNote(ctx, r.IncidentID, noteKey, progressLine(r)); err != nil {
		m.d.Log.Warn("triage progress note failed", "incident_id", r.IncidentID, "err", err)
	}
}

// progressLine is the parent's line about the run.
func progressLine(r run) string {
	done, n := r.Done(), len(r.Steps)
	s := fmt.Sprintf(":clipboard: Playbook `%s` (alert `%s`): *%d/%d steps done*", r.Def.Name, escape(r.Def.Alert), done, n)
	if done == n {
		s += " :white_check_mark:"
	}
	return s
}

// stepValue is a button's value: "incident:step".
func stepValue(incidentID int64, step int) string { return fmt.Sprintf("%d:%d", incidentID, step) }

func parseStepValue(v string) (int64, int, error) {
	a, b, ok := strings.Cut(v, ":")
	id, err1 := strconv.ParseInt(a, 10, 64)
	step, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || id <= 0 || step < 0 || step >= playbook.MaxSteps {
		return 0, 0, commands.Errorf(commands.Invalid, "That button is not one of mine anymore. Open the incident thread again.")
	}
	return id, step, nil
}

// renderStep renders step i of r as its thread reply.
func renderStep(cfg *config.Config, r run, i int) commands.Message {
	st := r.Def.Steps[i]
	row := r.Steps[i]
	n := len(r.Def.Steps)
	head := fmt.Sprintf("*Step %d/%d · %s*\n```%s```", i+1, n, escape(st.Title), escape(st.Text))
	blocks := []slack.Block{section(head)}
	if len(st.Destructive) > 0 {
		var b strings.Builder
		b.WriteString(":warning: *Destructive — for a human to run after checking; the bot never runs these:*")
		for _, c := range st.Destructive {
			fmt.Fprintf(&b, "\n```%s```", escape(c))
		}
		blocks = append(blocks, section(b.String()))
	}
	if len(st.Diagnostics) > 0 {
		if len(row.Results) == 0 {
			names := make([]string, len(st.Diagnostics))
			for j, d := range st.Diagnostics {
				names[j] = "`" + d + "`"
			}
			blocks = append(blocks, section(":hourglass_flowing_sand: Running "+strings.Join(names, ", ")+"…"))
		}
		for _, res := range row.Results {
			blocks = append(blocks, section(res))
		}
		if row.ResultsAt != nil {
			blocks = append(blocks, slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType,
				"Diagnostics run "+commands.Date(*row.ResultsAt)+" · read-only", false, false)))
		}
	}
	var buttons []slack.BlockElement
	if row.DoneAt != nil {
		blocks = append(blocks, slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType,
			fmt.Sprintf(":white_check_mark: Done by %s, %s", commands.Mention(cfg, row.DoneBy), commands.Date(*row.DoneAt)), false, false)))
	} else {
		done := slack.NewButtonBlockElement(ActionDone, stepValue(r.IncidentID, i), slack.NewTextBlockObject(slack.PlainTextType, "Done", false, false))
		done.Style = slack.StylePrimary
		buttons = append(buttons, done)
	}
	if len(st.Diagnostics) > 0 {
		buttons = append(buttons, slack.NewButtonBlockElement(ActionRerun, stepValue(r.IncidentID, i),
			slack.NewTextBlockObject(slack.PlainTextType, "Re-run", false, false)))
	}
	if len(buttons) > 0 {
		blocks = append(blocks, slack.NewActionBlock(fmt.Sprintf("triage-%d-%d", r.IncidentID, i), buttons...))
	}
	mark := ""
	if row.DoneAt != nil {
		mark = " (done)"
	}
	return commands.Message{Text: fmt.Sprintf("Step %d/%d: %s%s", i+1, n, short(st.Title, 100), mark), Blocks: blocks}
}

// section is a mrkdwn section, cut to Block Kit's 3000 characters.
func section(text string) slack.Block {
	return slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, truncate(text, maxSection), false, false), nil, nil)
}

// done marks a step done: the first click wins, a repeated click changes
// nothing and says who was first.
func (m *Module) done(ctx context.Context, req commands.Action) (commands.Response, error) {
	id, step, err := parseStepValue(req.Value)
	if err != nil {
		return commands.Response{}, err
	}
	if !m.d.Config.Known(req.UserID) {
		return commands.Response{}, commands.Errorf(commands.Forbidden, "Only people of the on-call configuration can tick off triage steps.")
	}
	now := m.d.Now()
	var (
		first bool
		by    string
	)
	err = m.d.DB.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		first, by, err = markDone(ctx, tx, id, step, req.UserID, now)
		if err != nil || !first {
			return err
		}
		return store.Audit(ctx, tx, store.AuditEntry{At: now, Actor: req.UserID, Action: "triage.step_done", Subject: subject(id),
			Details: map[string]any{"step": step + 1}})
	})
	if errors.Is(err, store.ErrNotFound) {
		return commands.Response{}, commands.Errorf(commands.NotFound, "I no longer know that triage step.")
	}
	if err != nil {
		return commands.Response{}, err
	}
	r, err := loadRun(ctx, m.d.DB.Pool, id, false)
	if err != nil {
		return commands.Response{}, err
	}
	if !first {
		// Refresh the message in case the click came from a stale copy.
		if err := m.show(ctx, r, step); err != nil {
			m.d.Log.Warn("refresh step failed", "incident_id", id, "err", err)
		}
		return commands.Text("Step %d was already marked done by %s.", step+1, commands.Mention(m.d.Config, by)), nil
	}
	if err := m.show(ctx, r, step); err != nil {
		return commands.Response{}, err
	}
	m.progress(ctx, r)
	return commands.Response{}, nil
}

// rerun runs a step's diagnostics again and shows the new results.
func (m *Module) rerun(ctx context.Context, req commands.Action) (commands.Response, error) {
	id, step, err := parseStepValue(req.Value)
	if err != nil {
		return commands.Response{}, err
	}
	if !m.d.Config.Known(req.UserID) {
		return commands.Response{}, commands.Errorf(commands.Forbidden, "Only people of the on-call configuration can re-run triage diagnostics.")
	}
	r, err := loadRun(ctx, m.d.DB.Pool, id, false)
	if errors.Is(err, store.ErrNotFound) || (err == nil && step >= len(r.Def.Steps)) {
		return commands.Response{}, commands.Errorf(commands.NotFound, "I no longer know that triage step.")
	}
	if err != nil {
		return commands.Response{}, err
	}
	st := r.Def.Steps[step]
	if len(st.Diagnostics) == 0 {
		return commands.Text("Step %d has no diagnostic to run.", step+1), nil
	}
	results := make([]string, len(st.Diagnostics))
	for j, o := range m.diag.Run(ctx, st.Diagnostics) {
		results[j] = RenderOutcome(o)
	}
	now := m.d.Now()
	err = m.d.DB.InTx(ctx, func(tx pgx.Tx) error {
		if err := setResults(ctx, tx, id, step, results, now); err != nil {
			return err
		}
		return store.Audit(ctx, tx, store.AuditEntry{At: now, Actor: req.UserID, Action: "triage.rerun", Subject: subject(id),
			Details: map[string]any{"step": step + 1, "diagnostics": st.Diagnostics}})
	})
	if err != nil {
		return commands.Response{}, err
	}
	r.Steps[step].Results, r.Steps[step].ResultsAt = results, &now
	return commands.Response{}, m.show(ctx, r, step)
}

func subject(incidentID int64) string { return fmt.Sprintf("incident:%d", incidentID) }

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func fmtDuration(d time.Duration) string { return config.FormatDuration(d) }
