package bot

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/contextinject/oncallbot/commands"
)

// Messenger posts through the Slack Web API (retrying 429 and 5xx inside the
// slack-go client) and answers callers through their response_url.
type Messenger struct {
	api  *slack.Client
	http *http.Client
	// allowedHosts are the hosts a response_url may point at: Slack's hook
	// host and the host of SLACK_API_URL. Anything else is refused, so an
	// envelope cannot make the bot call an arbitrary URL.
	allowedHosts map[string]bool

	// dms maps user IDs to their DM channel IDs. Feature code addresses DMs
	// by user ID; chat.update and threaded replies need the D… channel, which
	// chat.postMessage returns and conversations.open finds after a restart.
	dmMu sync.Mutex
	dms  map[string]string
}

var _ commands.Messenger = (*Messenger)(nil)

// NewMessenger returns a Messenger over api. apiURL is SLACK_API_URL.
func NewMessenger(api *slack.Client, httpClient *http.Client, apiURL string) *Messenger {
	hosts := map[string]bool{"hooks.slack.com": true}
	if u, err := url.Parse(apiURL); err == nil && u.Host != "" {
		hosts[u.Host] = true
	}
	return &Messenger{api: api, http: httpClient, allowedHosts: hosts, dms: map[string]string{}}
}

func msgOptions(msg commands.Message) []slack.MsgOption {
	opts := []slack.MsgOption{slack.MsgOptionText(msg.Text, false)}
	if len(msg.Blocks) > 0 {
		opts = append(opts, slack.MsgOptionBlocks(msg.Blocks...))
	}
	return opts
}

// Post posts msg to channel (a user ID posts a DM).
func (m *Messenger) Post(ctx context.Context, channel string, msg commands.Message) (string, error) {
	got, ts, err := m.api.PostMessageContext(ctx, channel, msgOptions(msg)...)
	if err != nil {
		return "", fmt.Errorf("chat.postMessage to %s: %w", channel, err)
	}
	m.rememberDM(channel, got)
	return ts, nil
}

func isUserID(s string) bool { return strings.HasPrefix(s, "U") || strings.HasPrefix(s, "W") }

func (m *Messenger) rememberDM(user, channel string) {
	if isUserID(user) && strings.HasPrefix(channel, "D") {
		m.dmMu.Lock()
		m.dms[user] = channel
		m.dmMu.Unlock()
	}
}

// conversation returns the channel to address for a user ID (their DM
// channel) or channel as it is.
func (m *Messenger) conversation(ctx context.Context, channel string) (string, error) {
	if !isUserID(channel) {
		return channel, nil
	}
	m.dmMu.Lock()
	dm, ok := m.dms[channel]
	m.dmMu.Unlock()
	if ok {
		return dm, nil
	}
	ch, _, _, err := m.api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{channel}})
	if err != nil {
		return "", fmt.Errorf("conversations.open with %s: %w", channel, err)
	}
	m.rememberDM(channel, ch.ID)
	return ch.ID, nil
}

// Reply posts msg in the thread of threadTS.
func (m *Messenger) Reply(ctx context.Context, channel, threadTS string, msg commands.Message) (string, error) {
	channel, err := m.conversation(ctx, channel)
	if err != nil {
		return "", err
	}
	_, ts, err := m.api.PostMessageContext(ctx, channel, append(msgOptions(msg), slack.MsgOptionTS(threadTS))...)
	if err != nil {
		return "", fmt.Errorf("chat.postMessage reply in %s: %w", channel, err)
	}
	return ts, nil
}

// Update replaces the message at ts. Passing no blocks clears them.
func (m *Messenger) Update(ctx context.Context, channel, ts string, msg commands.Message) error {
	channel, err := m.conversation(ctx, channel)
	if err != nil {
		return err
	}
	opts := []slack.MsgOption{slack.MsgOptionText(msg.Text, false), slack.MsgOptionBlocks(msg.Blocks...)}
	if _, _, _, err := m.api.UpdateMessageContext(ctx, channel, ts, opts...); err != nil {
		return fmt.Errorf("chat.update %s/%s: %w", channel, ts, err)
	}
	return nil
}

// Ephemeral shows msg to user in channel.
func (m *Messenger) Ephemeral(ctx context.Context, channel, user string, msg commands.Message) error {
	if _, err := m.api.PostEphemeralContext(ctx, channel, user, msgOptions(msg)...); err != nil {
		return fmt.Errorf("chat.postEphemeral: %w", err)
	}
	return nil
}

// OpenView opens a modal.
func (m *Messenger) OpenView(ctx context.Context, triggerID string, view slack.ModalViewRequest) error {
	if _, err := m.api.OpenViewContext(ctx, triggerID, view); err != nil {
		return fmt.Errorf("views.open: %w", err)
	}
	return nil
}

// PublishHome publishes user's App Home.
func (m *Messenger) PublishHome(ctx context.Context, user string, view slack.HomeTabViewRequest) error {
	if _, err := m.api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: user, View: view}); err != nil {
		return fmt.Errorf("views.publish: %w", err)
	}
	return nil
}

// Permalink returns a link to a message.
func (m *Messenger) Permalink(ctx context.Context, channel, ts string) (string, error) {
	channel, err := m.conversation(ctx, channel)
	if err != nil {
		return "", err
	}
	link, err := m.api.GetPermalinkContext(ctx, &slack.PermalinkParameters{Channel: channel, Ts: ts})
	if err != nil {
		return "", fmt.Errorf("chat.getPermalink: %w", err)
	}
	return link, nil
}

// SetUsergroup makes group's members exactly users.
func (m *Messenger) SetUsergroup(ctx context.Context, group string, users []string) error {
	if _, err := m.api.UpdateUserGroupMembersContext(ctx, group, strings.Join(users, ",")); err != nil {
		return fmt.Errorf("usergroups.users.update %s: %w", group, err)
	}
	return nil
}

// RespondURL answers through a slash command's or action's response_url,
// ephemerally and without replacing the original message.
func (m *Messenger) RespondURL(ctx context.Context, responseURL string, msg commands.Message) error {
	u, err := url.Parse(responseURL)
	if err != nil || !m.allowedHosts[u.Host] {
		return fmt.Errorf("response_url host not allowed")
	}
	payload := map[string]any{"response_type": "ephemeral", "replace_original": false, "text": msg.Text}
	if len(msg.Blocks) > 0 {
		payload["blocks"] = msg.Blocks
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, responseURL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("response_url request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := m.http.Do(req)
	if err != nil {
		return fmt.Errorf("response_url post: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("response_url post: status %d", resp.StatusCode)
	}
	return nil
}
