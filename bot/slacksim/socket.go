package slacksim

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// maxAckBytes is the frame size at which Slack closes the socket with 1009
// ("Max frame length of 20480 has been exceeded."); slack-go refuses to send
// such acks itself (reference/slack.md §1.4).
const maxAckBytes = 20480

// connectWait is how long an envelope waits for a live connection.
const connectWait = 5 * time.Second

// Envelope is a Socket Mode envelope as it travels on the wire.
type Envelope struct {
	EnvelopeID             string          `json:"envelope_id"`
	Type                   string          `json:"type"`
	AcceptsResponsePayload bool            `json:"accepts_response_payload"`
	RetryAttempt           int             `json:"retry_attempt"`
	RetryReason            string          `json:"retry_reason"`
	Payload                json.RawMessage `json:"payload"`
}

// MarshalJSON writes retry_attempt and retry_reason only for events_api
// envelopes and redeliveries, as Slack does.
func (e Envelope) MarshalJSON() ([]byte, error) {
	m := map[string]any{
		"envelope_id":              e.EnvelopeID,
		"type":                     e.Type,
		"accepts_response_payload": e.AcceptsResponsePayload,
		"payload":                  e.Payload,
	}
	if e.Payload == nil {
		m["payload"] = json.RawMessage("{}")
	}
	if e.Type == "events_api" || e.RetryAttempt > 0 {
		m["retry_attempt"] = e.RetryAttempt
		m["retry_reason"] = e.RetryReason
	}
	return json.Marshal(m)
}

type wsConn struct {
	ws      *websocket.Conn
	writeMu sync.Mutex
	done    chan struct{}
	once    sync.Once
}

func (c *wsConn) write(data []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return c.ws.WriteMessage(websocket.TextMessage, data)
}

func (c *wsConn) close() {
	c.once.Do(func() {
		close(c.done)
		_ = c.ws.Close()
	})
}

var upgrader = websocket.Upgrader{
	// slack-go always sends Origin: https://api.slack.com; gorilla's default
	// check would reject it (reference/slack.md §0.4).
	CheckOrigin: func(*http.Request) bool { return true },
}

func (s *Server) handleLink(w http.ResponseWriter, r *http.Request) {
	ticket := r.URL.Query().Get("ticket")
	s.mu.Lock()
	ok := s.tickets[ticket]
	delete(s.tickets, ticket)
	s.mu.Unlock()
	if !ok {
		http.Error(w, "invalid ticket", http.StatusUnauthorized)
		return
	}
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		s.log.Warn("slacksim upgrade", slog.Any("error", err))
		return
	}
	c := &wsConn{ws: ws, done: make(chan struct{})}
	hello, _ := json.Marshal(map[string]any{
		"type":            "hello",
		"num_connections": 1,
		"debug_info":      map[string]any{"host": "applink-sim", "build_number": 10, "approximate_connection_time": 18060},
		"connection_info": map[string]any{"app_id": AppID},
	})
	if err := c.write(hello); err != nil {
		c.close()
		return
	}
	_ = ws.WriteControl(websocket.PingMessage, []byte("sim"), time.Now().Add(time.Second))

	s.mu.Lock()
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		c.close()
		return
	}
	old := s.conn
	if s.opts.MultiConnection {
		s.live = append(s.live, c)
		old = nil
	}
	s.conn = c
	s.allConns[c] = struct{}{}
	s.connections++
	close(s.connChanged)
	s.connChanged = make(chan struct{})
	s.notifyLocked(nil)
	// Started under s.mu after the ctx check so Close never races wg.Add.
	s.wg.Go(func() { s.pingLoop(c) })
	s.wg.Go(func() { s.readLoop(c) })
	s.mu.Unlock()
	if old != nil {
		old.close()
	}
	s.log.Debug("slacksim connected")
}

func (s *Server) pingLoop(c *wsConn) {
	t := time.NewTicker(s.opts.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-s.ctx.Done():
			return
		case <-t.C:
			if err := c.ws.WriteControl(websocket.PingMessage, []byte("sim"), time.Now().Add(time.Second)); err != nil {
				return
			}
		}
	}
}

func (s *Server) readLoop(c *wsConn) {
	defer func() {
		c.close()
		s.mu.Lock()
		delete(s.allConns, c)
		s.forgetLocked(c)
		s.mu.Unlock()
	}()
	for {
		typ, data, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		if typ != websocket.TextMessage {
			continue
		}
		if len(data) >= maxAckBytes {
			s.log.Warn("slacksim ack too large", slog.Int("bytes", len(data)))
			c.writeMu.Lock()
			_ = c.ws.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseMessageTooBig, "Max frame length of 20480 has been exceeded."),
				time.Now().Add(time.Second))
			c.writeMu.Unlock()
			return
		}
		var ack struct {
			EnvelopeID string          `json:"envelope_id"`
			Payload    json.RawMessage `json:"payload"`
		}
		if err := json.Unmarshal(data, &ack); err != nil || ack.EnvelopeID == "" {
			s.log.Warn("slacksim unexpected frame", slog.Int("bytes", len(data)))
			continue
		}
		s.handleAck(ack.EnvelopeID, ack.Payload)
	}
}

// waitConn returns the live connection, waiting up to connectWait for one.
func (s *Server) waitConn() (*wsConn, error) {
	deadline := time.NewTimer(connectWait)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		c, ch := s.conn, s.connChanged
		if n := len(s.live); n > 0 {
			c = s.live[s.rr%n]
			s.rr++
		}
		s.mu.Unlock()
		if c != nil {
			return c, nil
		}
		select {
		case <-ch:
		case <-deadline.C:
			return nil, errors.New("slacksim: no Socket Mode connection within 5s")
		case <-s.ctx.Done():
			return nil, errors.New("slacksim: server closed")
		}
	}
}

// Send writes a raw envelope on the live socket.
func (s *Server) Send(env Envelope) error {
	if env.EnvelopeID == "" {
		env.EnvelopeID = newEnvelopeID()
	}
	s.mu.Lock()
	if se, ok := s.sent[env.EnvelopeID]; ok {
		se.env = env
	} else {
		s.sent[env.EnvelopeID] = &sentEnvelope{env: env, kind: "raw"}
	}
	s.mu.Unlock()
	return s.write(env)
}

func (s *Server) write(env Envelope) error {
	data, err := json.Marshal(env)
	if err != nil {
		return fmt.Errorf("slacksim: encode envelope: %w", err)
	}
	c, err := s.waitConn()
	if err != nil {
		return err
	}
	if err := c.write(data); err != nil {
		return fmt.Errorf("slacksim: write envelope %s: %w", env.EnvelopeID, err)
	}
	s.log.Debug("slacksim envelope sent", slog.String("envelope_id", env.EnvelopeID), slog.String("type", env.Type))
	return nil
}

// dispatch records and sends an envelope built by one of the acting helpers.
func (s *Server) dispatch(se *sentEnvelope) (string, error) {
	s.mu.Lock()
	s.sent[se.env.EnvelopeID] = se
	s.mu.Unlock()
	if err := s.write(se.env); err != nil {
		return "", err
	}
	return se.env.EnvelopeID, nil
}

// Redeliver re-sends a previously sent envelope with the same envelope_id,
// retry_attempt one higher and retry_reason "timeout".
func (s *Server) Redeliver(envelopeID string) error {
	s.mu.Lock()
	se, ok := s.sent[envelopeID]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("slacksim: no envelope %s was sent", envelopeID)
	}
	se.env.RetryAttempt++
	se.env.RetryReason = "timeout"
	env := se.env
	s.mu.Unlock()
	return s.write(env)
}

// Disconnect sends a disconnect envelope and closes the socket about 50ms
// later with code 1000. No new envelopes go to that socket meanwhile.
func (s *Server) Disconnect(reason string) {
	s.mu.Lock()
	c := s.conn
	s.forgetLocked(c)
	s.mu.Unlock()
	if c == nil {
		return
	}
	msg, _ := json.Marshal(map[string]any{"type": "disconnect", "reason": reason, "debug_info": map[string]any{"host": "applink-sim"}})
	_ = c.write(msg)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx.Err() != nil {
		c.close()
		return
	}
	s.wg.Go(func() {
		select {
		case <-time.After(50 * time.Millisecond):
		case <-c.done:
			return
		case <-s.ctx.Done():
		}
		c.writeMu.Lock()
		_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		c.writeMu.Unlock()
		c.close()
	})
}

// DropConnection closes the TCP connection abruptly, without a close frame.
func (s *Server) DropConnection() {
	s.mu.Lock()
	c := s.conn
	s.forgetLocked(c)
	s.mu.Unlock()
	if c != nil {
		_ = c.ws.NetConn().Close()
		c.close()
	}
}

// forgetLocked stops sending envelopes to c; the newest remaining
// connection (MultiConnection) becomes the one Disconnect and
// DropConnection act on.
func (s *Server) forgetLocked(c *wsConn) {
	if c == nil {
		return
	}
	for i, l := range s.live {
		if l == c {
			s.live = append(s.live[:i], s.live[i+1:]...)
			break
		}
	}
	if s.conn == c {
		s.conn = nil
		if n := len(s.live); n > 0 {
			s.conn = s.live[n-1]
		}
	}
}

// Live is the number of open connections envelopes are sent to.
func (s *Server) Live() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.MultiConnection {
		return len(s.live)
	}
	if s.conn != nil {
		return 1
	}
	return 0
}

// Connections is the number of successful WebSocket upgrades so far.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connections
}

// handleAck records an ack and applies its payload once, as Slack does.
func (s *Server) handleAck(id string, payload json.RawMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.acks[id] = append(s.acks[id], Ack{EnvelopeID: id, Payload: payload, At: s.now()})
	se, ok := s.sent[id]
	if !ok || se.applied {
		s.notifyLocked(nil)
		return
	}
	se.applied = true
	switch se.kind {
	case "slash":
		s.applySlashAckLocked(se, payload)
	case "view_submission":
		s.applySubmissionAckLocked(se, payload)
	}
	s.notifyLocked(nil)
}

// applySlashAckLocked shows a slash command's ack payload like a slash
// command HTTP response: ephemeral by default, in_channel on request.
func (s *Server) applySlashAckLocked(se *sentEnvelope, payload json.RawMessage) {
	if len(payload) == 0 || string(payload) == "null" {
		return
	}
	var resp responsePayload
	if err := json.Unmarshal(payload, &resp); err != nil {
		s.postSlackbotLocked(se, fmt.Sprintf("%s failed: the app's response could not be read", se.command))
		return
	}
	if resp.Text == "" && len(resp.Blocks) == 0 {
		return
	}
	blocks, errs := s.prepareMessageBlocks(resp.Blocks)
	if errs != nil {
		s.log.Warn("slacksim invalid blocks in ack", slog.String("envelope_id", se.env.EnvelopeID), slog.Any("errors", errs))
		s.postSlackbotLocked(se, fmt.Sprintf("%s failed with the error \"invalid_blocks\"", se.command))
		return
	}
	m := &Message{Channel: se.channel, User: s.botID, Text: truncate(resp.Text), Blocks: blocks}
	if resp.ResponseType != "in_channel" {
		m.Ephemeral, m.EphemeralTo = true, se.user
	}
	s.addMessageLocked(m)
	if r, ok := s.responses[se.respID]; ok {
		r.lastTS = m.TS
	}
}

func (s *Server) postSlackbotLocked(se *sentEnvelope, text string) {
	s.addMessageLocked(&Message{Channel: se.channel, User: "USLACKBOT", Text: text, Ephemeral: true, EphemeralTo: se.user})
}

// applySubmissionAckLocked applies a view_submission response_action.
func (s *Server) applySubmissionAckLocked(se *sentEnvelope, payload json.RawMessage) {
	v, ok := s.views[se.viewID]
	if !ok || v.Closed {
		return
	}
	var resp struct {
		ResponseAction string            `json:"response_action"`
		Errors         map[string]string `json:"errors"`
		View           json.RawMessage   `json:"view"`
	}
	if len(payload) > 0 && string(payload) != "null" {
		if err := json.Unmarshal(payload, &resp); err != nil {
			s.log.Warn("slacksim bad view_submission ack", slog.Any("error", err))
			return
		}
	}
	switch resp.ResponseAction {
	case "errors":
		v.Errors = resp.Errors
		s.refreshLocked(v)
		s.emitViewLocked(v)
	case "update":
		def, errs := parseView(resp.View, "modal", "/view")
		if errs != nil {
			s.log.Warn("slacksim invalid view in update ack", slog.Any("errors", errs))
			return
		}
		s.replaceViewLocked(v, def)
		s.emitViewLocked(v)
	case "push":
		def, errs := parseView(resp.View, "modal", "/view")
		if errs != nil {
			s.log.Warn("slacksim invalid view in push ack", slog.Any("errors", errs))
			return
		}
		if len(s.stacks[se.user]) >= 3 {
			s.log.Warn("slacksim push ack over the stack limit")
			return
		}
		s.pushViewLocked(se.user, def)
	case "clear":
		s.closeStackLocked(se.user, 0)
	default:
		s.closeViewLocked(se.user, v.ID)
	}
}
