// Package bot is the Slack transport: it runs the Socket Mode connection, acks
// every envelope first, drops redeliveries, routes what is left to the handlers
// of a commands.Registry on a bounded pool of workers, and does what their
// Responses say. It also implements commands.Messenger over the Web API.
package bot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"

	"github.com/contextinject/oncallbot/commands"
)

// Deduper reports whether a key (an envelope or event ID) is seen for the first time.
type Deduper interface {
	First(ctx context.Context, key string, now time.Time) (bool, error)
}

// Options configure a Bot.
type Options struct {
	Client   *socketmode.Client
	Registry *commands.Registry
	Dedup    Deduper
	Log      *slog.Logger
	Metrics  *Metrics
	// Messenger answers callers (response_url, ephemeral posts, views).
	Messenger *Messenger
	// Workers bounds concurrently running handlers (default 32).
	Workers int
	// HandlerTimeout bounds one handler (default 60s).
	HandlerTimeout time.Duration
	Now            func() time.Time
}

// Bot is a running Socket Mode bot.
type Bot struct {
	o         Options
	sem       chan struct{}
	wg        sync.WaitGroup
	connected atomic.Bool
	everUp    atomic.Bool
}

// New returns a Bot; Run starts it.
func New(o Options) *Bot {
	if o.Workers <= 0 {
		o.Workers = 32
	}
	if o.HandlerTimeout <= 0 {
		o.HandlerTimeout = 60 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Bot{o: o, sem: make(chan struct{}, o.Workers)}
}

// Connected reports whether the Socket Mode connection is up.
func (b *Bot) Connected() bool { return b.connected.Load() }

// Run connects and serves until ctx is done, then stops intake and waits up to
// drain for in-flight handlers. It returns the error that ended the
// connection for good (invalid auth), or nil on shutdown.
func (b *Bot) Run(ctx context.Context, drain time.Duration) error {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- b.o.Client.RunContext(runCtx) }()

	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err := <-errc:
			if err != nil && !errors.Is(err, context.Canceled) {
				runErr = fmt.Errorf("socket mode: %w", err)
			}
			break loop
		case evt, ok := <-b.o.Client.Events:
			if !ok {
				break loop
			}
			b.handle(ctx, evt)
		}
	}
	cancel()
	b.connected.Store(false)
	b.o.Metrics.Connected.Set(0)

	done := make(chan struct{})
	go func() { b.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(drain):
		b.o.Log.Warn("shutdown: handlers still running after drain deadline", "drain", drain)
	}
	return runErr
}

// handle runs on the event loop: it must never block, or slack-go stops
// reading the socket and misses server pings (reference/slack.md §1.6).
func (b *Bot) handle(ctx context.Context, evt socketmode.Event) {
	start := time.Now()
	switch evt.Type {
	case socketmode.EventTypeConnecting:
		b.setConnected(false)
		return
	case socketmode.EventTypeConnected:
		b.o.Metrics.Reconnects.Inc()
		b.setConnected(true)
		return
	case socketmode.EventTypeHello:
		b.setConnected(true)
		return
	case socketmode.EventTypeConnectionError, socketmode.EventTypeIncomingError:
		b.setConnected(false)
		b.o.Log.Warn("slack connection error; reconnecting", "type", string(evt.Type))
		return
	case socketmode.EventTypeInvalidAuth:
		b.o.Log.Error("slack rejected the tokens (invalid_auth): check SLACK_APP_TOKEN and SLACK_BOT_TOKEN")
		return
	case socketmode.EventTypeErrorBadMessage, socketmode.EventTypeErrorWriteFailed:
		b.o.Log.Warn("slack socket message problem", "type", string(evt.Type))
		return
	}
	if evt.Request == nil {
		return
	}
	req := evt.Request
	// A view submission may carry validation errors in its ack, so it is acked
	// by its worker after the (fast, local) validation. Everything else is
	// acked first, before any other work on this envelope.
	if cb, ok := evt.Data.(slack.InteractionCallback); ok && cb.Type == slack.InteractionTypeViewSubmission {
		b.spawn(func() { b.submission(ctx, req, cb, start) })
	} else {
		b.ack(req.EnvelopeID, nil, start)
		b.spawn(func() { b.process(ctx, evt) })
	}
	b.o.Metrics.Envelopes.WithLabelValues(envelopeKind(evt)).Inc()
}

func (b *Bot) setConnected(up bool) {
	b.connected.Store(up)
	if up {
		b.everUp.Store(true)
		b.o.Metrics.Connected.Set(1)
	} else {
		b.o.Metrics.Connected.Set(0)
	}
}

func envelopeKind(evt socketmode.Event) string {
	switch d := evt.Data.(type) {
	case slack.InteractionCallback:
		return string(evt.Type) + ":" + string(d.Type)
	case slackevents.EventsAPIEvent:
		return string(evt.Type) + ":" + d.InnerEvent.Type
	}
	return string(evt.Type)
}

// ack queues the ack without blocking for long: slack-go's Ack blocks forever
// when no connection is up and its queue of 20 is full (reference/slack.md §1.4).
func (b *Bot) ack(envelopeID string, payload any, start time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := b.o.Client.AckCtx(ctx, envelopeID, payload); err != nil {
		b.o.Log.Warn("ack not sent", "envelope_id", envelopeID, "err", err)
		return
	}
	b.o.Metrics.AckSeconds.Observe(since(start))
}

// spawn runs f on the bounded worker pool, joined on shutdown.
func (b *Bot) spawn(f func()) {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.sem <- struct{}{}
		defer func() { <-b.sem }()
		f()
	}()
}

// first reports whether an envelope is new. When the de-duplication store
// fails the envelope is processed: answering twice beats losing a page.
func (b *Bot) first(ctx context.Context, keys ...string) bool {
	for _, k := range keys {
		if k == "" {
			continue
		}
		ok, err := b.o.Dedup.First(ctx, k, b.o.Now())
		if err != nil {
			b.o.Log.Warn("envelope de-duplication unavailable; processing", "key", k, "err", err)
			return true
		}
		if !ok {
			b.o.Metrics.Duplicates.Inc()
			b.o.Log.Info("duplicate envelope dropped", "key", k)
			return false
		}
	}
	return true
}

func (b *Bot) process(parent context.Context, evt socketmode.Event) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), b.o.HandlerTimeout)
	defer cancel()
	req := evt.Request
	switch d := evt.Data.(type) {
	case slack.SlashCommand:
		if !b.first(ctx, "env:"+req.EnvelopeID) {
			return
		}
		b.slash(ctx, d)
	case slack.InteractionCallback:
		if !b.first(ctx, "env:"+req.EnvelopeID) {
			return
		}
		if d.Type == slack.InteractionTypeBlockActions {
			b.actions(ctx, d)
		}
	case slackevents.EventsAPIEvent:
		eventID := ""
		if cb, ok := d.Data.(*slackevents.EventsAPICallbackEvent); ok {
			eventID = cb.EventID
		}
		if !b.first(ctx, "env:"+req.EnvelopeID, "evt:"+eventID) {
			return
		}
		b.event(ctx, d, eventID)
	}
}

func (b *Bot) slash(ctx context.Context, sc slack.SlashCommand) {
	t0 := time.Now()
	defer func() { b.o.Metrics.HandlerSecs.WithLabelValues("slash").Observe(since(t0)) }()
	route, req, ok := b.o.Registry.LookupSlash(sc.Command, sc.Text)
	req.UserID, req.ChannelID, req.TriggerID, req.ResponseURL = sc.UserID, sc.ChannelID, sc.TriggerID, sc.ResponseURL
	if !ok {
		b.answer(ctx, req.ChannelID, req.UserID, req.ResponseURL, commands.Message{Text: usage(b.o.Registry, sc.Command)})
		return
	}
	log := b.o.Log.With("command", sc.Command, "sub", route.Sub, "user_id", sc.UserID)
	resp, err := safeCall(log, b.o.Metrics, func() (commands.Response, error) { return route.Func(ctx, req) })
	b.respond(ctx, log, req.ChannelID, req.UserID, req.ResponseURL, req.TriggerID, resp, err)
}

func (b *Bot) actions(ctx context.Context, cb slack.InteractionCallback) {
	for _, a := range cb.ActionCallback.BlockActions {
		t0 := time.Now()
		f, ok := b.o.Registry.LookupAction(a.ActionID)
		if !ok {
			// Link buttons (url set) also send block_actions; they need nothing.
			continue
		}
		req := commands.Action{
			UserID: cb.User.ID, ActionID: a.ActionID, BlockID: a.BlockID, Value: a.Value,
			ChannelID: cb.Channel.ID, MessageTS: cb.Container.MessageTs, ThreadTS: cb.Container.ThreadTs,
			ViewID: cb.View.ID, TriggerID: cb.TriggerID, ResponseURL: cb.ResponseURL,
		}
		if req.ChannelID == "" {
			req.ChannelID = cb.Container.ChannelID
		}
		if req.ThreadTS == "" {
			req.ThreadTS = cb.Message.ThreadTimestamp
		}
		if a.SelectedOption.Value != "" {
			req.SelectedOptions = []string{a.SelectedOption.Value}
		}
		for _, o := range a.SelectedOptions {
			req.SelectedOptions = append(req.SelectedOptions, o.Value)
		}
		log := b.o.Log.With("action_id", a.ActionID, "user_id", cb.User.ID)
		resp, err := safeCall(log, b.o.Metrics, func() (commands.Response, error) { return f(ctx, req) })
		b.respond(ctx, log, req.ChannelID, req.UserID, req.ResponseURL, req.TriggerID, resp, err)
		b.o.Metrics.HandlerSecs.WithLabelValues("action").Observe(since(t0))
	}
}

func (b *Bot) submission(parent context.Context, req *socketmode.Request, cb slack.InteractionCallback, start time.Time) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), b.o.HandlerTimeout)
	defer cancel()
	f, ok := b.o.Registry.LookupView(cb.View.CallbackID)
	if !ok {
		b.ack(req.EnvelopeID, nil, start)
		return
	}
	if !b.first(ctx, "env:"+req.EnvelopeID) {
		b.ack(req.EnvelopeID, nil, start)
		return
	}
	sub := commands.Submission{
		UserID: cb.User.ID, CallbackID: cb.View.CallbackID, ViewID: cb.View.ID,
		PrivateMetadata: cb.View.PrivateMetadata, Values: cb.View.State.Values,
	}
	log := b.o.Log.With("callback_id", cb.View.CallbackID, "user_id", cb.User.ID)
	var then commands.Then
	resp, err := safeCall(log, b.o.Metrics, func() (commands.Response, error) {
		r, t, err := f(ctx, sub)
		then = t
		return r, err
	})
	switch {
	case err == nil && len(resp.Errors) > 0:
		b.ack(req.EnvelopeID, slack.NewErrorsViewSubmissionResponse(resp.Errors), start)
		return
	case err == nil && resp.UpdateView != nil:
		b.ack(req.EnvelopeID, slack.NewUpdateViewSubmissionResponse(resp.UpdateView), start)
	default:
		b.ack(req.EnvelopeID, nil, start)
	}
	if err != nil {
		b.respond(ctx, log, "", sub.UserID, "", "", resp, err)
		return
	}
	if resp.Ephemeral != nil {
		b.answer(ctx, "", sub.UserID, "", *resp.Ephemeral)
	}
	if then != nil {
		_, err := safeCall(log, b.o.Metrics, func() (commands.Response, error) { return commands.Response{}, then(ctx) })
		if err != nil {
			b.respond(ctx, log, "", sub.UserID, "", "", commands.Response{}, err)
		}
	}
}

func (b *Bot) event(ctx context.Context, ev slackevents.EventsAPIEvent, eventID string) {
	e := commands.Event{Type: ev.InnerEvent.Type, EventID: eventID}
	switch d := ev.InnerEvent.Data.(type) {
	case *slackevents.AppHomeOpenedEvent:
		e.UserID, e.ChannelID, e.Tab = d.User, d.Channel, d.Tab
	case *slackevents.ReactionAddedEvent:
		e.UserID, e.ChannelID, e.ItemTS, e.Reaction = d.User, d.Item.Channel, d.Item.Timestamp, d.Reaction
	case *slackevents.ReactionRemovedEvent:
		e.UserID, e.ChannelID, e.ItemTS, e.Reaction = d.User, d.Item.Channel, d.Item.Timestamp, d.Reaction
	}
	for _, f := range b.o.Registry.LookupEvent(e.Type) {
		log := b.o.Log.With("event", e.Type, "user_id", e.UserID)
		_, err := safeCall(log, b.o.Metrics, func() (commands.Response, error) { return commands.Response{}, f(ctx, e) })
		if err != nil {
			log.Error("event handler failed", "err", err)
		}
	}
}

// respond does what a handler's Response says and renders its error.
func (b *Bot) respond(ctx context.Context, log *slog.Logger, channel, user, responseURL, triggerID string, resp commands.Response, err error) {
	if err != nil {
		b.answer(ctx, channel, user, responseURL, commands.Message{Text: render(log, err)})
		return
	}
	if resp.OpenView != nil {
		if verr := b.o.Messenger.OpenView(ctx, triggerID, *resp.OpenView); verr != nil {
			log.Warn("views.open failed", "err", verr)
			b.answer(ctx, channel, user, responseURL, commands.Message{Text: ":warning: Slack did not open the form in time. Please try again."})
		}
	}
	if resp.Ephemeral != nil {
		b.answer(ctx, channel, user, responseURL, *resp.Ephemeral)
	}
}

// answer shows msg to user only: through response_url when the request has
// one (it works in any conversation, including DMs the bot is not a member
// of), else as an ephemeral message, else as a DM.
func (b *Bot) answer(ctx context.Context, channel, user, responseURL string, msg commands.Message) {
	m := b.o.Messenger
	if responseURL != "" {
		if err := m.RespondURL(ctx, responseURL, msg); err == nil {
			return
		} else {
			b.o.Log.Warn("response_url failed; posting instead", "err", err)
		}
	}
	if channel != "" {
		if err := m.Ephemeral(ctx, channel, user, msg); err == nil {
			return
		}
	}
	if _, err := m.Post(ctx, user, msg); err != nil {
		b.o.Log.Error("could not answer user", "user_id", user, "err", err)
	}
}

// safeCall runs f, turning a panic into an error with a reference so that one
// bad handler answers its user and the bot keeps serving.
func safeCall(log *slog.Logger, m *Metrics, f func() (commands.Response, error)) (resp commands.Response, err error) {
	defer func() {
		if r := recover(); r != nil {
			m.Panics.Inc()
			ref := newRef()
			log.Error("handler panic", "ref", ref, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = &refError{ref: ref}
		}
	}()
	return f()
}

type refError struct{ ref string }

func (e *refError) Error() string { return "internal error ref " + e.ref }

// render turns err into the sentence shown to the user. Only commands.Error
// text is shown; anything else is logged with a short reference, because
// internal errors can carry SQL, URLs or tokens.
func render(log *slog.Logger, err error) string {
	if msg, ok := commands.UserMessage(err); ok {
		return ":warning: " + msg
	}
	var re *refError
	ref := ""
	if errors.As(err, &re) {
		ref = re.ref
	} else {
		ref = newRef()
		log.Error("handler failed", "ref", ref, "err", err)
	}
	return fmt.Sprintf(":x: Something went wrong (ref %s). Nothing was changed by this failed step; please try again or tell the team.", ref)
}

func newRef() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func usage(r *commands.Registry, command string) string {
	s := fmt.Sprintf(":warning: I don't know that command. Try `%s help`.", command)
	for _, rt := range r.Routes() {
		if rt.Command == command && rt.Sub == "help" {
			return s
		}
	}
	return s
}
