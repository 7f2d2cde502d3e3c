package slacksim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Tokens the simulator accepts. Any other token is answered with invalid_auth.
const (
	AppToken = "xapp-1-sim"
	BotToken = "xoxb-sim"
)

// Workspace identifiers that appear in envelopes and API answers.
const (
	TeamID     = "T0SIM"
	TeamDomain = "sim"
	AppID      = "A0SIMAPP"
	BotID      = "B0BOT"
	// verificationToken is the legacy verification token Slack still puts in payloads.
	verificationToken = "sim-verification"
)

// User is a person in the simulated workspace.
type User struct{ ID, Name, RealName, Email, TZ string }

// Channel is a public channel in the simulated workspace.
type Channel struct{ ID, Name string }

// Options configures a Server.
type Options struct {
	Users     []User
	Channels  []Channel
	BotUserID string // default "U0BOT"
	// PingInterval is how often the server sends WebSocket PINGs, default 2s.
	// slack-go declares the connection dead when no server ping arrives within
	// its maxPingInterval (30s by default).
	PingInterval time.Duration
	// TriggerTTL is how long a trigger_id stays usable, default 3s as on Slack.
	TriggerTTL time.Duration
	Logger     *slog.Logger // default discards
	// Usergroups are the initial user groups (ID → member IDs). Any other ID of
	// the form S… is treated as an existing, empty group.
	Usergroups map[string][]string
	// Now is the clock used for timestamps and trigger expiry, default time.Now.
	Now func() time.Time
	// MultiConnection keeps every open connection, as Slack does for an app
	// running several replicas (up to 10 connections), and spreads envelopes
	// over them round-robin. By default a new connection replaces the old one.
	MultiConnection bool
}

// Server is a running simulated Slack workspace.
type Server struct {
	opts   Options
	log    *slog.Logger
	now    func() time.Time
	ln     net.Listener
	http   *http.Server
	base   string // "http://127.0.0.1:PORT"
	botID  string
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu          sync.Mutex
	changed     chan struct{} // closed and replaced on every state change
	users       map[string]User
	userOrder   []string
	channels    map[string]Channel
	conn        *wsConn   // the live connection, nil while none (the newest with MultiConnection)
	live        []*wsConn // MultiConnection: every open connection
	rr          int       // MultiConnection: round-robin position
	connChanged chan struct{}
	allConns    map[*wsConn]struct{}
	connections int
	tickets     map[string]bool

	sent       map[string]*sentEnvelope
	acks       map[string][]Ack
	messages   []*Message
	byTS       map[string]*Message
	lastTS     int64
	views      map[string]*view
	viewOrder  []string
	stacks     map[string][]string // user → open modal view IDs, top last
	homes      map[string]string   // user → home view ID
	triggers   map[string]*trigger
	responses  map[string]*responseURL
	calls      []Call
	usergroups map[string][]string
	openedDMs  map[string]bool
	fails      map[string][]failure
	subs       map[*subscriber]struct{}
}

// Call is one recorded Web API call.
type Call struct {
	Method string
	// Params holds form fields, query parameters or top-level JSON keys as
	// strings (JSON objects and arrays as their JSON text).
	Params map[string]string
	Body   []byte
	At     time.Time
	Error  string // the Slack error answered, "" when ok
}

// Ack is one acknowledgement frame received for an envelope.
type Ack struct {
	EnvelopeID string
	Payload    json.RawMessage
	At         time.Time
}

// Update is one change observed in the workspace, delivered to subscribers.
type Update struct {
	Kind    string // "message", "update", "delete", "view", "home"
	Message *Message
	View    *View
}

type failure struct {
	status     int
	retryAfter int
	err        string
}

type subscriber struct {
	ch chan Update
}

// subscriberBuffer bounds a subscriber's backlog; when full the oldest
// update is dropped so the server never blocks on a slow reader.
const subscriberBuffer = 4096

type trigger struct {
	user   string
	issued time.Time
	used   bool
	viewID string // the view the interaction came from, for views.push
}

type responseURL struct {
	user     string
	channel  string
	sourceTS string // message the action came from, "" for slash commands
	lastTS   string // last message posted through this URL or the ack
	envelope string // the slash command envelope that issued it, "" for actions
	uses     int
	issued   time.Time
}

type sentEnvelope struct {
	env     Envelope
	kind    string // "slash", "block_actions", "view_submission", "view_closed", "event"
	user    string
	channel string
	viewID  string
	respID  string
	command string
	applied bool
}

// New starts a simulated workspace listening on 127.0.0.1 on a free port.
func New(opts Options) (*Server, error) {
	if opts.BotUserID == "" {
		opts.BotUserID = "U0BOT"
	}
	if opts.PingInterval <= 0 {
		opts.PingInterval = 2 * time.Second
	}
	if opts.TriggerTTL <= 0 {
		opts.TriggerTTL = 3 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{
		opts:        opts,
		log:         opts.Logger,
		now:         opts.Now,
		botID:       opts.BotUserID,
		changed:     make(chan struct{}),
		users:       map[string]User{},
		channels:    map[string]Channel{},
		connChanged: make(chan struct{}),
		allConns:    map[*wsConn]struct{}{},
		tickets:     map[string]bool{},
		sent:        map[string]*sentEnvelope{},
		acks:        map[string][]Ack{},
		byTS:        map[string]*Message{},
		views:       map[string]*view{},
		stacks:      map[string][]string{},
		homes:       map[string]string{},
		triggers:    map[string]*trigger{},
		responses:   map[string]*responseURL{},
		usergroups:  map[string][]string{},
		openedDMs:   map[string]bool{},
		fails:       map[string][]failure{},
		subs:        map[*subscriber]struct{}{},
	}
	for _, u := range opts.Users {
		if u.ID == "" || u.ID[0] != 'U' && u.ID[0] != 'W' {
			return nil, fmt.Errorf("slacksim: user ID %q must start with U or W", u.ID)
		}
		if _, dup := s.users[u.ID]; dup {
			return nil, fmt.Errorf("slacksim: duplicate user %s", u.ID)
		}
		s.users[u.ID] = u
		s.userOrder = append(s.userOrder, u.ID)
	}
	for _, c := range opts.Channels {
		if c.ID == "" || c.ID[0] != 'C' && c.ID[0] != 'G' {
			return nil, fmt.Errorf("slacksim: channel ID %q must start with C or G", c.ID)
		}
		if _, dup := s.channels[c.ID]; dup {
			return nil, fmt.Errorf("slacksim: duplicate channel %s", c.ID)
		}
		c.Name = strings.TrimPrefix(c.Name, "#")
		s.channels[c.ID] = c
	}
	for id, members := range opts.Usergroups {
		s.usergroups[id] = append([]string(nil), members...)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("slacksim: listen: %w", err)
	}
	s.ln = ln
	s.base = "http://" + ln.Addr().String()
	s.ctx, s.cancel = context.WithCancel(context.Background())
	mux := http.NewServeMux()
	mux.HandleFunc("/api/", s.handleAPI)
	mux.HandleFunc("/link/", s.handleLink)
	mux.HandleFunc("/response/", s.handleResponseURL)
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	s.wg.Go(func() {
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("slacksim serve", slog.Any("error", err))
		}
	})
	return s, nil
}

// APIURL is the Web API base URL with the trailing slash slack-go needs.
func (s *Server) APIURL() string { return s.base + "/api/" }

// Close stops the server and closes every connection.
func (s *Server) Close() {
	s.cancel()
	_ = s.http.Close()
	s.mu.Lock()
	for c := range s.allConns {
		_ = c.ws.Close()
	}
	s.conn = nil
	for sub := range s.subs {
		delete(s.subs, sub)
		close(sub.ch)
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// Users returns the workspace's people in configuration order.
func (s *Server) Users() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]User, 0, len(s.userOrder))
	for _, id := range s.userOrder {
		out = append(out, s.users[id])
	}
	return out
}

// Channels returns the workspace's channels in configuration order.
func (s *Server) Channels() []Channel {
	return append([]Channel(nil), s.opts.Channels...)
}

// BotUserID is the bot's user ID.
func (s *Server) BotUserID() string { return s.botID }

// Calls returns the recorded Web API calls of method, or all calls when method is "".
func (s *Server) Calls(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if method == "" || c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// Usergroup returns the members of a user group.
func (s *Server) Usergroup(id string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.usergroups[id]...)
}

// FailNext makes the next n calls of method answer with HTTP status (200
// when 0), a Retry-After header of retryAfter seconds when > 0, and
// {"ok":false,"error":slackError}.
func (s *Server) FailNext(method string, n int, status int, retryAfter int, slackError string) {
	if slackError == "" {
		slackError = "internal_error"
	}
	if status == 0 {
		status = http.StatusOK
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.fails[method] = append(s.fails[method], failure{status: status, retryAfter: retryAfter, err: slackError})
	}
}

// Acks returns the ack frames received for an envelope, in arrival order.
func (s *Server) Acks(envelopeID string) []Ack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Ack(nil), s.acks[envelopeID]...)
}

// WaitAck waits for the first ack of an envelope.
func (s *Server) WaitAck(envelopeID string, timeout time.Duration) (Ack, error) {
	var got Ack
	err := s.waitFor(timeout, func() bool {
		if a := s.acks[envelopeID]; len(a) > 0 {
			got = a[0]
			return true
		}
		return false
	})
	if err != nil {
		return Ack{}, fmt.Errorf("ack of envelope %s: %w", envelopeID, err)
	}
	return got, nil
}

// Messages returns copies of every message in posting order.
func (s *Server) Messages() []*Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Message, len(s.messages))
	for i, m := range s.messages {
		out[i] = m.clone()
	}
	return out
}

// WaitMessage returns the first message, existing or future, for which pred
// is true. Messages are re-checked when they are updated or deleted.
func (s *Server) WaitMessage(timeout time.Duration, pred func(*Message) bool) (*Message, error) {
	var got *Message
	err := s.waitFor(timeout, func() bool {
		for _, m := range s.messages {
			c := m.clone()
			if pred(c) {
				got = c
				return true
			}
		}
		return false
	})
	if err != nil {
		return nil, fmt.Errorf("wait for message: %w", err)
	}
	return got, nil
}

// Views returns the open modal stack of a user, top last.
func (s *Server) Views(user string) []*View {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*View
	for _, id := range s.stacks[user] {
		out = append(out, s.views[id].snapshot())
	}
	return out
}

// Home returns the user's last published App Home view, or nil.
func (s *Server) Home(user string) *View {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.homes[user]; ok {
		return s.views[id].snapshot()
	}
	return nil
}

// WaitView returns the first view, existing or future (modal or home, open
// or closed), for which pred is true; views are re-checked when they change.
func (s *Server) WaitView(timeout time.Duration, pred func(*View) bool) (*View, error) {
	var got *View
	err := s.waitFor(timeout, func() bool {
		for _, id := range s.viewOrder {
			v := s.views[id].snapshot()
			if pred(v) {
				got = v
				return true
			}
		}
		return false
	})
	if err != nil {
		return nil, fmt.Errorf("wait for view: %w", err)
	}
	return got, nil
}

// Subscribe delivers every message post, update and delete, every view
// change and every home publish, in order. The returned func unsubscribes.
// The channel is buffered; when a reader falls far behind the oldest updates
// are dropped rather than blocking the server.
func (s *Server) Subscribe() (<-chan Update, func()) {
	sub := &subscriber{ch: make(chan Update, subscriberBuffer)}
	s.mu.Lock()
	s.subs[sub] = struct{}{}
	s.mu.Unlock()
	var once sync.Once
	return sub.ch, func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if _, ok := s.subs[sub]; ok {
				delete(s.subs, sub)
				close(sub.ch)
			}
		})
	}
}

// errTimeout is returned by the Wait helpers.
var errTimeout = errors.New("timed out")

// waitFor evaluates check under s.mu until it is true, re-evaluating on every
// state change, for at most timeout.
func (s *Server) waitFor(timeout time.Duration, check func() bool) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		ok := check()
		ch := s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-deadline.C:
			return errTimeout
		case <-s.ctx.Done():
			return errors.New("server closed")
		}
	}
}

// notifyLocked wakes waiters and publishes an update; s.mu must be held.
func (s *Server) notifyLocked(u *Update) {
	close(s.changed)
	s.changed = make(chan struct{})
	if u == nil {
		return
	}
	for sub := range s.subs {
		for {
			select {
			case sub.ch <- *u:
			default:
				select {
				case <-sub.ch: // drop the oldest
				default:
				}
				continue
			}
			break
		}
	}
}

func (s *Server) emitMessageLocked(kind string, m *Message) {
	s.notifyLocked(&Update{Kind: kind, Message: m.clone()})
}

func (s *Server) emitViewLocked(v *view) {
	kind := "view"
	if v.Type == "home" {
		kind = "home"
	}
	s.notifyLocked(&Update{Kind: kind, View: v.snapshot()})
}

// nextTSLocked returns a unique, increasing Slack timestamp.
func (s *Server) nextTSLocked() string {
	us := s.now().UnixMicro()
	if us <= s.lastTS {
		us = s.lastTS + 1
	}
	s.lastTS = us
	return fmt.Sprintf("%d.%06d", us/1e6, us%1e6)
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newEnvelopeID returns a uuid-shaped random ID, as Slack's envelope IDs are.
func newEnvelopeID() string {
	h := randHex(16)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

func randID(prefix string, n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
	}
	return prefix + string(b)
}

// dmChannel is the DM channel ID the simulator uses for a user.
func dmChannel(userID string) string { return "D" + userID[1:] }

// userOfDM maps a DM channel back to its user, "" when unknown.
func (s *Server) userOfDMLocked(ch string) string {
	if !strings.HasPrefix(ch, "D") || len(ch) < 2 {
		return ""
	}
	for _, prefix := range []string{"U", "W"} {
		if _, ok := s.users[prefix+ch[1:]]; ok {
			return prefix + ch[1:]
		}
	}
	return ""
}

// resolveChannelLocked accepts a channel ID, a #name or name, a DM channel or
// a user ID (which means the user's DM), and returns the channel ID.
func (s *Server) resolveChannelLocked(ch string) (string, bool) {
	if ch == "" {
		return "", false
	}
	if _, ok := s.channels[ch]; ok {
		return ch, true
	}
	if u := s.userOfDMLocked(ch); u != "" {
		return ch, true
	}
	if _, ok := s.users[ch]; ok {
		return dmChannel(ch), true
	}
	name := strings.TrimPrefix(ch, "#")
	for _, c := range s.opts.Channels {
		if strings.TrimPrefix(c.Name, "#") == name {
			return c.ID, true
		}
	}
	return "", false
}

// ResolveChannel maps a channel ID, name ("#incidents" or "incidents"), DM
// channel or user ID to a channel ID.
func (s *Server) ResolveChannel(ch string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.resolveChannelLocked(ch)
}

func (s *Server) channelNameLocked(id string) string {
	if c, ok := s.channels[id]; ok {
		return c.Name
	}
	if strings.HasPrefix(id, "D") {
		return "directmessage"
	}
	return id
}

func (s *Server) userObjectLocked(id string) map[string]any {
	u := s.users[id]
	return map[string]any{"id": id, "username": u.Name, "name": u.Name, "team_id": TeamID}
}
