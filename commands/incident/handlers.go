package incident

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/slack-go/slack"

	"github.com/contextinject/oncallbot/commands"
	"github.com/contextinject/oncallbot/store"
)

// Usage lines.
const (
	usageDeclare = "/incident <P1-P4> <title> — declare an incident"
	usageList    = "/incident list — open incidents with commanders and deadlines"
	usageIC      = "/incident ic @eng [incident] — hand incident command to @eng"
	usageAck     = "/oncall ack [incident] — acknowledge your open pages, or the named incident"
)

// Register adds the module's commands, buttons and modals to r.
func (m *Module) Register(r *commands.Registry) {
	r.Slash("/incident", "", usageDeclare, m.declare)
	r.Slash("/incident", "list", usageList, m.list)
	r.Slash("/incident", "ic", usageIC, m.ic)
	r.Slash("/oncall", "ack", usageAck, m.ack)
	r.Action(ActionAcknowledge, m.clickAck)
	r.Action(ActionPostUpdate, m.clickUpdate)
	r.Action(ActionEscalate, m.clickEscalate)
	r.Action(ActionResolve, m.clickResolve)
	r.Action(ActionTakeCommand, m.clickTake)
	r.Action(ActionStillConfirm, m.clickStill(false))
	r.Action(ActionStillHandBack, m.clickStill(true))
	r.View(ViewPostUpdate, m.submitUpdate)
	r.View(ViewResolve, m.submitResolve)
}

func ephemeral(format string, args ...any) commands.Response {
	return commands.Response{Ephemeral: &commands.Message{Text: fmt.Sprintf(format, args...)}}
}

// withUsage appends a usage line to a user-facing error.
func withUsage(err error, usage string) error {
	if msg, ok := commands.UserMessage(err); ok {
		var e *commands.Error
		errors.As(err, &e)
		return errorf(e.Code, "%s\nUsage: `%s`", msg, usage)
	}
	return err
}

func (m *Module) declare(ctx context.Context, req commands.Slash) (commands.Response, error) {
	if !m.d.Config.Known(req.UserID) {
		return commands.Response{}, errorf(commands.Forbidden, "Only people in the on-call configuration can declare incidents.")
	}
	sev, title, _ := strings.Cut(strings.TrimSpace(req.Args), " ")
	if sev == "" {
		return commands.Response{}, errorf(commands.Invalid, "Say how severe and what is wrong.\nUsage: `%s`\n`%s`\n`%s`", usageDeclare, usageList, usageIC)
	}
	if _, err := m.severityName(sev); err != nil {
		return commands.Response{}, withUsage(err, usageDeclare)
	}
	if _, err := cleanTitle(title); err != nil {
		return commands.Response{}, withUsage(err, usageDeclare)
	}
	// The trigger_id is unique per invocation and repeats on a redelivered
	// envelope: with it as the reference, a redelivery that slipped past
	// envelope de-duplication (two replicas) finds the same incident.
	ref := ""
	if req.TriggerID != "" {
		ref = "trigger:" + req.TriggerID
	}
	inc, err := m.Open(ctx, OpenRequest{Severity: sev, Title: title, Source: SourceSlash, SourceRef: ref, OpenedBy: req.UserID})
	if err != nil {
		return commands.Response{}, err
	}
	who := "the on-call chain is being paged"
	if inc.Paging == PagingPagerDuty {
		who = "PagerDuty pages the on-call chain"
	} else if inc.Deadlines.Deferred(inc.CreatedAt) {
		who = "paging starts " + commands.Date(inc.Deadlines.ClockStart) + ", when business hours open"
	}
	return ephemeral("Declared *%s* (%s, %s) in <#%s>; %s.", inc.Key, inc.Severity, inc.Title, inc.Channel, who), nil
}

func (m *Module) list(ctx context.Context, req commands.Slash) (commands.Response, error) {
	if req.Args != "" {
		return commands.Response{}, errorf(commands.Invalid, "`/incident list` takes no arguments.\nUsage: `%s`", usageList)
	}
	list, err := m.OpenIncidents(ctx)
	if err != nil {
		return commands.Response{}, err
	}
	return ephemeral("%s", m.listText(list)), nil
}

func (m *Module) ic(ctx context.Context, req commands.Slash) (commands.Response, error) {
	args := commands.Fields(req.Args)
	if len(args) < 1 || len(args) > 2 {
		return commands.Response{}, errorf(commands.Invalid, "Name who takes command.\nUsage: `%s`", usageIC)
	}
	owner, ok := commands.ParseMention(args[0])
	if !ok {
		return commands.Response{}, errorf(commands.Invalid, "`%s` is not a person; mention them like @name.\nUsage: `%s`", clipRunes(args[0], 40), usageIC)
	}
	var inc *Incident
	var err error
	if len(args) == 2 {
		inc, err = m.ByKey(ctx, args[1])
	} else {
		inc, err = latestOpenOf(ctx, m.d.DB.Pool, req.UserID)
		if err != nil && errorsIsNotFound(err) {
			err = errorf(commands.NotFound, "You have no open incident; name one.\nUsage: `%s`", usageIC)
		}
	}
	if err != nil {
		return commands.Response{}, err
	}
	inc, err = m.SetOwner(ctx, inc.ID, req.UserID, owner)
	if err != nil {
		return commands.Response{}, err
	}
	return ephemeral("%s is now incident commander of %s.", m.name(owner), inc.Key), nil
}

func (m *Module) ack(ctx context.Context, req commands.Slash) (commands.Response, error) {
	if !m.d.Config.Known(req.UserID) {
		return commands.Response{}, errorf(commands.Forbidden, "Only people in the on-call configuration can acknowledge incidents.")
	}
	args := commands.Fields(req.Args)
	if len(args) > 1 {
		return commands.Response{}, errorf(commands.Invalid, "Name at most one incident.\nUsage: `%s`", usageAck)
	}
	if len(args) == 1 {
		inc, err := m.ByKey(ctx, args[0])
		if err != nil {
			return commands.Response{}, withUsage(err, usageAck)
		}
		if inc, err = m.Acknowledge(ctx, inc.ID, req.UserID, "command"); err != nil {
			return commands.Response{}, err
		}
		return ephemeral("Acknowledged %s. %s", describe(inc), m.ackTarget(inc)), nil
	}
	pages, err := pagedOpen(ctx, m.d.DB.Pool, req.UserID)
	if err != nil {
		return commands.Response{}, err
	}
	if len(pages) == 0 {
		return commands.Response{}, errorf(commands.NotFound, "You have no open pages to acknowledge.\nUsage: `%s` (for example `/oncall ack INC-12`)", usageAck)
	}
	var done, lost []string
	for _, p := range pages {
		inc, err := m.Acknowledge(ctx, p.ID, req.UserID, "command")
		if err != nil {
			if msg, ok := commands.UserMessage(err); ok {
				lost = append(lost, msg)
				continue
			}
			return commands.Response{}, err
		}
		done = append(done, fmt.Sprintf("%s %s", describe(inc), m.ackTarget(inc)))
	}
	var b strings.Builder
	if len(done) > 0 {
		b.WriteString("Acknowledged:\n• " + strings.Join(done, "\n• "))
	}
	if len(lost) > 0 {
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		b.WriteString(strings.Join(lost, "\n"))
	}
	return ephemeral("%s", b.String()), nil
}

func (m *Module) ackTarget(inc *Incident) string {
	return "(" + targetText(inc.Deadlines.Acknowledge, inc.AckedAt) + ")"
}

func errorsIsNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

// incidentOf reads the incident a button's value names.
func (m *Module) incidentOf(ctx context.Context, value string) (*Incident, error) {
	id, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
	if err != nil || id <= 0 {
		return nil, errorf(commands.Invalid, "This button does not name an incident.")
	}
	inc, err := m.Get(ctx, id)
	if err != nil {
		return nil, m.notFound(id, err)
	}
	return inc, nil
}

func (m *Module) clickAck(ctx context.Context, req commands.Action) (commands.Response, error) {
	inc, err := m.incidentOf(ctx, req.Value)
	if err != nil {
		return commands.Response{}, err
	}
	via := "button"
	if req.ChannelID != "" && req.ChannelID != inc.Channel {
		via = "dm"
	}
	if _, err := m.Acknowledge(ctx, inc.ID, req.UserID, via); err != nil {
		return commands.Response{}, err
	}
	return commands.Response{}, nil
}

func (m *Module) clickTake(ctx context.Context, req commands.Action) (commands.Response, error) {
	inc, err := m.incidentOf(ctx, req.Value)
	if err != nil {
		return commands.Response{}, err
	}
	_, err = m.SetOwner(ctx, inc.ID, req.UserID, req.UserID)
	return commands.Response{}, err
}

func (m *Module) clickEscalate(ctx context.Context, req commands.Action) (commands.Response, error) {
	id, pos, ok := parseEscalateValue(req.Value)
	if !ok {
		return commands.Response{}, errorf(commands.Invalid, "This button does not name an escalation step.")
	}
	_, err := m.escalate(ctx, id, req.UserID, "", pos)
	return commands.Response{}, err
}

func (m *Module) clickStill(handBack bool) commands.ActionFunc {
	return func(ctx context.Context, req commands.Action) (commands.Response, error) {
		idS, seqS, _ := strings.Cut(req.Value, ":")
		id, err1 := strconv.ParseInt(idS, 10, 64)
		seq, err2 := strconv.Atoi(seqS)
		if err1 != nil || err2 != nil || id <= 0 {
			return commands.Response{}, errorf(commands.Invalid, "This button does not name an incident.")
		}
		_, err := m.answerCheck(ctx, id, seq, req.UserID, handBack)
		return commands.Response{}, err
	}
}

// Modal input block IDs.
const (
	blockStatus     = "status"
	blockImpact     = "impact"
	blockRootCause  = "root_cause"
	blockResolution = "resolution"
	inputAction     = "value"
)

func textInput(block, label, placeholder, initial string, multiline, optional bool) *slack.InputBlock {
	el := slack.NewPlainTextInputBlockElement(slack.NewTextBlockObject(slack.PlainTextType, placeholder, false, false), inputAction)
	el.Multiline = multiline
	el.MaxLength = maxText
	el.InitialValue = clipRunes(initial, maxText)
	in := slack.NewInputBlock(block, slack.NewTextBlockObject(slack.PlainTextType, label, false, false), nil, el)
	in.Optional = optional
	return in
}

func modal(callback, title, submit string, id int64, blocks ...slack.Block) *slack.ModalViewRequest {
	return &slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      callback,
		Title:           plain(clipRunes(title, 24)),
		Submit:          plain(submit),
		Close:           plain("Cancel"),
		PrivateMetadata: strconv.FormatInt(id, 10),
		Blocks:          slack.Blocks{BlockSet: blocks},
	}
}

func (m *Module) clickUpdate(ctx context.Context, req commands.Action) (commands.Response, error) {
	// Refuse before opening the form: its submission would be refused anyway.
	if !m.d.Config.Known(req.UserID) {
		return commands.Response{}, errorf(commands.Forbidden, "Only people in the on-call configuration can post incident updates.")
	}
	inc, err := m.incidentOf(ctx, req.Value)
	if err != nil {
		return commands.Response{}, err
	}
	if !inc.IsOpen() {
		return commands.Response{}, errorf(commands.Conflict, "%s was resolved by %s at %s; use the thread for follow-ups.", inc.Key, m.name(inc.ResolvedBy), commands.Date(inc.ResolvedAt))
	}
	v := modal(ViewPostUpdate, "Update "+inc.Key, "Post", inc.ID,
		slack.NewSectionBlock(mrkdwn(fmt.Sprintf("*%s* — posted in the thread as a status update.", describe(inc))), nil, nil),
		textInput(blockStatus, "Status", "What is happening, what is being done, next update when", "", true, false),
		textInput(blockImpact, "Impact", "Who or what is affected", inc.Impact, true, true),
	)
	return commands.Response{OpenView: v}, nil
}

func (m *Module) clickResolve(ctx context.Context, req commands.Action) (commands.Response, error) {
	if !m.d.Config.Known(req.UserID) {
		return commands.Response{}, errorf(commands.Forbidden, "Only people in the on-call configuration can resolve incidents.")
	}
	inc, err := m.incidentOf(ctx, req.Value)
	if err != nil {
		return commands.Response{}, err
	}
	if !inc.IsOpen() {
		return commands.Response{}, errorf(commands.Conflict, "%s was already resolved by %s at %s.", inc.Key, m.name(inc.ResolvedBy), commands.Date(inc.ResolvedAt))
	}
	v := modal(ViewResolve, "Resolve "+inc.Key, "Resolve", inc.ID,
		slack.NewSectionBlock(mrkdwn(fmt.Sprintf("*%s*, open for %s.", describe(inc), human(m.d.Now().Sub(inc.CreatedAt)))), nil, nil),
		textInput(blockRootCause, "Root cause", "What caused it", "", true, false),
		textInput(blockResolution, "Resolution", "What fixed it", "", true, false),
	)
	return commands.Response{OpenView: v}, nil
}

func metadataID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, errorf(commands.Invalid, "This form does not name an incident.")
	}
	return id, nil
}

func (m *Module) submitUpdate(_ context.Context, req commands.Submission) (commands.Response, commands.Then, error) {
	id, err := metadataID(req.PrivateMetadata)
	if err != nil {
		return commands.Response{}, nil, err
	}
	status, impact := escape(req.Value(blockStatus, inputAction)), escape(req.Value(blockImpact, inputAction))
	if status == "" {
		return commands.Response{Errors: map[string]string{blockStatus: "Say what is happening."}}, nil, nil
	}
	return commands.Response{}, func(ctx context.Context) error {
		_, err := m.PostUpdate(ctx, id, req.UserID, status, impact)
		return err
	}, nil
}

func (m *Module) submitResolve(_ context.Context, req commands.Submission) (commands.Response, commands.Then, error) {
	id, err := metadataID(req.PrivateMetadata)
	if err != nil {
		return commands.Response{}, nil, err
	}
	rc, res := escape(req.Value(blockRootCause, inputAction)), escape(req.Value(blockResolution, inputAction))
	errs := map[string]string{}
	if rc == "" {
		errs[blockRootCause] = "Say what caused it (\"unknown yet\" is an answer)."
	}
	if res == "" {
		errs[blockResolution] = "Say what fixed it."
	}
	if len(errs) > 0 {
		return commands.Response{Errors: errs}, nil, nil
	}
	return commands.Response{}, func(ctx context.Context) error {
		_, err := m.Resolve(ctx, id, req.UserID, rc, res)
		return err
	}, nil
}
