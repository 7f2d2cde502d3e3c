package handoff

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/slack-go/slack"

	"github.com/contextinject/oncallbot/commands"
	"github.com/contextinject/oncallbot/commands/rotation"
	"github.com/contextinject/oncallbot/store"
)

// Block and action IDs of the handoff modal.
const (
	blockChecklist   = "checklist"
	blockIncoming    = "incoming"
	itemsAction      = "items"
	blockActive      = "active"
	blockRecent      = "recent"
	blockChanges     = "changes"
	blockMaintenance = "maintenance"
	blockWatch       = "watch"
	textAction       = "text"
	maxSection       = 2900
)

// item is one checkbox of the runbook's handoff checklist.
type item struct{ Value, Text string }

// Checklist is the outgoing engineer's part of the runbook's handoff
// checklist; every item must be ticked to post.
var Checklist = []item{
	{"active", "Review active incidents (if any)"},
	{"alerts", "Review outstanding alerts and their status"},
	{"changes", "Highlight any infrastructure changes made during the week"},
	{"issues", "Note any known issues or degradations"},
	{"maintenance", "Share any pending maintenance windows"},
	{"pagerduty", "Update PagerDuty schedule if not auto-rotated"},
	{"post", "Post handoff summary in #engineering Slack channel"},
}

// IncomingChecklist is the runbook's "Confirm incoming on-call has:" part,
// which the incoming primary confirms with Ready.
var IncomingChecklist = []item{
	{"pagerduty_app", "PagerDuty app installed and notifications working"},
	{"vpn", "VPN access verified"},
	{"ssh", "SSH access to production verified"},
	{"dashboards", "Access to monitoring dashboards"},
	{"runbook", "Copy of this runbook accessible offline"},
}

func (m *Module) slashHandoff(ctx context.Context, req commands.Slash) (commands.Response, error) {
	if req.Args != "" {
		return commands.Response{}, commands.Errorf(commands.Invalid, "`/oncall handoff` takes no arguments.\nUsage: %s", usageHandoff)
	}
	if !m.d.Config.Known(req.UserID) {
		return commands.Response{}, commands.Errorf(commands.Forbidden, "Only people of the on-call configuration can hand off.")
	}
	b, err := m.pickBoundary(ctx, req.UserID, m.d.Now())
	if err != nil {
		return commands.Response{}, err
	}
	return m.open(ctx, req.UserID, b)
}

// pickBoundary chooses the shift change a person hands off on demand: the
// current primary prepares the coming change; the previous primary writes
// the change that started the current shift; an admin gets the nearest
// change.
func (m *Module) pickBoundary(ctx context.Context, user string, now time.Time) (time.Time, error) {
	cur, ok := m.rot.IndexAt(now)
	if !ok {
		return time.Time{}, commands.Errorf(commands.Conflict, "The rotation has not started yet: there is nothing to hand off.")
	}
	start, end := m.rot.Bounds(cur)
	var candidates []time.Time
	candidates = append(candidates, end)
	if cur >= 1 {
		candidates = append(candidates, start)
	}
	for _, b := range candidates {
		out, _, err := m.people(ctx, b)
		if err == nil && out == user {
			return b, nil
		}
	}
	if m.d.Config.IsAdmin(user) {
		if b, ok := m.nearest(now); ok {
			return b, nil
		}
	}
	out, in, err := m.people(ctx, end)
	if err != nil {
		return time.Time{}, err
	}
	return time.Time{}, commands.Errorf(commands.Forbidden,
		"The next handoff is %s's to write: %s hands off to %s at %s. Admins can write it for them.",
		m.d.Config.Name(out), commands.Mention(m.d.Config, out), commands.Mention(m.d.Config, in), commands.Date(end))
}

func (m *Module) clickStart(ctx context.Context, req commands.Action) (commands.Response, error) {
	b, err := parseBoundary(m.rot, req.Value)
	if err != nil {
		return commands.Response{}, err
	}
	return m.open(ctx, req.UserID, b)
}

// mayWrite checks that user is the outgoing primary of b or an admin.
func (m *Module) mayWrite(user, outgoing string) error {
	if user == outgoing || m.d.Config.IsAdmin(user) {
		return nil
	}
	return commands.Errorf(commands.Forbidden, "Only %s (the outgoing primary) or an admin can write this handoff.", commands.Mention(m.d.Config, outgoing))
}

func (m *Module) open(ctx context.Context, user string, b time.Time) (commands.Response, error) {
	outgoing, incoming, err := m.people(ctx, b)
	if err != nil {
		return commands.Response{}, err
	}
	if err := m.mayWrite(user, outgoing); err != nil {
		return commands.Response{}, err
	}
	if now := m.d.Now(); now.Sub(b) > m.rot.Length {
		return commands.Response{}, commands.Errorf(commands.Conflict,
			"The handoff of %s is over: a shift has passed since. Use `/oncall handoff` for the current one.", commands.Date(b))
	}
	rec, err := getRecord(ctx, m.d.DB.Pool, b)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return commands.Response{}, err
	case rec.PostedAt != nil:
		return commands.Text("The handoff for %s was already posted by %s%s.", commands.Date(b), commands.Mention(m.d.Config, rec.PostedBy), m.link(ctx, rec)), nil
	}
	dr := m.Prepare(ctx, b, outgoing, incoming)
	if err == nil && len(rec.Fields) > 2 {
		// A draft kept from a post Slack refused wins over the pre-fill.
		var f Fields
		if json.Unmarshal(rec.Fields, &f) == nil {
			dr.Fields = f
		}
	}
	v := m.View(dr)
	return commands.Response{OpenView: &v}, nil
}

func (m *Module) link(ctx context.Context, rec record) string {
	if rec.Channel == "" || rec.TS == "" {
		return ""
	}
	l, err := m.d.Slack.Permalink(ctx, rec.Channel, rec.TS)
	if err != nil {
		return ""
	}
	return " (<" + l + "|the post>)"
}

// Draft is a handoff being prepared: who hands off to whom at which shift
// change, the pre-filled sections and the outgoing shift's numbers.
type Draft struct {
	Boundary           time.Time
	Outgoing, Incoming string
	Fields             Fields
	Numbers            Numbers
	// Notes say which data could not be read (shown in the modal).
	Notes []string
}

// Prepare reads what happened in the outgoing shift (until b, or now when
// earlier) and pre-fills the handoff. Data that cannot be read within
// Options.DataTimeout is left as "None" and named in Notes.
func (m *Module) Prepare(ctx context.Context, b time.Time, outgoing, incoming string) Draft {
	now := m.d.Now()
	dr := Draft{Boundary: b, Outgoing: outgoing, Incoming: incoming}
	w, _ := m.rot.IndexAt(b)
	from, _ := m.rot.Bounds(w - 1)
	_, nextEnd := m.rot.Bounds(w)
	to := b
	if now.Before(b) {
		to = now
	}
	ctx, cancel := context.WithTimeout(ctx, m.o.DataTimeout)
	defer cancel()
	incidents, changes, _ := m.sources()

	var (
		open, recent []Incident
		chg          []Change
		next         []rotation.Override
	)
	// Each source answers on the buffered channel with its own value, so a
	// source that ignores the deadline can finish late without touching
	// what is read here.
	type result struct {
		name string
		val  any
		err  error
	}
	results := make(chan result, 4)
	run := func(name string, f func() (any, error)) {
		go func() {
			v, err := f()
			results <- result{name, v, err}
		}()
	}
	pending := map[string]bool{}
	if incidents != nil {
		pending["open incidents"], pending["incidents of the shift"] = true, true
		run("open incidents", func() (any, error) { return incidents.OpenIncidents(ctx) })
		run("incidents of the shift", func() (any, error) { return incidents.Between(ctx, from, to) })
	} else {
		dr.Notes = append(dr.Notes, "Incidents are not connected: check active issues and recent incidents yourself.")
	}
	if changes != nil {
		pending["GitHub changes"] = true
		run("GitHub changes", func() (any, error) { return changes.Between(ctx, from, to) })
	} else {
		dr.Notes = append(dr.Notes, "GitHub is not configured: list infrastructure changes yourself.")
	}
	pending["swaps and overrides"] = true
	run("swaps and overrides", func() (any, error) { return m.o.Roster.Overrides(ctx, b, nextEnd) })
	for len(pending) > 0 {
		var r result
		select {
		case r = <-results:
		case <-ctx.Done():
			for name := range pending {
				dr.Notes = append(dr.Notes, fmt.Sprintf("Could not read %s in time: check them yourself.", name))
			}
			pending = nil
			continue
		}
		delete(pending, r.name)
		if r.err != nil {
			m.log.Warn("handoff pre-fill incomplete", "source", r.name, "err", r.err)
			dr.Notes = append(dr.Notes, fmt.Sprintf("Could not read %s: check them yourself.", r.name))
			continue
		}
		switch v := r.val.(type) {
		case []Incident:
			if r.name == "open incidents" {
				open = v
			} else {
				recent = v
			}
		case []Change:
			chg = v
		case []rotation.Override:
			next = v
		}
	}
	slices.Sort(dr.Notes)
	dr.Fields = Prefill(m.d.Config, open, recent, chg, next)
	dr.Numbers = ComputeNumbers(m.d.Config, recent, open, next, from, to, now)
	return dr
}

// View is the handoff modal for a draft.
func (m *Module) View(dr Draft) slack.ModalViewRequest {
	cfg := m.d.Config
	check := func(block, label string, items []item, initial []string, optional bool) slack.Block {
		var opts, init []*slack.OptionBlockObject
		for _, it := range items {
			o := slack.NewOptionBlockObject(it.Value, pt(it.Text), nil)
			opts = append(opts, o)
			if slices.Contains(initial, it.Value) {
				init = append(init, o)
			}
		}
		el := slack.NewCheckboxGroupsBlockElement(itemsAction, opts...)
		if len(init) > 0 {
			el.InitialOptions = init
		}
		in := slack.NewInputBlock(block, pt(label), nil, el)
		in.Optional = optional
		return in
	}
	text := func(block, label, value, hint string) slack.Block {
		el := slack.NewPlainTextInputBlockElement(nil, textAction)
		el.Multiline = true
		el.MaxLength = maxSection
		el.InitialValue = clip(value, maxSection)
		return slack.NewInputBlock(block, pt(label), pt(hint), el)
	}
	blocks := []slack.Block{
		slack.NewSectionBlock(md(fmt.Sprintf("*On-Call Handoff: %s -> %s*\nShift change %s. Submitting posts the handoff in <#%s> and asks %s to confirm Ready.",
			cfg.Name(dr.Outgoing), cfg.Name(dr.Incoming), commands.Date(dr.Boundary), cfg.Channels.Engineering, commands.Mention(cfg, dr.Incoming))), nil, nil),
		slack.NewSectionBlock(md(dr.Numbers.Text(cfg)), nil, nil),
	}
	if len(dr.Notes) > 0 {
		blocks = append(blocks, slack.NewContextBlock("", md(":warning: "+strings.Join(dr.Notes, " "))))
	}
	blocks = append(blocks,
		slack.NewDividerBlock(),
		check(blockChecklist, "Handoff checklist", Checklist, []string{"post"}, false),
		check(blockIncoming, "Confirm incoming on-call has: (they confirm with Ready)", IncomingChecklist, nil, true),
		text(blockActive, "Active Issues", dr.Fields.Active, "One per line: issue: status, next steps — or None."),
		text(blockRecent, "Recent Incidents", dr.Fields.Recent, "One per line: incident: brief summary, any follow-up needed — or None this week."),
		text(blockChanges, "Infrastructure Changes", dr.Fields.Changes, "One per line: change: brief description — or None."),
		text(blockMaintenance, "Upcoming Maintenance", dr.Fields.Maintenance, "One per line: date: description — or None scheduled."),
		text(blockWatch, "Things to Watch", dr.Fields.Watch, "Known flaky tests, degraded services, capacity concerns — or All clear."),
	)
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      ViewHandoff,
		PrivateMetadata: unix(dr.Boundary),
		Title:           pt("On-call handoff"),
		Submit:          pt("Post handoff"),
		Close:           pt("Cancel"),
		Blocks:          slack.Blocks{BlockSet: blocks},
	}
}

// fieldsOf reads the sections of a submitted modal.
func fieldsOf(sub commands.Submission) Fields {
	return Fields{
		Active:      sub.Value(blockActive, textAction),
		Recent:      sub.Value(blockRecent, textAction),
		Changes:     sub.Value(blockChanges, textAction),
		Maintenance: sub.Value(blockMaintenance, textAction),
		Watch:       sub.Value(blockWatch, textAction),
	}
}

// Validate returns the modal's errors keyed by block: every checklist item
// ticked, every section written (with the runbook's "None" when empty).
func Validate(ticked []string, f Fields) map[string]string {
	errs := map[string]string{}
	var missing []string
	for _, it := range Checklist {
		if !slices.Contains(ticked, it.Value) {
			missing = append(missing, it.Text)
		}
	}
	if len(missing) > 0 {
		errs[blockChecklist] = clip("Tick every item before posting. Still open: "+strings.Join(missing, "; ")+".", 150)
	}
	for _, s := range []struct{ block, value, none string }{
		{blockActive, f.Active, noneActive}, {blockRecent, f.Recent, noneRecent}, {blockChanges, f.Changes, noneChanges},
		{blockMaintenance, f.Maintenance, noneMaintenance}, {blockWatch, f.Watch, noneWatch},
	} {
		switch {
		case len(Normalize(s.value)) == 0:
			errs[s.block] = fmt.Sprintf("Write %q when there is nothing to report.", s.none)
		case len([]rune(s.value)) > maxSection:
			errs[s.block] = fmt.Sprintf("Keep this under %d characters.", maxSection)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

func (m *Module) submit(ctx context.Context, sub commands.Submission) (commands.Response, commands.Then, error) {
	b, err := parseBoundary(m.rot, sub.PrivateMetadata)
	if err != nil {
		return commands.Response{}, nil, commands.Errorf(commands.Invalid, "This form is out of date; press Start handoff again.")
	}
	f := fieldsOf(sub)
	if errs := Validate(sub.Selected(blockChecklist, itemsAction), f); errs != nil {
		return commands.Response{Errors: errs}, nil, nil
	}
	outgoing, incoming, err := m.people(ctx, b)
	if err != nil {
		return commands.Response{}, nil, err
	}
	if err := m.mayWrite(sub.UserID, outgoing); err != nil {
		return commands.Response{}, nil, err
	}
	return commands.Response{}, func(ctx context.Context) error {
		return m.Post(ctx, sub.UserID, b, outgoing, incoming, f)
	}, nil
}

// Post stores and posts the handoff of shift change b written by user:
// the runbook's message in #engineering, the shift's numbers in its thread,
// and the Ready request to the incoming primary. A second post of the same
// change is refused.
func (m *Module) Post(ctx context.Context, user string, b time.Time, outgoing, incoming string, f Fields) error {
	cfg := m.d.Config
	now := m.d.Now()
	text := Message(cfg, outgoing, incoming, b, f)
	var claimed bool
	err := m.d.DB.InTx(ctx, func(tx pgx.Tx) error {
		if err := ensureRecord(ctx, tx, b, outgoing, incoming, now); err != nil {
			return err
		}
		var err error
		if claimed, err = claimPost(ctx, tx, b, user, outgoing, incoming, f, text, now); err != nil || !claimed {
			return err
		}
		if err := store.Audit(ctx, tx, store.AuditEntry{At: now, Actor: user, Action: "handoff.post", Subject: subject(b),
			Details: map[string]any{"outgoing": outgoing, "incoming": incoming}}); err != nil {
			return err
		}
		return m.insertNudge(ctx, tx, b, NudgeReady, now)
	})
	if err != nil {
		return fmt.Errorf("store handoff: %w", err)
	}
	if !claimed {
		rec, err := getRecord(ctx, m.d.DB.Pool, b)
		if err != nil {
			return err
		}
		return commands.Errorf(commands.Conflict, "The handoff for %s was already posted by %s.", commands.Date(b), commands.Mention(cfg, rec.PostedBy))
	}
	ch := cfg.Channels.Engineering
	ts, err := m.d.Slack.Post(ctx, ch, commands.Message{Text: text})
	if err != nil {
		if uerr := unclaimPost(ctx, m.d.DB.Pool, b, now); uerr != nil {
			m.log.Error("undo handoff post", "err", uerr)
		}
		m.log.Error("post handoff", "err", err)
		return commands.Errorf(commands.Unavailable, "Slack did not accept the handoff post. Your text is saved: press Start handoff (or `/oncall handoff`) to try again.")
	}
	if err := setPosted(ctx, m.d.DB.Pool, b, ch, ts, now); err != nil {
		return err
	}
	dr := m.Prepare(ctx, b, outgoing, incoming)
	var errs []error
	if _, err := m.d.Slack.Reply(ctx, ch, ts, commands.Message{Text: dr.Numbers.Text(cfg)}); err != nil {
		errs = append(errs, err)
	}
	rec, err := getRecord(ctx, m.d.DB.Pool, b)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	rts, err := m.d.Slack.Post(ctx, incoming, m.readyMessage(rec, ""))
	if err != nil {
		errs = append(errs, err)
		if _, rerr := m.d.Slack.Reply(ctx, ch, ts, commands.Message{Text: fmt.Sprintf(":warning: Could not DM %s the Ready confirmation; please ask them to confirm here.", commands.Mention(cfg, incoming))}); rerr != nil {
			errs = append(errs, rerr)
		}
	} else if err := setReadyDM(ctx, m.d.DB.Pool, b, incoming, rts, now); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// readyMessage asks the incoming primary to confirm the incoming checklist
// and lists the toolkit links to check access with.
func (m *Module) readyMessage(rec record, prefix string) commands.Message {
	cfg := m.d.Config
	var list strings.Builder
	for _, it := range IncomingChecklist {
		list.WriteString("\n• " + it.Text)
	}
	text := fmt.Sprintf("%s:pager: %s handed on-call over to you (shift change %s). Before you take the pager, check:%s",
		prefix, commands.Mention(cfg, rec.Outgoing), commands.Date(rec.Boundary), list.String())
	blocks := []slack.Block{slack.NewSectionBlock(md(text), nil, nil)}
	if len(cfg.Links) > 0 {
		var links []string
		for _, l := range cfg.Links {
			links = append(links, fmt.Sprintf("<%s|%s>", l.URL, l.Name))
		}
		blocks = append(blocks, slack.NewSectionBlock(md("Check your access: "+strings.Join(links, " · ")), nil, nil))
	}
	blocks = append(blocks, slack.NewActionBlock("handoff_ready", button(ActionReady, "Ready — I have the pager", unix(rec.Boundary), slack.StylePrimary)))
	return commands.Message{Text: text, Blocks: blocks}
}

func (m *Module) clickReady(ctx context.Context, req commands.Action) (commands.Response, error) {
	b, err := parseBoundary(m.rot, req.Value)
	if err != nil {
		return commands.Response{}, err
	}
	cfg := m.d.Config
	rec, err := getRecord(ctx, m.d.DB.Pool, b)
	if errors.Is(err, store.ErrNotFound) {
		return commands.Response{}, commands.Errorf(commands.NotFound, "There is no handoff for %s.", commands.Date(b))
	}
	if err != nil {
		return commands.Response{}, err
	}
	if req.UserID != rec.Incoming {
		return commands.Response{}, commands.Errorf(commands.Forbidden, "Only %s, the incoming primary, can say they have the pager.", commands.Mention(cfg, rec.Incoming))
	}
	now := m.d.Now()
	var claimed bool
	err = m.d.DB.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		if claimed, err = claimReady(ctx, tx, b, req.UserID, now); err != nil || !claimed {
			return err
		}
		return store.Audit(ctx, tx, store.AuditEntry{At: now, Actor: req.UserID, Action: "handoff.ready", Subject: subject(b)})
	})
	if err != nil {
		return commands.Response{}, fmt.Errorf("record ready: %w", err)
	}
	if !claimed {
		rec, err = getRecord(ctx, m.d.DB.Pool, b)
		if err == nil && rec.ReadyAt != nil {
			return commands.Text("You already confirmed you have the pager (%s).", commands.Date(*rec.ReadyAt)), nil
		}
		return commands.Response{}, commands.Errorf(commands.Conflict, "The handoff is not posted yet; confirm once it is.")
	}
	var errs []error
	done := commands.Message{Text: fmt.Sprintf(":white_check_mark: You have the pager — confirmed %s. Handoff from %s.", commands.Date(now), commands.Mention(cfg, rec.Outgoing))}
	if req.ChannelID != "" && req.MessageTS != "" {
		if err := m.d.Slack.Update(ctx, req.ChannelID, req.MessageTS, done); err != nil {
			errs = append(errs, err)
		}
	}
	if rec.Channel != "" && rec.TS != "" {
		if _, err := m.d.Slack.Reply(ctx, rec.Channel, rec.TS, commands.Message{Text: fmt.Sprintf(":white_check_mark: %s has the pager.", commands.Mention(cfg, req.UserID))}); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		m.log.Warn("ready confirmation not fully shown", "err", err)
	}
	return commands.Response{}, nil
}
