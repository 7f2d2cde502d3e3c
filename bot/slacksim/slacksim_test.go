package slacksim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
	"github.com/stretchr/testify/require"
)

const wait = 5 * time.Second

var testUsers = []User{
	{ID: "U0ENGA", Name: "enga", RealName: "Engineer A", Email: "a@example.com", TZ: "Europe/Berlin"},
	{ID: "U0ENGB", Name: "engb", RealName: "Engineer B", Email: "b@example.com", TZ: "America/New_York"},
}

var testChannels = []Channel{{ID: "C0INCIDENTS", Name: "incidents"}, {ID: "C0ENGINEERING", Name: "engineering"}}

func newSim(t *testing.T, mod ...func(*Options)) *Server {
	t.Helper()
	o := Options{Users: testUsers, Channels: testChannels, PingInterval: 200 * time.Millisecond}
	for _, m := range mod {
		m(&o)
	}
	s, err := New(o)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

func apiClient(s *Server) *slack.Client {
	return slack.New(BotToken, slack.OptionAPIURL(s.APIURL()), slack.OptionAppLevelToken(AppToken))
}

// bot is a tiny slack-go Socket Mode app driven by a test handler.
type bot struct {
	api    *slack.Client
	client *socketmode.Client
	mu     sync.Mutex
	events []socketmode.Event
	seen   chan socketmode.Event
}

func startBot(t *testing.T, s *Server, handle func(b *bot, evt socketmode.Event)) *bot {
	t.Helper()
	api := apiClient(s)
	b := &bot{api: api, client: socketmode.New(api, socketmode.OptionPingInterval(2*time.Second)), seen: make(chan socketmode.Event, 100)}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = b.client.RunContext(ctx) })
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case evt := <-b.client.Events:
				b.mu.Lock()
				b.events = append(b.events, evt)
				b.mu.Unlock()
				if handle != nil && evt.Request != nil {
					handle(b, evt)
				}
				select {
				case b.seen <- evt:
				default:
				}
			}
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	return b
}

func (b *bot) ack(t *testing.T, evt socketmode.Event, payload any) {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var err error
	if payload == nil {
		err = b.client.AckCtx(ctx, evt.Request.EnvelopeID, nil)
	} else {
		err = b.client.AckCtx(ctx, evt.Request.EnvelopeID, payload)
	}
	if err != nil {
		t.Errorf("ack: %v", err)
	}
}

func (b *bot) waitEvent(t *testing.T, typ socketmode.EventType) socketmode.Event {
	t.Helper()
	deadline := time.After(wait)
	for {
		b.mu.Lock()
		for _, e := range b.events {
			if e.Type == typ {
				b.mu.Unlock()
				return e
			}
		}
		b.mu.Unlock()
		select {
		case <-b.seen:
		case <-deadline:
			t.Fatalf("no %s event", typ)
		}
	}
}

func TestSlashCommandAckPayloadBecomesEphemeral(t *testing.T) {
	t.Parallel()
	s := newSim(t)
	got := make(chan slack.SlashCommand, 1)
	b := startBot(t, s, func(b *bot, evt socketmode.Event) {
		if evt.Type == socketmode.EventTypeSlashCommand {
			cmd := evt.Data.(slack.SlashCommand)
			got <- cmd
			b.ack(t, evt, map[string]any{"text": "Usage: /oncall swap @eng"})
		}
	})
	b.waitEvent(t, socketmode.EventTypeHello)

	id, err := s.SlashCommand("U0ENGA", "#incidents", "/oncall", "help me")
	require.NoError(t, err)
	cmd := <-got
	require.Equal(t, "/oncall", cmd.Command)
	require.Equal(t, "help me", cmd.Text)
	require.Equal(t, "C0INCIDENTS", cmd.ChannelID)
	require.Equal(t, "incidents", cmd.ChannelName)
	require.Equal(t, "U0ENGA", cmd.UserID)
	require.NotEmpty(t, cmd.TriggerID)
	require.True(t, strings.HasPrefix(cmd.ResponseURL, "http://127.0.0.1:"))

	ack, err := s.WaitAck(id, wait)
	require.NoError(t, err)
	require.JSONEq(t, `{"text":"Usage: /oncall swap @eng"}`, string(ack.Payload))
	m, err := s.WaitMessage(wait, func(m *Message) bool { return m.Ephemeral })
	require.NoError(t, err)
	require.Equal(t, "U0ENGA", m.EphemeralTo)
	require.Equal(t, "C0INCIDENTS", m.Channel)
	require.Equal(t, "Usage: /oncall swap @eng", m.Text)
	require.Equal(t, 1, s.Connections())
}

func TestEnvelopeWireShapes(t *testing.T) {
	t.Parallel()
	s := newSim(t)
	frames := make(chan map[string]any, 10)
	ws := dialRaw(t, s)
	go func() {
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				close(frames)
				return
			}
			var m map[string]any
			if json.Unmarshal(data, &m) == nil {
				frames <- m
			}
		}
	}()
	hello := <-frames
	require.Equal(t, "hello", hello["type"])
	require.Equal(t, AppID, hello["connection_info"].(map[string]any)["app_id"])

	_, err := s.SlashCommand("U0ENGA", "C0INCIDENTS", "/oncall", "")
	require.NoError(t, err)
	env := <-frames
	require.Equal(t, "slash_commands", env["type"])
	require.Equal(t, true, env["accepts_response_payload"])
	require.NotContains(t, env, "retry_attempt")
	require.Equal(t, "false", env["payload"].(map[string]any)["is_enterprise_install"])

	_, err = s.OpenHome("U0ENGB")
	require.NoError(t, err)
	env = <-frames
	require.Equal(t, "events_api", env["type"])
	require.Equal(t, float64(0), env["retry_attempt"])
	require.Equal(t, "", env["retry_reason"])
	p := env["payload"].(map[string]any)
	require.Equal(t, "event_callback", p["type"])
	require.NotEmpty(t, p["event_id"])
	require.Equal(t, "app_home_opened", p["event"].(map[string]any)["type"])
}

// dialRaw opens a Socket Mode connection with a bare gorilla client.
func dialRaw(t *testing.T, s *Server) *websocket.Conn {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.APIURL()+"apps.connections.open", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+AppToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var open struct {
		OK  bool   `json:"ok"`
		URL string `json:"url"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&open))
	require.True(t, open.OK)
	ws, _, err := websocket.DefaultDialer.Dial(open.URL+"&debug_reconnects=true", http.Header{"Origin": {"https://api.slack.com"}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = ws.Close() })
	return ws
}

func TestOversizedAckClosesWith1009(t *testing.T) {
	t.Parallel()
	s := newSim(t)
	ws := dialRaw(t, s)
	_, _, err := ws.ReadMessage() // hello
	require.NoError(t, err)
	big := `{"envelope_id":"x","payload":{"text":"` + strings.Repeat("a", maxAckBytes) + `"}}`
	require.NoError(t, ws.WriteMessage(websocket.TextMessage, []byte(big)))
	_ = ws.SetReadDeadline(time.Now().Add(wait))
	for {
		_, _, err = ws.ReadMessage()
		if err != nil {
			break
		}
	}
	var ce *websocket.CloseError
	require.True(t, errors.As(err, &ce), "got %v", err)
	require.Equal(t, websocket.CloseMessageTooBig, ce.Code)
}

func TestWebAPI(t *testing.T) {
	t.Parallel()
	s := newSim(t)
	api := apiClient(s)

	auth, err := api.AuthTest()
	require.NoError(t, err)
	require.Equal(t, "U0BOT", auth.UserID)

	blocks := []slack.Block{
		slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", "*P2* High error rate", false, false), nil, nil),
		slack.NewActionBlock("incident_actions",
			slack.NewButtonBlockElement("incident.ack", "INC-1", slack.NewTextBlockObject("plain_text", "Acknowledge", false, false)).WithStyle(slack.StylePrimary),
			slack.NewButtonBlockElement("incident.resolve", "INC-1", slack.NewTextBlockObject("plain_text", "Resolve", false, false))),
	}
	ch, ts, err := api.PostMessage("C0INCIDENTS", slack.MsgOptionText("P2 High error rate", false), slack.MsgOptionBlocks(blocks...))
	require.NoError(t, err)
	require.Equal(t, "C0INCIDENTS", ch)
	msgs := s.Messages()
	require.Len(t, msgs, 1)
	require.Equal(t, ts, msgs[0].TS)
	require.Equal(t, "U0BOT", msgs[0].User)
	require.Equal(t, []Button{
		{ActionID: "incident.ack", BlockID: "incident_actions", Value: "INC-1", Text: "Acknowledge", Style: "primary"},
		{ActionID: "incident.resolve", BlockID: "incident_actions", Value: "INC-1", Text: "Resolve"},
	}, msgs[0].Buttons())
	require.Contains(t, msgs[0].AllText(), "*P2* High error rate")
	require.NotEmpty(t, s.Calls("chat.postMessage")[0].Params["blocks"])

	// Thread reply and DM by user ID.
	_, _, err = api.PostMessage("C0INCIDENTS", slack.MsgOptionText("Step 1", false), slack.MsgOptionTS(ts))
	require.NoError(t, err)
	dm, _, err := api.PostMessage("U0ENGB", slack.MsgOptionText("You are on call", false))
	require.NoError(t, err)
	require.Equal(t, "D0ENGB", dm)
	m, err := s.WaitMessage(wait, func(m *Message) bool { return m.DMTo == "U0ENGB" })
	require.NoError(t, err)
	require.Equal(t, "You are on call", m.Text)
	reply, err := s.WaitMessage(wait, func(m *Message) bool { return m.Text == "Step 1" })
	require.NoError(t, err)
	require.Equal(t, ts, reply.ThreadTS)

	_, err = api.PostEphemeral("C0INCIDENTS", "U0ENGA", slack.MsgOptionText("only you", false))
	require.NoError(t, err)
	eph, err := s.WaitMessage(wait, func(m *Message) bool { return m.Ephemeral })
	require.NoError(t, err)
	require.Equal(t, "U0ENGA", eph.EphemeralTo)

	_, _, _, err = api.UpdateMessage("C0INCIDENTS", ts, slack.MsgOptionText("P2 acknowledged", false))
	require.NoError(t, err)
	up, err := s.WaitMessage(wait, func(m *Message) bool { return m.TS == ts })
	require.NoError(t, err)
	require.Equal(t, 1, up.Updates)
	require.Equal(t, "P2 acknowledged", up.Text)
	require.Len(t, up.Buttons(), 2, "blocks kept when the update sends none")

	link, err := api.GetPermalink(&slack.PermalinkParameters{Channel: "C0INCIDENTS", Ts: ts})
	require.NoError(t, err)
	require.Contains(t, link, "/archives/C0INCIDENTS/p")
	require.Len(t, s.Calls("chat.getPermalink"), 1)

	_, _, err = api.PostMessage("C0NOPE", slack.MsgOptionText("x", false))
	require.EqualError(t, err, "channel_not_found")
	_, _, err = api.PostMessage("C0INCIDENTS")
	require.EqualError(t, err, "no_text")

	dmc, _, _, err := api.OpenConversation(&slack.OpenConversationParameters{Users: []string{"U0ENGA"}})
	require.NoError(t, err)
	require.Equal(t, "D0ENGA", dmc.ID)

	u, err := api.GetUserInfo("U0ENGB")
	require.NoError(t, err)
	require.Equal(t, "b@example.com", u.Profile.Email)
	require.Equal(t, "America/New_York", u.TZ)
	_, err = api.GetUserByEmail("nobody@example.com")
	require.EqualError(t, err, "users_not_found")
	byMail, err := api.GetUserByEmail("A@example.com")
	require.NoError(t, err)
	require.Equal(t, "U0ENGA", byMail.ID)

	_, err = api.UpdateUserGroupMembers("S0ONCALL", "U0ENGA,U0ENGB")
	require.NoError(t, err)
	require.Equal(t, []string{"U0ENGA", "U0ENGB"}, s.Usergroup("S0ONCALL"))
	members, err := api.GetUserGroupMembers("S0ONCALL")
	require.NoError(t, err)
	require.Equal(t, []string{"U0ENGA", "U0ENGB"}, members)

	_, _, err = api.DeleteMessage("C0INCIDENTS", ts)
	require.NoError(t, err)
	del, err := s.WaitMessage(wait, func(m *Message) bool { return m.TS == ts })
	require.NoError(t, err)
	require.True(t, del.Deleted)

	bad := slack.New("xoxb-wrong", slack.OptionAPIURL(s.APIURL()))
	_, err = bad.AuthTest()
	require.EqualError(t, err, "invalid_auth")
	for _, c := range s.Calls("") {
		require.NotContains(t, c.Params, "token")
	}
}

func TestFailNextRateLimit(t *testing.T) {
	t.Parallel()
	s := newSim(t)
	api := apiClient(s)
	s.FailNext("chat.postMessage", 1, http.StatusTooManyRequests, 3, "ratelimited")
	_, _, err := api.PostMessage("C0INCIDENTS", slack.MsgOptionText("x", false))
	var rl *slack.RateLimitedError
	require.True(t, errors.As(err, &rl), "got %v", err)
	require.Equal(t, 3*time.Second, rl.RetryAfter)
	_, _, err = api.PostMessage("C0INCIDENTS", slack.MsgOptionText("x", false))
	require.NoError(t, err)
	calls := s.Calls("chat.postMessage")
	require.Len(t, calls, 2)
	require.Equal(t, "ratelimited", calls[0].Error)
	require.Empty(t, calls[1].Error)
}

func TestClickResponseURLAndTriggers(t *testing.T) {
	t.Parallel()
	var clock struct {
		sync.Mutex
		now time.Time
	}
	clock.now = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	now := func() time.Time { clock.Lock(); defer clock.Unlock(); return clock.now }
	advance := func(d time.Duration) { clock.Lock(); clock.now = clock.now.Add(d); clock.Unlock() }
	s := newSim(t, func(o *Options) { o.Now = now })

	actions := make(chan slack.InteractionCallback, 4)
	b := startBot(t, s, func(b *bot, evt socketmode.Event) {
		if evt.Type == socketmode.EventTypeInteractive {
			actions <- evt.Data.(slack.InteractionCallback)
			b.ack(t, evt, nil)
		}
	})
	b.waitEvent(t, socketmode.EventTypeHello)
	_, ts, err := b.api.PostMessage("C0INCIDENTS", slack.MsgOptionText("INC-1", false), slack.MsgOptionBlocks(
		slack.NewActionBlock("", slack.NewButtonBlockElement("incident.ack", "INC-1", slack.NewTextBlockObject("plain_text", "Acknowledge", false, false)))))
	require.NoError(t, err)
	msg, err := s.WaitMessage(wait, func(m *Message) bool { return m.TS == ts })
	require.NoError(t, err)

	_, err = s.Click("U0ENGA", msg, "nope")
	require.Error(t, err)
	id, err := s.Click("U0ENGB", msg, "incident.ack")
	require.NoError(t, err)
	cb := <-actions
	require.Equal(t, slack.InteractionTypeBlockActions, cb.Type)
	require.Len(t, cb.ActionCallback.BlockActions, 1)
	act := cb.ActionCallback.BlockActions[0]
	require.Equal(t, "incident.ack", act.ActionID)
	require.NotEmpty(t, act.BlockID, "Slack assigns a block_id when the app gave none")
	require.Equal(t, "INC-1", act.Value)
	require.Equal(t, "U0ENGB", cb.User.ID)
	require.Equal(t, ts, cb.Container.MessageTs)
	require.Equal(t, ts, cb.Message.Timestamp)
	require.Equal(t, "C0INCIDENTS", cb.Channel.ID)
	_, err = s.WaitAck(id, wait)
	require.NoError(t, err)

	// response_url replace_original edits the clicked message.
	body := bytes.NewBufferString(`{"replace_original":true,"text":"Acknowledged by <@U0ENGB>"}`)
	resp, err := http.Post(cb.ResponseURL, "application/json", body)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	up, err := s.WaitMessage(wait, func(m *Message) bool { return m.TS == ts && m.Updates == 1 })
	require.NoError(t, err)
	require.Equal(t, "Acknowledged by <@U0ENGB>", up.Text)
	require.Empty(t, up.Buttons())
	// A plain response_url post is ephemeral to the clicker.
	resp, err = http.Post(cb.ResponseURL, "application/json", bytes.NewBufferString(`{"text":"done"}`))
	require.NoError(t, err)
	resp.Body.Close()
	eph, err := s.WaitMessage(wait, func(m *Message) bool { return m.Text == "done" })
	require.NoError(t, err)
	require.True(t, eph.Ephemeral)
	require.Equal(t, "U0ENGB", eph.EphemeralTo)

	modal := slack.ModalViewRequest{Type: slack.VTModal, Title: slack.NewTextBlockObject("plain_text", "Handoff", false, false),
		Blocks: slack.Blocks{BlockSet: []slack.Block{slack.NewSectionBlock(slack.NewTextBlockObject("plain_text", "hi", false, false), nil, nil)}}}
	vr, err := b.api.OpenView(cb.TriggerID, modal)
	require.NoError(t, err)
	require.NotEmpty(t, vr.ID)
	require.Equal(t, "U0ENGB", s.Views("U0ENGB")[0].User)
	_, err = b.api.OpenView(cb.TriggerID, modal)
	require.EqualError(t, err, "exchanged_trigger_id")
	_, err = b.api.OpenView("123.456.bogus", modal)
	require.EqualError(t, err, "invalid_trigger_id")

	_, err = s.Click("U0ENGB", up, "incident.ack")
	require.Error(t, err, "the button was replaced away")
	_, ts2, err := b.api.PostMessage("C0INCIDENTS", slack.MsgOptionText("INC-2", false), slack.MsgOptionBlocks(
		slack.NewActionBlock("a", slack.NewButtonBlockElement("incident.ack", "INC-2", slack.NewTextBlockObject("plain_text", "Acknowledge", false, false)))))
	require.NoError(t, err)
	_, err = s.Click("U0ENGA", &Message{Channel: "C0INCIDENTS", TS: ts2}, "incident.ack")
	require.NoError(t, err)
	cb2 := <-actions
	advance(4 * time.Second)
	_, err = b.api.OpenView(cb2.TriggerID, modal)
	require.EqualError(t, err, "expired_trigger_id")
}

func TestBlockKitRejections(t *testing.T) {
	t.Parallel()
	s := newSim(t)
	section := func(text string) string {
		return `{"type":"section","text":{"type":"mrkdwn","text":` + quote(text) + `}}`
	}
	repeat := func(item string, n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = item
		}
		return strings.Join(parts, ",")
	}
	button := func(id, text string) string {
		return `{"type":"button","action_id":"` + id + `","text":{"type":"plain_text","text":` + quote(text) + `}}`
	}
	option := func(v string) string { return `{"text":{"type":"plain_text","text":"o"},"value":` + quote(v) + `}` }
	modal := func(extra, blocks string) string {
		return `{"type":"modal","title":{"type":"plain_text","text":"T"}` + extra + `,"blocks":[` + blocks + `]}`
	}
	input := `{"type":"input","block_id":"b","label":{"type":"plain_text","text":"L"},"element":{"type":"plain_text_input","action_id":"a"}}`
	tests := []struct {
		name, blocks, view, code, pointer string
	}{
		{name: "51 blocks", blocks: "[" + repeat(`{"type":"divider"}`, 51) + "]", code: "invalid_blocks", pointer: "/blocks]"},
		{name: "empty text", blocks: "[" + section("") + "]", code: "invalid_blocks", pointer: "/blocks/0/text/text"},
		{name: "section text 3001", blocks: "[" + section(strings.Repeat("x", 3001)) + "]", code: "invalid_blocks", pointer: "/blocks/0/text/text"},
		{name: "11 fields", blocks: `[{"type":"section","fields":[` + repeat(`{"type":"mrkdwn","text":"f"}`, 11) + `]}]`, code: "invalid_blocks", pointer: "/blocks/0/fields"},
		{name: "field 2001", blocks: `[{"type":"section","fields":[{"type":"mrkdwn","text":"` + strings.Repeat("f", 2001) + `"}]}]`, code: "invalid_blocks", pointer: "/blocks/0/fields/0/text"},
		{name: "header 151", blocks: `[{"type":"header","text":{"type":"plain_text","text":"` + strings.Repeat("h", 151) + `"}}]`, code: "invalid_blocks", pointer: "/blocks/0/text/text"},
		{name: "header mrkdwn", blocks: `[{"type":"header","text":{"type":"mrkdwn","text":"h"}}]`, code: "invalid_blocks", pointer: "/blocks/0/text/type"},
		{name: "26 actions", blocks: `[{"type":"actions","elements":[` + repeat(button("x", "b"), 26) + `]}]`, code: "invalid_blocks", pointer: "/blocks/0/elements]"},
		{name: "11 context", blocks: `[{"type":"context","elements":[` + repeat(`{"type":"mrkdwn","text":"c"}`, 11) + `]}]`, code: "invalid_blocks", pointer: "/blocks/0/elements]"},
		{name: "button text 76", blocks: `[{"type":"actions","elements":[` + button("a", strings.Repeat("b", 76)) + `]}]`, code: "invalid_blocks", pointer: "/blocks/0/elements/0/text/text"},
		{name: "button value 2001", blocks: `[{"type":"actions","elements":[{"type":"button","action_id":"a","text":{"type":"plain_text","text":"b"},"value":"` + strings.Repeat("v", 2001) + `"}]}]`, code: "invalid_blocks", pointer: "/elements/0/value"},
		{name: "button url 3001", blocks: `[{"type":"actions","elements":[{"type":"button","action_id":"a","text":{"type":"plain_text","text":"b"},"url":"` + strings.Repeat("u", 3001) + `"}]}]`, code: "invalid_blocks", pointer: "/elements/0/url"},
		{name: "duplicate block_id", blocks: `[{"type":"divider","block_id":"d"},{"type":"divider","block_id":"d"}]`, code: "invalid_blocks", pointer: "/blocks/1/block_id"},
		{name: "duplicate action_id", blocks: `[{"type":"actions","elements":[` + button("a", "1") + `,` + button("a", "2") + `]}]`, code: "invalid_blocks", pointer: "/blocks/0/elements/1/action_id"},
		{name: "missing type", blocks: `[{"text":{"type":"mrkdwn","text":"x"}}]`, code: "invalid_blocks", pointer: "/blocks/0]"},
		{name: "section without text", blocks: `[{"type":"section"}]`, code: "invalid_blocks", pointer: "/blocks/0]"},
		{name: "actions without elements", blocks: `[{"type":"actions"}]`, code: "invalid_blocks", pointer: "/blocks/0]"},
		{name: "unknown block type", blocks: `[{"type":"carousel"}]`, code: "invalid_blocks", pointer: "/blocks/0/type"},
		{name: "option text 76", blocks: `[{"type":"actions","elements":[{"type":"static_select","action_id":"s","options":[{"text":{"type":"plain_text","text":"` + strings.Repeat("o", 76) + `"},"value":"v"}]}]}]`, code: "invalid_blocks", pointer: "/options/0/text/text"},
		{name: "option value 151", blocks: `[{"type":"actions","elements":[{"type":"static_select","action_id":"s","options":[` + option(strings.Repeat("v", 151)) + `]}]}]`, code: "invalid_blocks", pointer: "/options/0/value"},
		{name: "11 checkboxes", blocks: `[{"type":"actions","elements":[{"type":"checkboxes","action_id":"c","options":[` + repeat(option("v"), 11) + `]}]}]`, code: "invalid_blocks", pointer: "/elements/0/options"},
		{name: "101 select options", blocks: `[{"type":"actions","elements":[{"type":"static_select","action_id":"s","options":[` + repeat(option("v"), 101) + `]}]}]`, code: "invalid_blocks", pointer: "/elements/0/options"},
		{name: "input without element", view: modal(`,"submit":{"type":"plain_text","text":"OK"}`, `{"type":"input","label":{"type":"plain_text","text":"L"}}`), code: "invalid_arguments", pointer: "/view/blocks/0]"},
		{name: "input without label", view: modal(`,"submit":{"type":"plain_text","text":"OK"}`, `{"type":"input","element":{"type":"plain_text_input"}}`), code: "invalid_arguments", pointer: "/view/blocks/0]"},
		{name: "modal title 25", view: `{"type":"modal","title":{"type":"plain_text","text":"` + strings.Repeat("t", 25) + `"},"blocks":[]}`, code: "invalid_arguments", pointer: "/view/title/text"},
		{name: "modal submit 25", view: modal(`,"submit":{"type":"plain_text","text":"`+strings.Repeat("s", 25)+`"}`, ""), code: "invalid_arguments", pointer: "/view/submit/text"},
		{name: "private_metadata 3001", view: modal(`,"private_metadata":"`+strings.Repeat("p", 3001)+`"`, ""), code: "invalid_arguments", pointer: "/view/private_metadata"},
		{name: "input without submit", view: modal("", input), code: "invalid_arguments", pointer: "/view/blocks/0]"},
		{name: "101 modal blocks", view: modal("", repeat(`{"type":"divider"}`, 101)), code: "invalid_arguments", pointer: "/view/blocks]"},
		{name: "view too large", view: modal(`,"submit":{"type":"plain_text","text":"OK"}`, repeat(section(strings.Repeat("x", 3000)), 90)), code: "view_too_large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var resp map[string]any
			if tc.blocks != "" {
				resp = postForm(t, s, "chat.postMessage", url.Values{"channel": {"C0INCIDENTS"}, "blocks": {tc.blocks}})
			} else {
				resp = postJSON(t, s, "views.update", map[string]any{"view_id": openModal(t, s), "view": json.RawMessage(tc.view)})
			}
			require.Equal(t, false, resp["ok"], "%v", resp)
			require.Equal(t, tc.code, resp["error"])
			if tc.pointer != "" {
				msgs := toStrings(resp["response_metadata"].(map[string]any)["messages"].([]any))
				require.Contains(t, strings.Join(msgs, "\n"), tc.pointer, "%v", msgs)
				require.True(t, strings.HasPrefix(msgs[0], "[ERROR] "), "%v", msgs)
			}
		})
	}
	t.Run("home over 100 blocks", func(t *testing.T) {
		resp := postJSON(t, s, "views.publish", map[string]any{"user_id": "U0ENGA",
			"view": json.RawMessage(`{"type":"home","blocks":[` + repeat(`{"type":"divider"}`, 101) + `]}`)})
		require.Equal(t, "invalid_arguments", resp["error"])
	})
	require.Empty(t, s.Messages())
	// Over-long text is truncated, not rejected.
	resp := postForm(t, s, "chat.postMessage", url.Values{"channel": {"C0INCIDENTS"}, "text": {strings.Repeat("x", 40001)}})
	require.Equal(t, true, resp["ok"])
	require.Len(t, s.Messages()[0].Text, 40000)
}

func toStrings(v []any) []string {
	out := make([]string, len(v))
	for i, x := range v {
		out[i], _ = x.(string)
	}
	return out
}

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }

// openModal opens a valid modal for U0ENGA through a fresh trigger.
func openModal(t *testing.T, s *Server) string {
	t.Helper()
	s.mu.Lock()
	trig := s.newTriggerLocked("U0ENGA", "")
	s.mu.Unlock()
	resp := postJSON(t, s, "views.open", map[string]any{"trigger_id": trig, "view": json.RawMessage(
		`{"type":"modal","title":{"type":"plain_text","text":"T"},"blocks":[]}`)})
	require.Equal(t, true, resp["ok"], "%v", resp)
	return resp["view"].(map[string]any)["id"].(string)
}

func postForm(t *testing.T, s *Server, method string, v url.Values) map[string]any {
	t.Helper()
	v.Set("token", BotToken)
	resp, err := http.PostForm(s.APIURL()+method, v)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"))
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return out
}

func postJSON(t *testing.T, s *Server, method string, body any) map[string]any {
	t.Helper()
	data, err := json.Marshal(body)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, s.APIURL()+method, bytes.NewReader(data))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Authorization", "Bearer "+BotToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return out
}

func TestViewsPushLimitAndHash(t *testing.T) {
	t.Parallel()
	s := newSim(t)
	id := openModal(t, s)
	v := s.Views("U0ENGA")[0]
	view := json.RawMessage(`{"type":"modal","title":{"type":"plain_text","text":"T2"},"blocks":[]}`)
	resp := postJSON(t, s, "views.update", map[string]any{"view_id": id, "hash": "stale", "view": view})
	require.Equal(t, "hash_conflict", resp["error"])
	resp = postJSON(t, s, "views.update", map[string]any{"view_id": id, "hash": v.Hash, "view": view})
	require.Equal(t, true, resp["ok"], "%v", resp)
	for i := range 3 {
		s.mu.Lock()
		trig := s.newTriggerLocked("U0ENGA", id)
		s.mu.Unlock()
		resp = postJSON(t, s, "views.push", map[string]any{"trigger_id": trig, "view": view})
		if i < 2 {
			require.Equal(t, true, resp["ok"], "%v", resp)
		} else {
			require.Equal(t, "push_limit_reached", resp["error"])
		}
	}
	stack := s.Views("U0ENGA")
	require.Len(t, stack, 3)
	require.NoError(t, s.CloseView("U0ENGA", stack[1].ID))
	require.Len(t, s.Views("U0ENGA"), 1)
}

func TestSubmitViewState(t *testing.T) {
	t.Parallel()
	s := newSim(t)
	subs := make(chan slack.InteractionCallback, 4)
	reply := make(chan any, 4)
	b := startBot(t, s, func(b *bot, evt socketmode.Event) {
		switch evt.Type {
		case socketmode.EventTypeSlashCommand:
			cmd := evt.Data.(slack.SlashCommand)
			b.ack(t, evt, nil)
			_, err := b.api.OpenView(cmd.TriggerID, handoffModal())
			if err != nil {
				t.Errorf("open view: %v", err)
			}
		case socketmode.EventTypeInteractive:
			subs <- evt.Data.(slack.InteractionCallback)
			b.ack(t, evt, <-reply)
		}
	})
	b.waitEvent(t, socketmode.EventTypeHello)
	_, err := s.SlashCommand("U0ENGA", "C0INCIDENTS", "/oncall", "handoff")
	require.NoError(t, err)
	v, err := s.WaitView(wait, func(v *View) bool { return v.CallbackID == "handoff" && !v.Closed })
	require.NoError(t, err)
	require.Equal(t, "U0ENGA", v.User)
	require.Equal(t, `{"from":"U0ENGA"}`, v.PrivateMetadata)
	require.Len(t, v.Inputs(), 6)

	_, err = s.SubmitView("U0ENGA", v.ID, map[string]string{"notes_block": "x"})
	require.ErrorContains(t, err, "issues_block (Active issues) is required")
	_, err = s.SubmitView("U0ENGA", v.ID, map[string]string{"issues_block": "x", "bogus": "y"})
	require.ErrorContains(t, err, "no input bogus")

	reply <- slack.NewErrorsViewSubmissionResponse(map[string]string{"issues_block": "Say more"})
	_, err = s.SubmitView("U0ENGA", v.ID, map[string]string{
		"issues_block.issues": "db slow",
		"steps_block":         "paged_dba, Status page updated",
		"sev_block":           "P2",
		"next_block":          "<@U0ENGB>",
		"date_block":          "2026-03-09",
	})
	require.NoError(t, err)
	sub := <-subs
	require.Equal(t, slack.InteractionTypeViewSubmission, sub.Type)
	require.Equal(t, "handoff", sub.View.CallbackID)
	require.Equal(t, `{"from":"U0ENGA"}`, sub.View.PrivateMetadata)
	vals := sub.View.State.Values
	require.Equal(t, "db slow", vals["issues_block"]["issues"].Value)
	require.Equal(t, "plain_text_input", string(vals["issues_block"]["issues"].Type))
	require.Len(t, vals["steps_block"]["steps"].SelectedOptions, 2)
	require.Equal(t, "paged_dba", vals["steps_block"]["steps"].SelectedOptions[0].Value)
	require.Equal(t, "statuspage", vals["steps_block"]["steps"].SelectedOptions[1].Value)
	require.Equal(t, "p2", vals["sev_block"]["sev"].SelectedOption.Value)
	require.Equal(t, "U0ENGB", vals["next_block"]["next"].SelectedUser)
	require.Equal(t, "2026-03-09", vals["date_block"]["date"].SelectedDate)
	require.Equal(t, "", vals["notes_block"]["notes"].Value)

	errView, err := s.WaitView(wait, func(x *View) bool { return x.ID == v.ID && x.Errors != nil })
	require.NoError(t, err)
	require.False(t, errView.Closed)
	require.Equal(t, "Say more", errView.Errors["issues_block"])

	// Raw state: an unfilled optional text input is null, as Slack sends it.
	var raw struct {
		Payload struct {
			View struct {
				State struct {
					Values map[string]map[string]map[string]any `json:"values"`
				} `json:"state"`
			} `json:"view"`
		} `json:"payload"`
	}
	s.mu.Lock()
	for _, se := range s.sent {
		if se.kind == "view_submission" {
			require.NoError(t, json.Unmarshal(mustJSON(map[string]any{"payload": se.env.Payload}), &raw))
		}
	}
	s.mu.Unlock()
	notes := raw.Payload.View.State.Values["notes_block"]["notes"]
	require.Contains(t, notes, "value")
	require.Nil(t, notes["value"])

	reply <- map[string]any{}
	_, err = s.SubmitView("U0ENGA", v.ID, map[string]string{"issues_block": "db slow, better described"})
	require.NoError(t, err)
	<-subs
	_, err = s.WaitView(wait, func(x *View) bool { return x.ID == v.ID && x.Closed })
	require.NoError(t, err)
	require.Empty(t, s.Views("U0ENGA"))
}

func handoffModal() slack.ModalViewRequest {
	pt := func(s string) *slack.TextBlockObject { return slack.NewTextBlockObject("plain_text", s, false, false) }
	opt := func(v, text string) *slack.OptionBlockObject { return slack.NewOptionBlockObject(v, pt(text), nil) }
	notes := slack.NewInputBlock("notes_block", pt("Notes"), nil, slack.NewPlainTextInputBlockElement(nil, "notes"))
	notes.Optional = true
	return slack.ModalViewRequest{
		Type: slack.VTModal, CallbackID: "handoff", PrivateMetadata: `{"from":"U0ENGA"}`,
		Title: pt("Handoff"), Submit: pt("Submit"), Close: pt("Cancel"),
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			slack.NewInputBlock("issues_block", pt("Active issues"), nil, slack.NewPlainTextInputBlockElement(nil, "issues")),
			slack.NewInputBlock("steps_block", pt("Steps"), nil, slack.NewCheckboxGroupsBlockElement("steps", opt("paged_dba", "Paged DBA"), opt("statuspage", "Status page updated"))),
			slack.NewInputBlock("sev_block", pt("Severity"), nil, slack.NewOptionsSelectBlockElement("static_select", pt("Pick"), "sev", opt("p1", "P1"), opt("p2", "P2"))),
			slack.NewInputBlock("next_block", pt("Next on call"), nil, slack.NewOptionsSelectBlockElement("users_select", pt("Who"), "next")),
			slack.NewInputBlock("date_block", pt("From"), nil, slack.NewDatePickerBlockElement("date")),
			notes,
		}},
	}
}

func TestDisconnectAndDropReconnect(t *testing.T) {
	t.Parallel()
	s := newSim(t)
	b := startBot(t, s, func(b *bot, evt socketmode.Event) {
		if evt.Type == socketmode.EventTypeSlashCommand {
			b.ack(t, evt, nil)
		}
	})
	b.waitEvent(t, socketmode.EventTypeHello)
	require.Equal(t, 1, s.Connections())

	s.Disconnect("refresh_requested")
	require.NoError(t, s.waitFor(wait, func() bool { return s.connections == 2 && s.conn != nil }))
	id, err := s.SlashCommand("U0ENGA", "C0INCIDENTS", "/oncall", "")
	require.NoError(t, err)
	_, err = s.WaitAck(id, wait)
	require.NoError(t, err)

	s.DropConnection()
	require.NoError(t, s.waitFor(wait, func() bool { return s.connections == 3 && s.conn != nil }))
	id, err = s.SlashCommand("U0ENGA", "C0INCIDENTS", "/oncall", "")
	require.NoError(t, err)
	_, err = s.WaitAck(id, wait)
	require.NoError(t, err)
	require.Equal(t, 3, s.Connections())
}

func TestRedeliverCarriesRetryAttempt(t *testing.T) {
	t.Parallel()
	s := newSim(t)
	type seen struct {
		attempt int
		reason  string
		user    string
	}
	got := make(chan seen, 4)
	b := startBot(t, s, func(b *bot, evt socketmode.Event) {
		if evt.Type == socketmode.EventTypeEventsAPI {
			ev := evt.Data.(slackevents.EventsAPIEvent)
			home, _ := ev.InnerEvent.Data.(*slackevents.AppHomeOpenedEvent)
			user := ""
			if home != nil {
				user = home.User
			}
			got <- seen{evt.Request.RetryAttempt, evt.Request.RetryReason, user}
			b.ack(t, evt, nil)
		}
	})
	b.waitEvent(t, socketmode.EventTypeHello)
	id, err := s.OpenHome("U0ENGA")
	require.NoError(t, err)
	require.Equal(t, seen{0, "", "U0ENGA"}, <-got)
	require.NoError(t, s.Redeliver(id))
	require.Equal(t, seen{1, "timeout", "U0ENGA"}, <-got)
	require.NoError(t, s.waitFor(wait, func() bool { return len(s.acks[id]) == 2 }))
	require.Len(t, s.Acks(id), 2)
	require.Error(t, s.Redeliver("nope"))
}

func TestSubscribeAndHome(t *testing.T) {
	t.Parallel()
	s := newSim(t)
	updates, stop := s.Subscribe()
	defer stop()
	api := apiClient(s)
	_, err := api.PublishView("U0ENGA", slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: []slack.Block{
		slack.NewActionBlock("home_actions", slack.NewButtonBlockElement("home.refresh", "", slack.NewTextBlockObject("plain_text", "Refresh", false, false))),
	}}}, "")
	require.NoError(t, err)
	u := <-updates
	require.Equal(t, "home", u.Kind)
	home := s.Home("U0ENGA")
	require.NotNil(t, home)
	require.Equal(t, "home.refresh", home.Buttons()[0].ActionID)
	_, _, err = api.PostMessage("C0INCIDENTS", slack.MsgOptionText("hi", false))
	require.NoError(t, err)
	u = <-updates
	require.Equal(t, "message", u.Kind)
	require.Equal(t, "hi", u.Message.Text)
	_, err = api.PublishView("U0ENGA", slack.HomeTabViewRequest{Type: slack.VTHomeTab}, "stale")
	require.EqualError(t, err, "hash_conflict")
}
