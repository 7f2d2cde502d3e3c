package templates

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/slack-go/slack"

	"github.com/contextinject/oncallbot/commands"
	"github.com/contextinject/oncallbot/store"
)

// Slack identifiers of the customer update flow.
const (
	// ActionCustomerUpdate is the incident parent's Customer update button;
	// its value is the incident ID.
	ActionCustomerUpdate = "incident.customer_update"
	// ActionChoose prefixes the choice's template buttons: the action_id is
	// ActionChoose + the template's name (each button needs its own
	// action_id), the value the incident ID.
	ActionChoose = "customer_update.template."
	// ViewFill is the modal filling the chosen template's placeholders.
	ViewFill = "customer_update.fill"

	fieldPrefix = "f_"
	fieldAction = "value"
	// perRow is how many template buttons one actions block shows.
	perRow = 5
)

// Incidents is what the customer update flow needs from the incidents module.
type Incidents interface {
	// Get returns incident id; an error wrapping store.ErrNotFound when there
	// is no such incident.
	Get(ctx context.Context, id int64) (Incident, error)
	// Thread posts msg in the incident's thread.
	Thread(ctx context.Context, id int64, msg commands.Message) error
}

// Module answers the Customer update button: choose a template, fill its
// placeholders (pre-filled from the incident), get the text in the thread.
type Module struct {
	d         commands.Deps
	templates []Template

	mu        sync.RWMutex
	incidents Incidents
}

// NewModule returns the module offering set (Load's result; nil means the
// built-ins).
func NewModule(d commands.Deps, set []Template) *Module {
	if len(set) == 0 {
		set = Builtins()
	}
	return &Module{d: d, templates: set}
}

// SetIncidents connects the incidents module (an adapter written at wiring).
func (m *Module) SetIncidents(i Incidents) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.incidents = i
}

func (m *Module) source() Incidents {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.incidents
}

// Templates returns the templates offered, built-ins first.
func (m *Module) Templates() []Template { return append([]Template(nil), m.templates...) }

// Template returns the template called name.
func (m *Module) Template(name string) (Template, bool) {
	for _, t := range m.templates {
		if t.Name == name {
			return t, true
		}
	}
	return Template{}, false
}

// Register adds the button and modal handlers to r.
func (m *Module) Register(r *commands.Registry) {
	r.Action(ActionCustomerUpdate, m.click)
	r.Action(ActionChoose+"*", m.choose)
	r.View(ViewFill, m.filled)
}

// incident loads incident id for user, checking who may draft updates.
func (m *Module) incident(ctx context.Context, user, rawID string) (Incident, error) {
	if !m.d.Config.Known(user) {
		return Incident{}, commands.Errorf(commands.Forbidden, "Only people of the on-call configuration can draft customer updates.")
	}
	id, err := strconv.ParseInt(strings.TrimSpace(rawID), 10, 64)
	if err != nil || id <= 0 {
		return Incident{}, commands.Errorf(commands.Invalid, "This button does not name an incident.")
	}
	src := m.source()
	if src == nil {
		return Incident{}, commands.Errorf(commands.Unavailable, "Customer updates are not available: incidents are not connected.")
	}
	inc, err := src.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Incident{}, commands.Errorf(commands.NotFound, "Incident #%d does not exist.", id)
	}
	if err != nil {
		return Incident{}, fmt.Errorf("load incident %d: %w", id, err)
	}
	return inc, nil
}

// click answers the Customer update button with the choice of templates,
// shown only to the person who clicked.
func (m *Module) click(ctx context.Context, req commands.Action) (commands.Response, error) {
	inc, err := m.incident(ctx, req.UserID, req.Value)
	if err != nil {
		return commands.Response{}, err
	}
	msg := m.Choice(inc)
	return commands.Response{Ephemeral: &msg}, nil
}

// Choice is the message offering one button per template for inc.
func (m *Module) Choice(inc Incident) commands.Message {
	text := fmt.Sprintf(":email: Customer update for incident #%d (%s, %s): choose a template. Its fields are pre-filled from the incident; the text is posted in the thread for you to copy, and nothing is sent to customers.",
		inc.ID, inc.Severity, inc.Title)
	blocks := []slack.Block{slack.NewSectionBlock(md(clip(text, 3000)), nil, nil)}
	for i := 0; i < len(m.templates); i += perRow {
		var row []slack.BlockElement
		for _, t := range m.templates[i:min(i+perRow, len(m.templates))] {
			row = append(row, slack.NewButtonBlockElement(ActionChoose+t.Name, strconv.FormatInt(inc.ID, 10), pt(clip(t.Title, 75))))
		}
		blocks = append(blocks, slack.NewActionBlock(fmt.Sprintf("customer_update_%d", i/perRow), row...))
	}
	return commands.Message{Text: text, Blocks: blocks}
}

// choose opens the chosen template's modal, pre-filled from the incident.
func (m *Module) choose(ctx context.Context, req commands.Action) (commands.Response, error) {
	name := strings.TrimPrefix(req.ActionID, ActionChoose)
	t, ok := m.Template(name)
	if !ok {
		return commands.Response{}, commands.Errorf(commands.NotFound, "The template %q no longer exists; press Customer update again.", clip(name, 40))
	}
	inc, err := m.incident(ctx, req.UserID, req.Value)
	if err != nil {
		return commands.Response{}, err
	}
	v := m.FillView(t, inc, Prefill(t, inc, m.d.Config, req.UserID, m.d.Now()))
	return commands.Response{OpenView: &v}, nil
}

type fillMeta struct {
	Incident int64  `json:"i"`
	Template string `json:"t"`
}

// FillView is the modal whose inputs are t's placeholders, with values pre-filled.
func (m *Module) FillView(t Template, inc Incident, values map[string]string) slack.ModalViewRequest {
	meta, _ := json.Marshal(fillMeta{Incident: inc.ID, Template: t.Name})
	blocks := []slack.Block{
		slack.NewSectionBlock(md(clip(fmt.Sprintf("*%s*\nIncident #%d [%s] %s", t.Title, inc.ID, inc.Severity, inc.Title), 3000)), nil, nil),
		slack.NewContextBlock("", md("Every field is required. Submitting posts the text in the incident thread, ready to copy; nothing is sent outside Slack.")),
	}
	for _, f := range t.Fields {
		in := slack.NewPlainTextInputBlockElement(nil, fieldAction)
		in.Multiline = f.Multiline
		in.MaxLength = MaxFieldValue
		if v := values[f.Key]; v != "" {
			in.InitialValue = clip(v, MaxFieldValue)
		}
		var hint *slack.TextBlockObject
		if f.Hint != "" {
			hint = pt(f.Hint)
		}
		blocks = append(blocks, slack.NewInputBlock(fieldPrefix+f.Key, pt(f.Label), hint, in))
	}
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		CallbackID:      ViewFill,
		PrivateMetadata: string(meta),
		Title:           pt("Customer update"),
		Submit:          pt("Post in thread"),
		Close:           pt("Cancel"),
		Blocks:          slack.Blocks{BlockSet: blocks},
	}
}

func (m *Module) filled(ctx context.Context, sub commands.Submission) (commands.Response, commands.Then, error) {
	var meta fillMeta
	if err := json.Unmarshal([]byte(sub.PrivateMetadata), &meta); err != nil || meta.Incident <= 0 {
		return commands.Response{}, nil, commands.Errorf(commands.Invalid, "This form is out of date; press Customer update again.")
	}
	t, ok := m.Template(meta.Template)
	if !ok {
		return commands.Response{}, nil, commands.Errorf(commands.NotFound, "The template %q no longer exists; press Customer update again.", meta.Template)
	}
	if !m.d.Config.Known(sub.UserID) {
		return commands.Response{}, nil, commands.Errorf(commands.Forbidden, "Only people of the on-call configuration can draft customer updates.")
	}
	values := map[string]string{}
	for _, f := range t.Fields {
		values[f.Key] = sub.Value(fieldPrefix+f.Key, fieldAction)
	}
	text, missing := t.Render(values)
	if len(missing) > 0 {
		errs := map[string]string{}
		for _, k := range missing {
			f, _ := t.Field(k)
			errs[fieldPrefix+k] = fmt.Sprintf("Fill in %q: the update must not go out with a blank.", f.Label)
		}
		return commands.Response{Errors: errs}, nil, nil
	}
	src := m.source()
	if src == nil {
		return commands.Response{}, nil, commands.Errorf(commands.Unavailable, "Customer updates are not available: incidents are not connected.")
	}
	then := func(ctx context.Context) error {
		now := m.d.Now()
		err := store.Audit(ctx, m.d.DB.Pool, store.AuditEntry{
			At: now, Actor: sub.UserID, Action: "customer_update.draft", Subject: fmt.Sprintf("incident:%d", meta.Incident),
			Details: map[string]any{"template": t.Name},
		})
		if err != nil {
			return fmt.Errorf("audit customer update: %w", err)
		}
		msg := commands.Message{Text: DraftMessage(t, commands.Mention(m.d.Config, sub.UserID), text)}
		if err := src.Thread(ctx, meta.Incident, msg); err != nil {
			return fmt.Errorf("post customer update in incident %d: %w", meta.Incident, err)
		}
		return nil
	}
	return commands.Response{}, then, nil
}

// DraftMessage is the thread post carrying a rendered template in a code
// block, ready to copy.
func DraftMessage(t Template, by, text string) string {
	// A literal ``` would end the code block early.
	text = strings.ReplaceAll(text, "```", "`\u200b``")
	// A message holds 40,000 characters; the template and field limits keep
	// far below, but never post a message Slack would refuse.
	text = clip(text, 38000)
	return fmt.Sprintf(":email: Customer update draft — *%s*, by %s. Copy it into your email or status page; nothing was sent outside Slack.\n```\n%s\n```", t.Title, by, text)
}

func pt(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, false, false)
}
func md(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
}

// clip shortens s to at most n runes, marking the cut.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
