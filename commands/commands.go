// Package commands is the application layer between the Slack transport (package
// bot) and the domain: it defines the requests handlers receive, the responses
// they return, user-facing errors, and the registry the transport routes by.
//
// Feature packages under commands/ (oncall, incident, swap, …) register their
// handlers on a Registry; bot acks each envelope, looks the handler up and does
// what the handler's Response says.
package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/slack-go/slack"
)

// Slash is a slash command as the user typed it.
type Slash struct {
	UserID      string
	ChannelID   string
	Command     string // "/oncall", including the slash
	Sub         string // matched sub-command ("swap"), "" for the default handler
	Args        string // text after the sub-command, trimmed
	Text        string // the full text
	TriggerID   string
	ResponseURL string
}

// Action is a click on an interactive element (block_actions).
type Action struct {
	UserID      string
	ActionID    string
	BlockID     string
	Value       string
	ChannelID   string // "" when the click came from a view (modal, App Home)
	MessageTS   string
	ThreadTS    string
	ViewID      string
	TriggerID   string
	ResponseURL string
	// SelectedOptions carries checkbox / select values when present.
	SelectedOptions []string
}

// Submission is a submitted modal (view_submission).
type Submission struct {
	UserID          string
	CallbackID      string
	ViewID          string
	PrivateMetadata string
	// Values is view.state.values: block_id → action_id → state.
	Values map[string]map[string]slack.BlockAction
}

// Value returns the plain text value of input blockID / actionID, trimmed.
func (s Submission) Value(blockID, actionID string) string {
	a, ok := s.Values[blockID][actionID]
	if !ok {
		return ""
	}
	switch {
	case a.Value != "":
		return strings.TrimSpace(a.Value)
	case a.SelectedOption.Value != "":
		return a.SelectedOption.Value
	case a.SelectedUser != "":
		return a.SelectedUser
	case a.SelectedDate != "":
		return a.SelectedDate
	}
	return ""
}

// Selected returns the values of the selected options of a checkbox or multi-select input.
func (s Submission) Selected(blockID, actionID string) []string {
	a := s.Values[blockID][actionID]
	out := make([]string, 0, len(a.SelectedOptions))
	for _, o := range a.SelectedOptions {
		out = append(out, o.Value)
	}
	return out
}

// Event is an Events API event the bot subscribes to.
type Event struct {
	Type      string // app_home_opened, reaction_added, reaction_removed
	EventID   string
	UserID    string
	ChannelID string
	ItemTS    string // reactions: the message reacted to
	Reaction  string
	Tab       string // app_home_opened
}

// Message is something to post: text (the notification fallback) and optional blocks.
type Message struct {
	Text   string
	Blocks []slack.Block
}

// Response is what the transport should do after a handler returns.
type Response struct {
	// Ephemeral answers only the caller, in the channel of the request
	// (or replaces the ephemeral message a button was clicked in).
	Ephemeral *Message
	// OpenView opens a modal with the request's trigger_id.
	OpenView *slack.ModalViewRequest
	// UpdateView replaces the modal the request came from (view_submission ack).
	UpdateView *slack.ModalViewRequest
	// Errors are view_submission validation errors keyed by input block_id.
	Errors map[string]string
}

// Text returns a Response answering the caller with plain text.
func Text(format string, args ...any) Response {
	return Response{Ephemeral: &Message{Text: fmt.Sprintf(format, args...)}}
}

// Code classifies a user-facing error.
type Code string

// Error codes shown to users.
const (
	Invalid     Code = "invalid"
	NotFound    Code = "not_found"
	Forbidden   Code = "forbidden"
	Conflict    Code = "conflict"
	Unavailable Code = "unavailable"
)

// Error is an error whose Message is a full sentence safe to show in Slack.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Errorf returns a user-facing error.
func Errorf(code Code, format string, args ...any) error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// UserMessage returns the user-facing sentence of err and true when err is (or
// wraps) an *Error; otherwise "" and false, and the caller must not show err.
func UserMessage(err error) (string, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.Message, true
	}
	return "", false
}

// SlashFunc handles a slash command.
type SlashFunc func(ctx context.Context, req Slash) (Response, error)

// ActionFunc handles a button click or other block action.
type ActionFunc func(ctx context.Context, req Action) (Response, error)

// SubmitFunc handles a modal submission. It runs before the ack so that its
// Response.Errors can reach the modal: keep it fast and local, and return
// follow-up work as Then, which runs after the ack.
type SubmitFunc func(ctx context.Context, req Submission) (Response, Then, error)

// Then is work to run after the ack.
type Then func(ctx context.Context) error

// EventFunc handles an Events API event.
type EventFunc func(ctx context.Context, ev Event) error

// SlashRoute is one registered slash handler.
type SlashRoute struct {
	Command string
	Sub     string // "" for the default handler
	Usage   string // one line for /oncall help, e.g. "/oncall swap @eng [YYYY-MM-DD]"
	Func    SlashFunc
}

// Registry maps Slack identifiers to handlers. It is filled at start-up and
// read-only afterwards, so lookups need no lock.
type Registry struct {
	slash   map[string]map[string]SlashRoute
	order   []SlashRoute
	actions map[string]ActionFunc
	prefix  map[string]ActionFunc
	views   map[string]SubmitFunc
	events  map[string][]EventFunc
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{
		slash:   map[string]map[string]SlashRoute{},
		actions: map[string]ActionFunc{},
		prefix:  map[string]ActionFunc{},
		views:   map[string]SubmitFunc{},
		events:  map[string][]EventFunc{},
	}
}

// Slash registers f for command (e.g. "/oncall") and sub-command sub ("" for
// the handler used when the first word is not a registered sub-command).
// It panics on a duplicate, which is a programming error found at start.
func (r *Registry) Slash(command, sub, usage string, f SlashFunc) {
	subs := r.slash[command]
	if subs == nil {
		subs = map[string]SlashRoute{}
		r.slash[command] = subs
	}
	if _, dup := subs[sub]; dup {
		panic(fmt.Sprintf("commands: duplicate handler for %s %s", command, sub))
	}
	route := SlashRoute{Command: command, Sub: sub, Usage: usage, Func: f}
	subs[sub] = route
	r.order = append(r.order, route)
}

// Action registers f for action_id id. An id ending in "*" matches every
// action_id with that prefix (for ids that carry an index, e.g. "triage.done.3").
func (r *Registry) Action(id string, f ActionFunc) {
	if p, ok := strings.CutSuffix(id, "*"); ok {
		if _, dup := r.prefix[p]; dup {
			panic("commands: duplicate action prefix " + id)
		}
		r.prefix[p] = f
		return
	}
	if _, dup := r.actions[id]; dup {
		panic("commands: duplicate action " + id)
	}
	r.actions[id] = f
}

// View registers f for the modal callback_id id.
func (r *Registry) View(id string, f SubmitFunc) {
	if _, dup := r.views[id]; dup {
		panic("commands: duplicate view " + id)
	}
	r.views[id] = f
}

// Event registers f for the Events API event type typ; several may listen.
func (r *Registry) Event(typ string, f EventFunc) {
	r.events[typ] = append(r.events[typ], f)
}

// LookupSlash finds the handler for a command line: the first word of text
// selects a sub-command when one is registered, else the default handler gets
// the whole text. ok is false when the command is unknown.
func (r *Registry) LookupSlash(command, text string) (route SlashRoute, req Slash, ok bool) {
	subs := r.slash[command]
	if subs == nil {
		return SlashRoute{}, Slash{}, false
	}
	text = strings.TrimSpace(text)
	first, rest, _ := strings.Cut(text, " ")
	if rt, found := subs[strings.ToLower(first)]; found && first != "" {
		return rt, Slash{Command: command, Sub: rt.Sub, Args: strings.TrimSpace(rest), Text: text}, true
	}
	rt, found := subs[""]
	if !found {
		return SlashRoute{}, Slash{Command: command, Text: text}, false
	}
	return rt, Slash{Command: command, Args: text, Text: text}, true
}

// LookupAction returns the handler for action_id id.
func (r *Registry) LookupAction(id string) (ActionFunc, bool) {
	if f, ok := r.actions[id]; ok {
		return f, true
	}
	for p, f := range r.prefix {
		if strings.HasPrefix(id, p) {
			return f, true
		}
	}
	return nil, false
}

// LookupView returns the handler for the modal callback_id id.
func (r *Registry) LookupView(id string) (SubmitFunc, bool) {
	f, ok := r.views[id]
	return f, ok
}

// LookupEvent returns the handlers for an event type.
func (r *Registry) LookupEvent(typ string) []EventFunc { return r.events[typ] }

// Commands returns the registered slash commands ("/oncall", "/triage", …).
func (r *Registry) Commands() []string {
	out := make([]string, 0, len(r.slash))
	for c := range r.slash {
		out = append(out, c)
	}
	return out
}

// Routes returns every slash route in registration order (for help texts).
func (r *Registry) Routes() []SlashRoute { return append([]SlashRoute(nil), r.order...) }

// Messenger posts to Slack on behalf of feature code that works outside a
// request (timers, webhooks) or posts beyond the caller's answer. bot
// implements it over the Web API with retries; a channel may be a user ID,
// which posts a DM.
type Messenger interface {
	Post(ctx context.Context, channel string, msg Message) (ts string, err error)
	Reply(ctx context.Context, channel, threadTS string, msg Message) (ts string, err error)
	Update(ctx context.Context, channel, ts string, msg Message) error
	Ephemeral(ctx context.Context, channel, user string, msg Message) error
	OpenView(ctx context.Context, triggerID string, view slack.ModalViewRequest) error
	PublishHome(ctx context.Context, user string, view slack.HomeTabViewRequest) error
	Permalink(ctx context.Context, channel, ts string) (string, error)
	SetUsergroup(ctx context.Context, group string, users []string) error
}

// Clock returns the current time; tests pass a fixed one.
type Clock func() time.Time

// Date formats t with Slack date formatting so each reader sees their own
// time zone; the fallback is UTC.
func Date(t time.Time) string {
	return fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>", t.Unix(), t.UTC().Format("Mon 2 Jan 2006 15:04 UTC"))
}
