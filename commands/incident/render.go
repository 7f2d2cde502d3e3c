package incident

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/slack-go/slack"

	"github.com/contextinject/oncallbot/commands"
)

// Slack action IDs of incident buttons.
const (
	ActionAcknowledge    = "incident.ack"
	ActionPostUpdate     = "incident.update"
	ActionEscalate       = "incident.escalate"
	ActionCustomerUpdate = "incident.customer_update" // handled by the templates feature
	ActionResolve        = "incident.resolve"
	ActionTakeCommand    = "incident.take"
	ActionStillConfirm   = "incident.still_confirm"
	ActionStillHandBack  = "incident.still_handback"
)

// Modal callback IDs.
const (
	ViewPostUpdate = "incident.update"
	ViewResolve    = "incident.resolve"
)

// Kinds of recorded messages.
const (
	kindPage  = "page"
	kindStill = "still:"
)

func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, clipRunes(s, 2990), false, false)
}

func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, clipRunes(s, 75), false, false)
}

func button(actionID, text, value, style string) *slack.ButtonBlockElement {
	b := slack.NewButtonBlockElement(actionID, value, plain(text))
	if style != "" {
		b.Style = slack.Style(style)
	}
	return b
}

func statusEmoji(inc *Incident) string {
	switch inc.Status {
	case StatusAcknowledged:
		return ":large_orange_circle:"
	case StatusResolved:
		return ":white_check_mark:"
	}
	return ":red_circle:"
}

// statusText is "Acknowledged by Engineer A at <date>".
func (m *Module) statusText(inc *Incident) string {
	switch inc.Status {
	case StatusAcknowledged:
		return fmt.Sprintf("Acknowledged by %s at %s", m.name(inc.AckedBy), commands.Date(inc.AckedAt))
	case StatusResolved:
		return fmt.Sprintf("Resolved by %s at %s, after %s", m.name(inc.ResolvedBy), commands.Date(inc.ResolvedAt), human(inc.ResolvedAt.Sub(inc.CreatedAt)))
	}
	return "Triggered, not acknowledged"
}

// deadlineText is "<date>" plus whether it was met or is overdue.
func (m *Module) deadlineText(due, done time.Time, open bool) string {
	if due.IsZero() {
		return "n/a"
	}
	s := commands.Date(due)
	switch {
	case !done.IsZero() && !done.After(due):
		return s + " :heavy_check_mark:"
	case !done.IsZero():
		return s + " (missed)"
	case open && m.d.Now().After(due):
		return s + " :warning: overdue"
	}
	return s
}

// parentMessage renders the incident's parent message.
func (m *Module) parentMessage(inc *Incident) commands.Message {
	open := inc.IsOpen()
	head := fmt.Sprintf("%s *%s · %s · %s*", statusEmoji(inc), inc.Key, inc.Severity, inc.Title)
	commander := "_the first to acknowledge_"
	if inc.Owner != "" {
		commander = m.mention(inc.Owner)
	}
	paged := m.mentions(inc.Paged)
	if inc.Paging == PagingPagerDuty {
		paged = "PagerDuty pages"
		if len(inc.Paged) > 0 {
			paged += "; notified " + m.mentions(inc.Paged)
		}
	} else if len(inc.Paged) == 0 {
		paged = "no one yet"
		if inc.Deadlines.Deferred(inc.CreatedAt) && open {
			paged = "no one yet: paging starts " + commands.Date(inc.Deadlines.ClockStart) + " (business hours)"
		}
	}
	ackDone := inc.AckedAt
	if ackDone.IsZero() && inc.Status == StatusResolved {
		ackDone = inc.ResolvedAt
	}
	fields := []*slack.TextBlockObject{
		mrkdwn("*Status*\n" + m.statusText(inc)),
		mrkdwn("*Incident commander*\n" + commander),
		mrkdwn("*Paged*\n" + paged),
		mrkdwn("*Acknowledge by*\n" + m.deadlineText(inc.Deadlines.Acknowledge, ackDone, inc.Status == StatusTriggered)),
		mrkdwn("*First update by*\n" + m.deadlineText(inc.Deadlines.FirstUpdate, inc.FirstUpdateAt, open)),
		mrkdwn("*Resolve by*\n" + m.deadlineText(inc.Deadlines.Resolve, inc.ResolvedAt, open)),
	}
	blocks := []slack.Block{
		slack.NewSectionBlock(mrkdwn(head), nil, nil),
		slack.NewSectionBlock(nil, fields, nil),
	}
	var lines []string
	if inc.LatestUpdate != "" {
		lines = append(lines, "*Latest update:* "+clipRunes(inc.LatestUpdate, 600))
	}
	if inc.Impact != "" {
		lines = append(lines, "*Impact:* "+clipRunes(inc.Impact, 400))
	}
	if inc.Playbook != "" {
		lines = append(lines, "*Playbook:* "+inc.Playbook)
	}
	keys := make([]string, 0, len(inc.Notes))
	for k := range inc.Notes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		lines = append(lines, inc.Notes[k])
	}
	if inc.Status == StatusResolved {
		if inc.RootCause != "" {
			lines = append(lines, "*Root cause:* "+clipRunes(inc.RootCause, 600))
		}
		if inc.Resolution != "" {
			lines = append(lines, "*Resolution:* "+clipRunes(inc.Resolution, 600))
		}
	}
	if len(lines) > 0 {
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn(strings.Join(lines, "\n")), nil, nil))
	}
	blocks = append(blocks, slack.NewContextBlock("incident.context", mrkdwn(m.contextLine(inc))))
	if acts := m.parentButtons(inc); len(acts) > 0 {
		blocks = append(blocks, slack.NewActionBlock("incident.actions", acts...))
	}
	return commands.Message{
		Text:   fmt.Sprintf("%s %s %s: %s", inc.Key, inc.Severity, inc.Title, strings.ToLower(m.statusText(inc))),
		Blocks: blocks,
	}
}

// contextLine says who opened it and where the escalation stands.
func (m *Module) contextLine(inc *Incident) string {
	s := fmt.Sprintf("Opened %s by %s at %s", m.openedVia(inc.Source), m.name(inc.OpenedBy), commands.Date(inc.CreatedAt))
	esc := m.d.Config.Escalation
	switch {
	case inc.Paging == PagingPagerDuty:
		s += " · escalation: PagerDuty"
	case inc.Esc.State == escRunning && !inc.Esc.Due.IsZero():
		s += fmt.Sprintf(" · escalation: %s at %s", stepLabel(esc, inc.Esc.Loop, inc.Esc.Step), commands.Date(inc.Esc.Due))
	case inc.Esc.State == escDone:
		s += " · escalation: every step paged"
	case inc.Esc.State == escStopped:
		s += " · escalation: stopped"
	}
	return s
}

// parentButtons are the actions that make sense in the incident's state.
func (m *Module) parentButtons(inc *Incident) []slack.BlockElement {
	id := strconv.FormatInt(inc.ID, 10)
	var out []slack.BlockElement
	if inc.Status == StatusTriggered {
		out = append(out, button(ActionAcknowledge, "Acknowledge", id, "primary"))
	}
	if inc.IsOpen() {
		out = append(out, button(ActionPostUpdate, "Post update", id, ""))
		if inc.Paging == PagingBot && inc.Esc.State != escDone {
			out = append(out, button(ActionEscalate, "Escalate", escalateValue(inc), ""))
		}
	}
	out = append(out, button(ActionCustomerUpdate, "Customer update", id, ""))
	if inc.IsOpen() {
		out = append(out, button(ActionResolve, "Resolve", id, "danger"), button(ActionTakeCommand, "Take command", id, ""))
	}
	return out
}

// escalateValue names the step an Escalate click fires, so a second click
// on the same message does not page twice.
func escalateValue(inc *Incident) string {
	return fmt.Sprintf("%d:%d:%d:%d", inc.ID, inc.Esc.Round, inc.Esc.Loop, inc.Esc.Step)
}

func parseEscalateValue(v string) (int64, Position, bool) {
	p := strings.Split(v, ":")
	if len(p) != 4 {
		return 0, Position{}, false
	}
	var n [4]int64
	for i, s := range p {
		x, err := strconv.ParseInt(s, 10, 64)
		if err != nil || x < 0 || (i > 0 && x > 1_000_000) {
			return 0, Position{}, false
		}
		n[i] = x
	}
	return n[0], Position{Round: int(n[1]), Loop: int(n[2]), Step: int(n[3])}, n[0] > 0
}

// pageMessage is the DM to someone paged, current with the incident's state.
func (m *Module) pageMessage(inc *Incident) commands.Message {
	title := fmt.Sprintf("%s · %s · %s", inc.Key, inc.Severity, inc.Title)
	where := ""
	if inc.Channel != "" {
		where = fmt.Sprintf(" Coordinate in <#%s>.", inc.Channel)
	}
	switch inc.Status {
	case StatusTriggered:
		text := fmt.Sprintf(":rotating_light: *You are paged: %s*\nAcknowledge by %s.%s", title, commands.Date(inc.Deadlines.Acknowledge), where)
		if inc.Deadlines.Acknowledge.IsZero() {
			text = fmt.Sprintf(":rotating_light: *You are paged: %s*%s", title, where)
		}
		return commands.Message{
			Text: "You are paged: " + title,
			Blocks: []slack.Block{
				slack.NewSectionBlock(mrkdwn(text), nil, nil),
				slack.NewActionBlock("incident.page", button(ActionAcknowledge, "Acknowledge", strconv.FormatInt(inc.ID, 10), "primary")),
			},
		}
	}
	text := fmt.Sprintf("%s *%s*\n%s. Nothing to do unless you are asked.%s", statusEmoji(inc), title, m.statusText(inc), where)
	return commands.Message{Text: title + ": " + strings.ToLower(m.statusText(inc)), Blocks: []slack.Block{slack.NewSectionBlock(mrkdwn(text), nil, nil)}}
}

// stillMessage asks the commander "still on it?" while check seq is current.
func (m *Module) stillMessage(inc *Incident, seq int) commands.Message {
	title := fmt.Sprintf("%s · %s · %s", inc.Key, inc.Severity, inc.Title)
	if inc.Status == StatusAcknowledged && inc.checkSeq == seq {
		v := fmt.Sprintf("%d:%d", inc.ID, seq)
		return commands.Message{
			Text: "Still on " + inc.Key + "?",
			Blocks: []slack.Block{
				slack.NewSectionBlock(mrkdwn(fmt.Sprintf(":hourglass: *Still on %s?*\nNo status update or activity for %s. Confirm, or hand it back to restart the escalation.", title, human(m.checkEvery(inc)))), nil, nil),
				slack.NewActionBlock("incident.still", button(ActionStillConfirm, "Still on it", v, "primary"), button(ActionStillHandBack, "Hand back", v, "danger")),
			},
		}
	}
	text := fmt.Sprintf("%s *%s*\n%s. This question is closed.", statusEmoji(inc), title, m.statusText(inc))
	return commands.Message{Text: title + ": answered", Blocks: []slack.Block{slack.NewSectionBlock(mrkdwn(text), nil, nil)}}
}

// changed adds entry to the thread (when not empty) and refreshes every
// view of the incident; also publishes the App Home of extra users.
func (m *Module) changed(ctx context.Context, id int64, entry string, users ...string) {
	if entry != "" {
		if err := m.post(ctx, id, commands.Message{Text: entry}); err != nil {
			m.d.Log.Warn("incident timeline entry not posted", "incident_id", id, "err", err)
		}
	}
	m.refresh(ctx, id, users...)
}

// renders remembers, per incident, what this process last showed, so a
// refresh that changes nothing costs no Slack call.
type renders struct {
	mu    sync.Mutex
	locks map[int64]*sync.Mutex
	shown map[string]string
	// homes is when each user's App Home was last published (wall clock).
	homes map[string]time.Time
}

func (r *renders) lock(id int64) *sync.Mutex {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.locks == nil {
		r.locks = map[int64]*sync.Mutex{}
	}
	l, ok := r.locks[id]
	if !ok {
		l = &sync.Mutex{}
		r.locks[id] = l
	}
	return l
}

// swap records sig as shown under key and reports whether it differs from
// what was shown before.
func (r *renders) swap(key string, id int64, sig string) (changed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.shown == nil {
		r.shown = map[string]string{}
	}
	k := key + strconv.FormatInt(id, 10)
	old, ok := r.shown[k]
	r.shown[k] = sig
	return !ok || old != sig
}

// remember records sig under key unless something is recorded already.
func (r *renders) remember(key string, id int64, sig string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.shown == nil {
		r.shown = map[string]string{}
	}
	k := key + strconv.FormatInt(id, 10)
	if _, ok := r.shown[k]; !ok {
		r.shown[k] = sig
	}
}

// parentSig is what the parent shows: the stored state and which deadlines
// are overdue now.
func (m *Module) parentSig(inc *Incident) string {
	now := m.d.Now()
	d := inc.Deadlines
	shown := *inc
	shown.LastActivityAt, shown.checkSeq = time.Time{}, 0 // not shown
	return fmt.Sprintf("%+v|%v|%v|%v", shown, now.After(d.Acknowledge), now.After(d.FirstUpdate), now.After(d.Resolve))
}

// dmSig is what the DMs about an incident show.
func dmSig(inc *Incident) string {
	return fmt.Sprint(inc.Status, inc.AckedBy, inc.ResolvedBy, inc.Owner, inc.checkSeq)
}

// refresh re-renders the parent, the DMs about the incident (when its state
// changed) and the App Home of the people it concerns (when its state
// changed) and of users. Renders are serialised per incident in this
// process; across replicas a render that raced with a change is corrected
// by re-reading after each update until nothing moved.
func (m *Module) refresh(ctx context.Context, id int64, users ...string) {
	m.refreshFrom(ctx, id, nil, users...)
}

// refreshFrom is refresh starting from known, the incident as just read
// (nil: read it), which saves a query on the paging path.
func (m *Module) refreshFrom(ctx context.Context, id int64, known *Incident, users ...string) {
	l := m.seen.lock(id)
	l.Lock()
	defer l.Unlock()
	var inc *Incident
	state := false
	for range 3 {
		var err error
		if inc, known = known, nil; inc == nil {
			if inc, err = m.Get(ctx, id); err != nil {
				m.d.Log.Error("incident not readable for refresh", "incident_id", id, "err", err)
				return
			}
		}
		if !m.seen.swap("p", id, m.parentSig(inc)) {
			break
		}
		if inc.hasParent() {
			if err := m.d.Slack.Update(ctx, inc.Channel, inc.TS, m.parentMessage(inc)); err != nil {
				m.d.Log.Warn("incident parent not updated", "incident_id", id, "err", err)
			}
		}
		if m.seen.swap("d", id, dmSig(inc)) {
			state = true
			m.refreshDMs(ctx, inc)
		}
	}
	if state {
		// Every App Home lists the open incidents with their state.
		for _, p := range m.d.Config.People {
			users = append(users, p.SlackID)
		}
	}
	m.publishHomes(ctx, users)
	if state {
		// Open incidents and pending timers change with the state (a step
		// replaces its own job with the next one).
		m.gauges(ctx)
	}
}

// refreshDMs updates every DM the bot sent about the incident.
func (m *Module) refreshDMs(ctx context.Context, inc *Incident) {
	msgs, err := listMessages(ctx, m.d.DB.Pool, inc.ID)
	if err != nil {
		m.d.Log.Error("incident DMs not listed", "incident_id", inc.ID, "err", err)
		return
	}
	for _, msg := range msgs {
		var out commands.Message
		switch {
		case msg.Kind == kindPage:
			out = m.pageMessage(inc)
		case strings.HasPrefix(msg.Kind, kindStill):
			seq, _ := strconv.Atoi(strings.TrimPrefix(msg.Kind, kindStill))
			out = m.stillMessage(inc, seq)
		default:
			continue
		}
		if err := m.d.Slack.Update(ctx, msg.Channel, msg.TS, out); err != nil {
			m.d.Log.Warn("incident DM not updated", "incident_id", inc.ID, "user_id", msg.UserID, "err", err)
		}
	}
}

// publishHomes asks for the App Home of users to be re-published. It is a
// job, so that answering a command or firing a step never waits for the
// App Home (which every feature contributes sections to).
func (m *Module) publishHomes(ctx context.Context, users []string) {
	if m.o.PublishHome == nil || m.d.Jobs == nil {
		return
	}
	users = slices.Clone(users)
	slices.Sort(users)
	var params []river.InsertManyParams
	for _, u := range slices.Compact(users) {
		if m.d.Config.Known(u) {
			params = append(params, river.InsertManyParams{Args: homeArgs{User: u}, InsertOpts: &river.InsertOpts{Queue: Queue}})
		}
	}
	if len(params) == 0 {
		return
	}
	if _, err := m.d.Jobs.InsertMany(ctx, params); err != nil {
		m.d.Log.Warn("app home refresh not queued", "err", err)
	}
}

// publishHome publishes user's App Home for a request made at asked,
// unless a publish that started later (and so saw newer data) already ran
// in this process.
func (m *Module) publishHome(ctx context.Context, user string, asked time.Time) error {
	now := m.o.Wall()
	m.seen.mu.Lock()
	if m.seen.homes == nil {
		m.seen.homes = map[string]time.Time{}
	}
	skip := asked.Before(m.seen.homes[user])
	if !skip {
		m.seen.homes[user] = now
	}
	m.seen.mu.Unlock()
	if skip {
		return nil
	}
	return m.o.PublishHome(ctx, user)
}

// gauges reports the open incidents and pending timers.
func (m *Module) gauges(ctx context.Context) {
	if m.o.Gauges == nil {
		return
	}
	open, timers, err := counts(ctx, m.d.DB.Pool)
	if err != nil {
		m.d.Log.Warn("incident gauges not read", "err", err)
		return
	}
	m.o.Gauges(open, timers)
}

// listText answers /incident list.
func (m *Module) listText(list []*Incident) string {
	if len(list) == 0 {
		return "No open incidents. :sunny:"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*Open incidents (%d)*\n", len(list))
	for i, inc := range list {
		if i == 30 {
			fmt.Fprintf(&b, "… and %d more in <#%s>.\n", len(list)-i, inc.Channel)
			break
		}
		b.WriteString(m.summaryLine(inc) + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

// summaryLine is one incident in a list: status, commander, next deadline.
func (m *Module) summaryLine(inc *Incident) string {
	owner := "no commander yet"
	if inc.Owner != "" {
		owner = "IC " + m.name(inc.Owner)
	}
	next := ""
	switch {
	case inc.Status == StatusTriggered && !inc.Deadlines.Acknowledge.IsZero():
		next = "ack by " + commands.Date(inc.Deadlines.Acknowledge)
	case inc.FirstUpdateAt.IsZero() && !inc.Deadlines.FirstUpdate.IsZero():
		next = "first update by " + commands.Date(inc.Deadlines.FirstUpdate)
	case !inc.Deadlines.Resolve.IsZero():
		next = "resolve by " + commands.Date(inc.Deadlines.Resolve)
	}
	return fmt.Sprintf("%s *%s* %s %s — %s, %s, %s", statusEmoji(inc), inc.Key, inc.Severity, clipRunes(inc.Title, 80), inc.Status, owner, next)
}

// HomeSection renders the open incidents for the App Home.
func (m *Module) HomeSection(ctx context.Context, _ string) []slack.Block {
	list, err := m.OpenIncidents(ctx)
	blocks := []slack.Block{slack.NewDividerBlock(), slack.NewHeaderBlock(plain("Open incidents"))}
	if err != nil {
		m.d.Log.Warn("open incidents not listed for the app home", "err", err)
		return append(blocks, slack.NewSectionBlock(mrkdwn(":warning: Incidents could not be read just now."), nil, nil))
	}
	if len(list) == 0 {
		return append(blocks, slack.NewSectionBlock(mrkdwn("No open incidents. :sunny:"), nil, nil))
	}
	for i, inc := range list {
		if i == 15 {
			blocks = append(blocks, slack.NewContextBlock("incident.home.more", mrkdwn(fmt.Sprintf("… and %d more: `/incident list`", len(list)-i))))
			break
		}
		text := m.summaryLine(inc)
		if inc.Status == StatusAcknowledged {
			text += "\n" + m.statusText(inc)
		}
		var acc *slack.Accessory
		if inc.Status == StatusTriggered {
			acc = slack.NewAccessory(button(ActionAcknowledge, "Acknowledge", strconv.FormatInt(inc.ID, 10), "primary"))
		}
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn(text), nil, acc))
	}
	return blocks
}
