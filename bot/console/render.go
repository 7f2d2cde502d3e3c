package console

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/contextinject/oncallbot/bot/slacksim"
)

// tagColumn is where message tags ([m3]) are aligned.
const tagColumn = 76

func (c *console) renderUpdate(u slacksim.Update) string {
	switch u.Kind {
	case "message", "update", "delete":
		if u.Message != nil {
			return c.renderMessage(u.Kind, u.Message)
		}
	case "view":
		if u.View != nil {
			return c.renderView(u.View)
		}
	case "home":
		c.mu.Lock()
		want := c.homeFor
		c.mu.Unlock()
		if u.View != nil && u.View.User == want {
			return c.renderView(u.View)
		}
	}
	return ""
}

func (c *console) userLabel(id string) string {
	if u, ok := c.users[id]; ok {
		if u.RealName != "" {
			return "@" + u.RealName
		}
		return "@" + u.Name
	}
	return "@" + id
}

func (c *console) author(id string) string {
	switch {
	case id == c.sim.BotUserID():
		return "oncallbot"
	case id == "USLACKBOT":
		return "Slackbot"
	}
	if u, ok := c.users[id]; ok && u.RealName != "" {
		return u.RealName
	}
	return id
}

func (c *console) channelLabel(id string) string {
	if ch, ok := c.channels[id]; ok {
		return "#" + strings.TrimPrefix(ch.Name, "#")
	}
	if strings.HasPrefix(id, "D") {
		for uid := range c.users {
			if uid[1:] == id[1:] {
				return "DM " + c.userLabel(uid)
			}
		}
	}
	return id
}

// messageNumber returns the [mN] number of a message, assigning one.
func (c *console) messageNumberLocked(m *slacksim.Message) int {
	if n, ok := c.msgNum[m.TS]; ok {
		return n
	}
	c.msgs = append(c.msgs, buttonRef{channel: m.Channel, ts: m.TS})
	n := len(c.msgs)
	c.msgNum[m.TS] = n
	return n
}

func (c *console) addButtonLocked(ref buttonRef) int {
	c.buttons = append(c.buttons, ref)
	return len(c.buttons)
}

func (c *console) renderMessage(kind string, m *slacksim.Message) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.messageNumberLocked(m)
	tag := fmt.Sprintf("[m%d]", n)
	if kind == "delete" {
		return fmt.Sprintf("(deleted) %s", tag)
	}
	var where string
	indent := ""
	switch {
	case m.Ephemeral && m.EphemeralTo == c.user:
		where = "(only you)"
	case m.Ephemeral:
		where = "(only " + c.userLabel(m.EphemeralTo) + ")"
	default:
		where = c.channelLabel(m.Channel)
	}
	if m.ThreadTS != "" && m.ThreadTS != m.TS {
		indent = "  "
		parent := ""
		if pn, ok := c.msgNum[m.ThreadTS]; ok {
			parent = fmt.Sprintf(" of [m%d]", pn)
		}
		if m.Ephemeral {
			parent += " " + where
		}
		where = "↳ thread" + parent
	}
	if kind == "update" {
		where = "(edited) " + where
	}
	lines := c.renderBlocksLocked(m.Text, m.Blocks, func(b slacksim.Button) buttonRef {
		return buttonRef{channel: m.Channel, ts: m.TS, actionID: b.ActionID, text: b.Text}
	})
	if len(lines) == 0 {
		lines = []string{""}
	}
	head := fmt.Sprintf("%s%s  %s: %s", indent, where, c.author(m.User), lines[0])
	var b strings.Builder
	b.WriteString(padTag(head, tag))
	body := indent + "    "
	for _, l := range lines[1:] {
		b.WriteString("\n" + body + l)
	}
	return b.String()
}

func padTag(line, tag string) string {
	w := utf8.RuneCountInString(line)
	if w < tagColumn {
		return line + strings.Repeat(" ", tagColumn-w) + tag
	}
	return line + "  " + tag
}

// renderBlocksLocked renders text or blocks as lines plus numbered button
// lines; ref builds the reference a numbered button points to.
func (c *console) renderBlocksLocked(text string, raw json.RawMessage, ref func(slacksim.Button) buttonRef) []string {
	var blocks []map[string]any
	if len(raw) == 0 || json.Unmarshal(raw, &blocks) != nil || len(blocks) == 0 {
		return splitLines(c.plain(text))
	}
	var lines []string
	flushButtons := func(bs []slacksim.Button) {
		if len(bs) == 0 {
			return
		}
		var parts []string
		for _, b := range bs {
			n := c.addButtonLocked(ref(b))
			label := fmt.Sprintf("[%d] %s", n, c.plain(b.Text))
			if b.URL != "" {
				label += " (" + b.URL + ")"
			}
			parts = append(parts, label)
		}
		lines = append(lines, "  "+strings.Join(parts, "   "))
	}
	for _, b := range blocks {
		blockID, _ := b["block_id"].(string)
		switch b["type"] {
		case "header":
			lines = append(lines, strings.ToUpper(c.plain(textOf(b["text"]))))
		case "section":
			lines = append(lines, splitLines(c.plain(textOf(b["text"])))...)
			if fs, ok := b["fields"].([]any); ok {
				for i := 0; i < len(fs); i += 2 {
					row := c.plain(textOf(fs[i]))
					if i+1 < len(fs) {
						row += "    " + c.plain(textOf(fs[i+1]))
					}
					lines = append(lines, splitLines(row)...)
				}
			}
			if acc, ok := b["accessory"].(map[string]any); ok {
				if acc["type"] == "button" {
					flushButtons([]slacksim.Button{elementButton(blockID, acc)})
				} else if s := c.elementText(acc); s != "" {
					lines = append(lines, "  "+s)
				}
			}
		case "context":
			var parts []string
			els, _ := b["elements"].([]any)
			for _, e := range els {
				if em, ok := e.(map[string]any); ok && em["type"] == "image" {
					alt, _ := em["alt_text"].(string)
					parts = append(parts, "["+alt+"]")
					continue
				}
				parts = append(parts, c.plain(textOf(e)))
			}
			lines = append(lines, splitLines(strings.Join(parts, " · "))...)
		case "divider":
			lines = append(lines, "────────")
		case "image":
			alt, _ := b["alt_text"].(string)
			lines = append(lines, "[image: "+alt+"]")
		case "actions":
			var bs []slacksim.Button
			els, _ := b["elements"].([]any)
			var others []string
			for _, e := range els {
				em, _ := e.(map[string]any)
				if em == nil {
					continue
				}
				if em["type"] == "button" {
					bs = append(bs, elementButton(blockID, em))
				} else if s := c.elementText(em); s != "" {
					others = append(others, s)
				}
			}
			flushButtons(bs)
			if len(others) > 0 {
				lines = append(lines, "  "+strings.Join(others, "   "))
			}
		case "input":
			label := textOf(b["label"])
			el, _ := b["element"].(map[string]any)
			lines = append(lines, fmt.Sprintf("%s: %s", label, c.elementText(el)))
		case "markdown":
			t, _ := b["text"].(string)
			lines = append(lines, splitLines(c.plain(t))...)
		case "rich_text":
			var sb strings.Builder
			c.richText(b["elements"], &sb)
			lines = append(lines, splitLines(sb.String())...)
		}
	}
	if len(lines) == 0 {
		lines = splitLines(c.plain(text))
	}
	return lines
}

func elementButton(blockID string, e map[string]any) slacksim.Button {
	str := func(k string) string { s, _ := e[k].(string); return s }
	return slacksim.Button{ActionID: str("action_id"), BlockID: blockID, Value: str("value"), Text: textOf(e["text"]), Style: str("style"), URL: str("url")}
}

// elementText describes a non-button element briefly.
func (c *console) elementText(e map[string]any) string {
	if e == nil {
		return ""
	}
	typ, _ := e["type"].(string)
	ph := textOf(e["placeholder"])
	if ph == "" {
		ph = typ
	}
	if opts := optionTexts(e); opts != "" {
		return fmt.Sprintf("[%s: %s]", ph, opts)
	}
	return "[" + ph + "]"
}

func optionTexts(e map[string]any) string {
	var out []string
	add := func(raw any) {
		list, _ := raw.([]any)
		for _, o := range list {
			om, _ := o.(map[string]any)
			if om == nil {
				continue
			}
			v, _ := om["value"].(string)
			t := textOf(om["text"])
			if t == v || v == "" {
				out = append(out, t)
			} else {
				out = append(out, v+"="+t)
			}
		}
	}
	add(e["options"])
	if gs, ok := e["option_groups"].([]any); ok {
		for _, g := range gs {
			if gm, ok := g.(map[string]any); ok {
				add(gm["options"])
			}
		}
	}
	return strings.Join(out, ", ")
}

func (c *console) richText(v any, sb *strings.Builder) {
	switch t := v.(type) {
	case []any:
		for _, e := range t {
			c.richText(e, sb)
		}
	case map[string]any:
		switch t["type"] {
		case "text":
			s, _ := t["text"].(string)
			sb.WriteString(s)
		case "link":
			u, _ := t["url"].(string)
			if s, _ := t["text"].(string); s != "" {
				sb.WriteString(s + " (" + u + ")")
			} else {
				sb.WriteString(u)
			}
		case "user":
			id, _ := t["user_id"].(string)
			sb.WriteString(c.userLabel(id))
		case "channel":
			id, _ := t["channel_id"].(string)
			sb.WriteString(c.channelLabel(id))
		case "emoji":
			n, _ := t["name"].(string)
			sb.WriteString(":" + n + ":")
		case "rich_text_list", "rich_text_section", "rich_text_preformatted", "rich_text_quote":
			c.richText(t["elements"], sb)
			sb.WriteString("\n")
		default:
			c.richText(t["elements"], sb)
		}
	}
}

func textOf(v any) string {
	m, _ := v.(map[string]any)
	s, _ := m["text"].(string)
	return s
}

func splitLines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

var mrkdwnToken = regexp.MustCompile(`<([^<>]+)>`)

// plain renders Slack mrkdwn as readable text: user and channel mentions by
// name, date tokens by their fallback, links as "text (url)".
func (c *console) plain(s string) string {
	s = mrkdwnToken.ReplaceAllStringFunc(s, func(tok string) string {
		inner := tok[1 : len(tok)-1]
		body, label, hasLabel := strings.Cut(inner, "|")
		switch {
		case strings.HasPrefix(body, "@"):
			if hasLabel {
				return "@" + strings.TrimPrefix(label, "@")
			}
			return c.userLabel(body[1:])
		case strings.HasPrefix(body, "#"):
			if hasLabel {
				return "#" + label
			}
			return c.channelLabel(body[1:])
		case strings.HasPrefix(body, "!date^"):
			if hasLabel {
				return label
			}
			return body
		case strings.HasPrefix(body, "!subteam^"):
			if hasLabel {
				return label
			}
			return "@group"
		case strings.HasPrefix(body, "!"):
			return "@" + strings.TrimPrefix(body, "!")
		case hasLabel:
			return label + " (" + body + ")"
		default:
			return body
		}
	})
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
}

// renderView prints a modal or App Home with its inputs and buttons.
func (c *console) renderView(v *slacksim.View) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var def map[string]any
	_ = json.Unmarshal(v.Raw, &def)
	owner := ""
	if v.User != c.user {
		owner = " for " + c.userLabel(v.User)
	}
	if v.Type == "home" {
		lines := c.viewBodyLocked(v, def)
		return fmt.Sprintf("[home%s]\n%s", owner, indentLines(lines))
	}
	title := textOf(def["title"])
	if v.Closed {
		return fmt.Sprintf("[modal %q%s closed]", title, owner)
	}
	lines := c.viewBodyLocked(v, def)
	var b strings.Builder
	fmt.Fprintf(&b, "[modal %q%s]", title, owner)
	if len(lines) > 0 {
		b.WriteString("\n" + indentLines(lines))
	}
	var actions []string
	if submit := textOf(def["submit"]); submit != "" {
		actions = append(actions, "submit ("+submit+")")
	}
	actions = append(actions, "cancel")
	b.WriteString("\n  → set FIELD VALUE, " + strings.Join(actions, ", "))
	return b.String()
}

func indentLines(lines []string) string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = "  " + l
	}
	return strings.Join(out, "\n")
}

// viewBodyLocked renders a view's blocks; inputs show their current value.
func (c *console) viewBodyLocked(v *slacksim.View, def map[string]any) []string {
	blocks, _ := def["blocks"].([]any)
	var lines []string
	for _, raw := range blocks {
		b, _ := raw.(map[string]any)
		if b == nil {
			continue
		}
		if b["type"] == "input" {
			lines = append(lines, c.inputLineLocked(v, b)...)
			continue
		}
		one, _ := json.Marshal([]any{b})
		ls := c.renderBlocksLocked("", one, func(btn slacksim.Button) buttonRef {
			return buttonRef{viewID: v.ID, actionID: btn.ActionID, text: btn.Text}
		})
		lines = append(lines, ls...)
	}
	return lines
}

func (c *console) inputLineLocked(v *slacksim.View, b map[string]any) []string {
	blockID, _ := b["block_id"].(string)
	label := textOf(b["label"])
	el, _ := b["element"].(map[string]any)
	actionID, _ := el["action_id"].(string)
	typ, _ := el["type"].(string)
	value, set := c.values[v.ID][blockID+"."+actionID]
	if !set {
		value = initialValue(el)
	}
	opt := ""
	if o, _ := b["optional"].(bool); o {
		opt = " (optional)"
	}
	line := fmt.Sprintf("%s (%s)%s = %q", blockID, label, opt, value)
	if opts := optionTexts(el); opts != "" {
		line += "   options: " + opts
	} else if typ != "plain_text_input" {
		line += "   [" + typ + "]"
	}
	out := []string{line}
	if msg, ok := v.Errors[blockID]; ok {
		out = append(out, "  ! "+msg)
	}
	return out
}

func initialValue(el map[string]any) string {
	if s, ok := el["initial_value"].(string); ok {
		return s
	}
	for _, k := range []string{"initial_user", "initial_date", "initial_time", "initial_conversation", "initial_channel"} {
		if s, ok := el[k].(string); ok {
			return s
		}
	}
	if o, ok := el["initial_option"].(map[string]any); ok {
		s, _ := o["value"].(string)
		return s
	}
	if os, ok := el["initial_options"].([]any); ok {
		var vals []string
		for _, o := range os {
			if om, ok := o.(map[string]any); ok {
				s, _ := om["value"].(string)
				vals = append(vals, s)
			}
		}
		return strings.Join(vals, ",")
	}
	return ""
}
