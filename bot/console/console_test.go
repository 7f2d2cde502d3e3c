package console

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/bot/slacksim"
)

func newSim(t *testing.T) *slacksim.Server {
	t.Helper()
	s, err := slacksim.New(slacksim.Options{
		Users: []slacksim.User{
			{ID: "U0ENGA", Name: "enga", RealName: "Engineer A"},
			{ID: "U0ENGB", Name: "engb", RealName: "Engineer B"},
		},
		Channels:     []slacksim.Channel{{ID: "C0INCIDENTS", Name: "incidents"}},
		PingInterval: 200 * time.Millisecond,
	})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

// fakeBot answers /oncall with an ephemeral ack payload and a channel message
// with buttons, edits the message on "incident.ack" and opens a modal on
// "incident.update".
func fakeBot(t *testing.T, s *slacksim.Server) {
	t.Helper()
	api := slack.New(slacksim.BotToken, slack.OptionAPIURL(s.APIURL()), slack.OptionAppLevelToken(slacksim.AppToken))
	client := socketmode.New(api)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	ack := func(req *socketmode.Request, payload any) {
		actx, acancel := context.WithTimeout(ctx, 5*time.Second)
		defer acancel()
		if err := client.AckCtx(actx, req.EnvelopeID, payload); err != nil && ctx.Err() == nil {
			t.Errorf("ack: %v", err)
		}
	}
	pt := func(s string) *slack.TextBlockObject { return slack.NewTextBlockObject("plain_text", s, false, false) }
	handle := func(evt socketmode.Event) {
		switch evt.Type {
		case socketmode.EventTypeSlashCommand:
			cmd := evt.Data.(slack.SlashCommand)
			ack(evt.Request, map[string]any{"text": "Usage: /oncall swap @eng [YYYY-MM-DD]"})
			_, _, err := api.PostMessageContext(ctx, cmd.ChannelID,
				slack.MsgOptionText("P2 High error rate", false),
				slack.MsgOptionBlocks(
					slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", ":rotating_light: *P2* High error rate, paged <@U0ENGB> <!date^1700000000^{date_short}|Nov 14>", false, false), nil, nil),
					slack.NewActionBlock("incident_actions",
						slack.NewButtonBlockElement("incident.ack", "INC-1", pt("Acknowledge")),
						slack.NewButtonBlockElement("incident.update", "INC-1", pt("Post update")))))
			if err != nil && ctx.Err() == nil {
				t.Errorf("post: %v", err)
			}
		case socketmode.EventTypeInteractive:
			cb := evt.Data.(slack.InteractionCallback)
			ack(evt.Request, nil)
			switch {
			case cb.Type == slack.InteractionTypeBlockActions && cb.ActionCallback.BlockActions[0].ActionID == "incident.ack":
				_, _, _, err := api.UpdateMessageContext(ctx, cb.Channel.ID, cb.Container.MessageTs,
					slack.MsgOptionText("Acknowledged by <@"+cb.User.ID+">", false), slack.MsgOptionBlocks())
				if err != nil && ctx.Err() == nil {
					t.Errorf("update: %v", err)
				}
			case cb.Type == slack.InteractionTypeBlockActions:
				_, err := api.OpenViewContext(ctx, cb.TriggerID, slack.ModalViewRequest{
					Type: slack.VTModal, CallbackID: "update", Title: pt("Post update"), Submit: pt("Post"),
					Blocks: slack.Blocks{BlockSet: []slack.Block{
						slack.NewInputBlock("status", pt("Status"), nil, slack.NewPlainTextInputBlockElement(nil, "text")),
					}},
				})
				if err != nil && ctx.Err() == nil {
					t.Errorf("open view: %v", err)
				}
			case cb.Type == slack.InteractionTypeViewSubmission:
				_, _, err := api.PostMessageContext(ctx, "C0INCIDENTS",
					slack.MsgOptionText("Update: "+cb.View.State.Values["status"]["text"].Value, false))
				if err != nil && ctx.Err() == nil {
					t.Errorf("post update: %v", err)
				}
			}
		}
	}
	wg.Go(func() { _ = client.RunContext(ctx) })
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case evt := <-client.Events:
				if evt.Request != nil {
					handle(evt)
				}
			}
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
}

func runConsole(t *testing.T, s *slacksim.Server, input string, hooks map[string]func(context.Context) error) string {
	t.Helper()
	var out bytes.Buffer
	err := Run(context.Background(), Options{
		Sim: s, In: strings.NewReader(input), Out: &out,
		User: "U0ENGA", Channel: "#incidents", Hooks: hooks,
	})
	require.NoError(t, err)
	return out.String()
}

func TestSlashCommandAndClick(t *testing.T) {
	t.Parallel()
	s := newSim(t)
	fakeBot(t, s)
	out := runConsole(t, s, "/oncall\nclick 2\nset Status all green\nsubmit\nclick 1\nclick 2\n", nil)
	t.Log("\n" + out)

	require.Contains(t, out, "(only you)  oncallbot: Usage: /oncall swap @eng [YYYY-MM-DD]")
	require.Contains(t, out, "#incidents  oncallbot: :rotating_light: *P2* High error rate, paged @Engineer B Nov 14")
	require.Contains(t, out, "[1] Acknowledge   [2] Post update")
	require.Contains(t, out, "(edited) #incidents  oncallbot: Acknowledged by @Engineer A")
	require.NotContains(t, out, "> ", "no prompt when input is piped")
	require.Contains(t, out, `[modal "Post update"]`)
	require.Contains(t, out, `status (Status) = ""`)
	require.Contains(t, out, `status (Status) = "all green"`)
	require.Contains(t, out, "oncallbot: Update: all green")
	require.Contains(t, out, `[modal "Post update" closed]`)
	require.Regexp(t, `oncallbot: Usage.*\[m\d\]`, out)
	require.Contains(t, out, `! button [2] "Post update" is gone: message`)

	msgs := s.Messages()
	require.Len(t, msgs, 3)
	updated := 0
	for _, m := range msgs {
		updated += m.Updates
	}
	require.Equal(t, 1, updated)
}

func TestBadInputPrintsHints(t *testing.T) {
	t.Parallel()
	s := newSim(t)
	ran := false
	hooks := map[string]func(context.Context) error{
		"handoff-reminder": func(context.Context) error { ran = true; return nil },
		"broken":           func(context.Context) error { return errors.New("boom") },
	}
	input := strings.Join([]string{
		"", "frobnicate", "click", "click x", "click 9", "as @nobody", "in #nowhere",
		"set foo bar", "submit", "cancel", "react", "react m7 tada", "run", "run nope",
		"run broken", "run handoff-reminder", "as <@U0ENGB>", "in C0INCIDENTS", "help",
	}, "\n")
	out := runConsole(t, s, input, hooks)
	for _, want := range []string{
		`! unknown command "frobnicate"`,
		"! usage: click N",
		"! no button [9] has been shown",
		`! no such person "@nobody"`,
		`! no such channel "#nowhere"`,
		"! you have no open modal",
		"! usage: react M EMOJI",
		"! no message [m7] has been shown",
		"! usage: run NAME (available: broken, handoff-reminder)",
		"! broken failed: boom",
		"ran handoff-reminder",
		"you are now @Engineer B (U0ENGB)",
		"you are now in #incidents",
		"commands:",
	} {
		require.Contains(t, out, want)
	}
	require.True(t, ran)
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		require.NotContains(t, line, "panic")
	}
}

func TestQuitStopsReading(t *testing.T) {
	t.Parallel()
	s := newSim(t)
	out := runConsole(t, s, "quit\nfrobnicate\n", nil)
	require.NotContains(t, out, "frobnicate")
}

func TestPlainRendersMrkdwn(t *testing.T) {
	t.Parallel()
	s := newSim(t)
	c := &console{sim: s, users: map[string]slacksim.User{}, channels: map[string]slacksim.Channel{}}
	for _, u := range s.Users() {
		c.users[u.ID] = u
	}
	for _, ch := range s.Channels() {
		c.channels[ch.ID] = ch
	}
	tests := []struct{ in, want string }{
		{"<@U0ENGA> paged", "@Engineer A paged"},
		{"in <#C0INCIDENTS>", "in #incidents"},
		{"in <#C0X|ops>", "in #ops"},
		{"at <!date^1700000000^{date_short} {time}|Nov 14 10:13>", "at Nov 14 10:13"},
		{"<!here> <!subteam^S0ONCALL|@oncall>", "@here @oncall"},
		{"<https://status.example.com|status page>", "status page (https://status.example.com)"},
		{"a &lt;b&gt; &amp; c", "a <b> & c"},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, c.plain(tc.in), tc.in)
	}
}
