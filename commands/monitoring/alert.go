// Package monitoring posts non-paging Alertmanager alerts in #monitoring
// (SPEC §7, runbook §5): one message per alert group, edited as its alerts
// fire and resolve, and acknowledged by a ✅ (white_check_mark) reaction of a
// person of the configuration; removing the reaction takes it back.
//
// This file is the pure part: merging notifications into a group's state,
// acknowledgements, and rendering the message.
package monitoring

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/contextinject/oncallbot/commands"
	"github.com/contextinject/oncallbot/commands/config"
)

// Alert statuses as Alertmanager sends them.
const (
	Firing   = "firing"
	Resolved = "resolved"
)

// AckEmoji is the reaction that acknowledges an alert group (the runbook's
// "checkmark emoji = acknowledged").
const AckEmoji = "white_check_mark"

// Limits that keep a message inside Block Kit and a notification bounded.
const (
	maxAlerts      = 500 // alerts kept per group
	maxShown       = 20  // alerts listed in the message
	maxLabels      = 64
	maxValue       = 1024
	maxGroupKey    = 1024
	maxSectionText = 3000
)

// Group is one Alertmanager notification (webhook version 4) for an alert
// group, as the webhook decodes it.
type Group struct {
	GroupKey          string
	Status            string // firing or resolved
	Receiver          string
	GroupLabels       map[string]string
	CommonLabels      map[string]string
	CommonAnnotations map[string]string
	ExternalURL       string
	Alerts            []Alert
	TruncatedAlerts   int
}

// Alert is one alert of a group.
type Alert struct {
	Status       string
	Labels       map[string]string
	Annotations  map[string]string
	StartsAt     time.Time
	EndsAt       time.Time // zero (0001-01-01) while firing
	GeneratorURL string
	Fingerprint  string
}

// Validate refuses a notification the bot cannot show.
func Validate(g Group) error {
	switch {
	case strings.TrimSpace(g.GroupKey) == "":
		return errors.New("groupKey is empty")
	case len(g.GroupKey) > maxGroupKey:
		return fmt.Errorf("groupKey is longer than %d bytes", maxGroupKey)
	case g.Status != Firing && g.Status != Resolved:
		return fmt.Errorf("status %q is neither firing nor resolved", clip(g.Status, 40))
	case len(g.Alerts) == 0:
		return errors.New("the group has no alerts")
	case len(g.Alerts) > maxAlerts:
		return fmt.Errorf("%d alerts in one notification; at most %d are accepted", len(g.Alerts), maxAlerts)
	}
	for i, a := range g.Alerts {
		if a.Status != Firing && a.Status != Resolved {
			return fmt.Errorf("alerts[%d].status %q is neither firing nor resolved", i, clip(a.Status, 40))
		}
		if len(a.Labels) > maxLabels || len(a.Annotations) > maxLabels {
			return fmt.Errorf("alerts[%d] has more than %d labels or annotations", i, maxLabels)
		}
	}
	return nil
}

// State is what the bot remembers of an alert group.
type State struct {
	Title        string            `json:"title"`
	Alerts       []StoredAlert     `json:"alerts"` // in the order first seen
	CommonLabels map[string]string `json:"common_labels,omitempty"`
	ExternalURL  string            `json:"external_url,omitempty"`
	Truncated    int               `json:"truncated,omitempty"`
	// Acks are the people whose ✅ is on the message, first first: the first
	// is who acknowledged it.
	Acks []Ack `json:"acks,omitempty"`
}

// StoredAlert is one alert of a group's state.
type StoredAlert struct {
	Key      string    `json:"key"` // fingerprint, or a hash of the labels
	Status   string    `json:"status"`
	Summary  string    `json:"summary,omitempty"`
	Identity string    `json:"identity,omitempty"` // labels that tell it from its siblings
	StartsAt time.Time `json:"starts_at"`
	EndsAt   time.Time `json:"ends_at,omitzero"`
}

// Ack is a person's ✅ on the message.
type Ack struct {
	User string    `json:"user"`
	At   time.Time `json:"at"`
}

// Status is firing when any alert fires, else resolved.
func (s State) Status() string {
	for _, a := range s.Alerts {
		if a.Status == Firing {
			return Firing
		}
	}
	return Resolved
}

// Firing counts the firing alerts.
func (s State) Firing() int {
	n := 0
	for _, a := range s.Alerts {
		if a.Status == Firing {
			n++
		}
	}
	return n
}

// AckedBy returns who acknowledged the group and when; ok is false when nobody did.
func (s State) AckedBy() (Ack, bool) {
	if len(s.Acks) == 0 {
		return Ack{}, false
	}
	return s.Acks[0], true
}

func cloneState(s State) State {
	c := s
	c.Alerts = slices.Clone(s.Alerts)
	c.Acks = slices.Clone(s.Acks)
	c.CommonLabels = maps.Clone(s.CommonLabels)
	return c
}

// Merge applies notification g (already validated) to s and reports whether
// anything a reader would see changed: a repeated or redelivered
// notification changes nothing. now stands in for a resolved alert's
// missing endsAt.
func Merge(s State, g Group, now time.Time) (State, bool) {
	before := cloneState(s)
	out := cloneState(s)
	if t := title(g); t != "" {
		out.Title = t
	}
	if len(g.CommonLabels) > 0 {
		out.CommonLabels = limitLabels(g.CommonLabels)
	}
	if u := safeURL(g.ExternalURL); u != "" {
		out.ExternalURL = u
	}
	out.Truncated = g.TruncatedAlerts
	for _, a := range g.Alerts {
		sa := StoredAlert{Key: alertKey(a), Status: a.Status, Summary: summary(a, g), Identity: identity(a, g), StartsAt: a.StartsAt.UTC()}
		if a.Status == Resolved {
			sa.EndsAt = a.EndsAt.UTC()
			if sa.EndsAt.IsZero() || sa.EndsAt.Year() <= 1 {
				sa.EndsAt = now.UTC()
			}
		}
		if i := slices.IndexFunc(out.Alerts, func(x StoredAlert) bool { return x.Key == sa.Key }); i >= 0 {
			if sa.Status == Resolved && out.Alerts[i].Status == Resolved {
				sa.EndsAt = out.Alerts[i].EndsAt // a repeat of the resolution keeps its first time
			}
			out.Alerts[i] = sa
			continue
		}
		if len(out.Alerts) < maxAlerts {
			out.Alerts = append(out.Alerts, sa)
		}
	}
	if g.Status == Resolved {
		// The whole group resolved: alerts Alertmanager no longer lists are over too.
		for i := range out.Alerts {
			if out.Alerts[i].Status == Firing {
				out.Alerts[i].Status, out.Alerts[i].EndsAt = Resolved, now.UTC()
			}
		}
	}
	return out, !equalState(before, out)
}

func equalState(a, b State) bool {
	return a.Title == b.Title && a.ExternalURL == b.ExternalURL && a.Truncated == b.Truncated &&
		maps.Equal(a.CommonLabels, b.CommonLabels) && slices.Equal(a.Alerts, b.Alerts) && slices.EqualFunc(a.Acks, b.Acks, func(x, y Ack) bool { return x.User == y.User && x.At.Equal(y.At) })
}

// AddAck records user's ✅ at at; a second ✅ of the same person changes nothing.
func AddAck(s State, user string, at time.Time) (State, bool) {
	if slices.ContainsFunc(s.Acks, func(a Ack) bool { return a.User == user }) {
		return s, false
	}
	out := cloneState(s)
	out.Acks = append(out.Acks, Ack{User: user, At: at.UTC()})
	return out, true
}

// RemoveAck takes user's ✅ back; the next person's ✅, if any, becomes the acknowledgement.
func RemoveAck(s State, user string) (State, bool) {
	i := slices.IndexFunc(s.Acks, func(a Ack) bool { return a.User == user })
	if i < 0 {
		return s, false
	}
	out := cloneState(s)
	out.Acks = slices.Delete(out.Acks, i, i+1)
	return out, true
}

func title(g Group) string {
	for _, m := range []map[string]string{g.GroupLabels, g.CommonLabels} {
		if v := m["alertname"]; v != "" {
			return clip(v, 150)
		}
	}
	for _, a := range g.Alerts {
		if v := a.Labels["alertname"]; v != "" {
			return clip(v, 150)
		}
	}
	return ""
}

// alertKey is the fingerprint, or a stable hash of the labels without one.
func alertKey(a Alert) string {
	if a.Fingerprint != "" {
		return clip(a.Fingerprint, 64)
	}
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(a.Labels)) {
		fmt.Fprintf(h, "%s=%s\x00", k, a.Labels[k])
	}
	return "l" + hex.EncodeToString(h.Sum(nil))[:16]
}

func summary(a Alert, g Group) string {
	for _, k := range []string{"summary", "description", "message"} {
		if v := a.Annotations[k]; v != "" {
			return clip(v, 300)
		}
		if v := g.CommonAnnotations[k]; v != "" {
			return clip(v, 300)
		}
	}
	return ""
}

// identity lists the labels an alert does not share with its group.
func identity(a Alert, g Group) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(a.Labels)) {
		if k == "alertname" || g.CommonLabels[k] == a.Labels[k] && len(g.CommonLabels) > 0 {
			continue
		}
		parts = append(parts, k+"="+clip(a.Labels[k], 80))
		if len(parts) == 4 {
			break
		}
	}
	return clip(strings.Join(parts, " "), 300)
}

func limitLabels(m map[string]string) map[string]string {
	out := map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if len(out) == maxLabels {
			break
		}
		out[clip(k, 100)] = clip(m[k], maxValue)
	}
	return out
}

// safeURL keeps only absolute http(s) URLs, so a webhook body cannot put
// another kind of link in the channel.
func safeURL(s string) string {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(s) > 500 {
		return ""
	}
	return u.String()
}

// Escape makes text safe inside Slack mrkdwn: no mentions, links or
// channel-wide pings can be smuggled in through labels.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && (s[n]&0xC0) == 0x80 {
		n--
	}
	return s[:n] + "…"
}

// Render returns the #monitoring message of an alert group.
func Render(cfg *config.Config, s State) commands.Message {
	status := s.Status()
	name := s.Title
	if name == "" {
		name = "Alert group"
	}
	head := fmt.Sprintf("[RESOLVED] %s", name)
	icon := ":large_green_circle:"
	if status == Firing {
		head = fmt.Sprintf("[FIRING:%d] %s", s.Firing(), name)
		icon = ":large_orange_circle:"
	}
	ackLine := fmt.Sprintf("Not acknowledged: react with :%s: to acknowledge.", AckEmoji)
	text := head
	if ack, ok := s.AckedBy(); ok {
		ackLine = fmt.Sprintf(":%s: Acknowledged by %s at %s", AckEmoji, commands.Mention(cfg, ack.User), commands.Date(ack.At))
		if len(s.Acks) > 1 {
			others := make([]string, 0, len(s.Acks)-1)
			for _, a := range s.Acks[1:] {
				others = append(others, cfg.Name(a.User))
			}
			ackLine += " (also " + strings.Join(others, ", ") + ")"
		}
		text += " — acknowledged by " + cfg.Name(ack.User)
	}

	var b strings.Builder
	for i, a := range s.Alerts {
		if i == maxShown {
			fmt.Fprintf(&b, "…and %d more\n", len(s.Alerts)-maxShown)
			break
		}
		mark := ":red_circle: firing"
		when := "since " + commands.Date(a.StartsAt)
		if a.Status == Resolved {
			mark, when = ":white_circle: resolved", commands.Date(a.EndsAt)
		}
		line := "• " + mark
		if a.Identity != "" {
			line += " `" + strings.ReplaceAll(escape(a.Identity), "`", "'") + "`"
		}
		if a.Summary != "" {
			line += " — " + escape(a.Summary)
		}
		line += " (" + when + ")\n"
		if b.Len()+len(line) > maxSectionText-40 {
			fmt.Fprintf(&b, "…and %d more\n", len(s.Alerts)-i)
			break
		}
		b.WriteString(line)
	}
	if s.Truncated > 0 {
		fmt.Fprintf(&b, "(+%d alerts Alertmanager left out)\n", s.Truncated)
	}

	blocks := []slack.Block{
		slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, clip(icon+" *"+escape(head)+"*", maxSectionText), false, false), nil, nil),
	}
	if b.Len() > 0 {
		blocks = append(blocks, slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, clip(strings.TrimRight(b.String(), "\n"), maxSectionText), false, false), nil, nil))
	}
	var ctx []string
	if len(s.CommonLabels) > 0 {
		var ls []string
		for _, k := range slices.Sorted(maps.Keys(s.CommonLabels)) {
			if k != "alertname" {
				ls = append(ls, k+"="+s.CommonLabels[k])
			}
		}
		if len(ls) > 0 {
			ctx = append(ctx, "`"+strings.ReplaceAll(escape(clip(strings.Join(ls, " "), 1500)), "`", "'")+"`")
		}
	}
	if s.ExternalURL != "" {
		ctx = append(ctx, "<"+strings.ReplaceAll(s.ExternalURL, "|", "%7C")+"|Alertmanager>")
	}
	ctx = append(ctx, "non-paging alert")
	blocks = append(blocks, slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType, clip(strings.Join(ctx, " · "), 2000), false, false)))
	blocks = append(blocks, slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, ackLine, false, false), nil, nil))
	return commands.Message{Text: clip(text, 3000), Blocks: blocks}
}
