package slacksim

import (
	"encoding/json"
	"strings"
	"time"
)

// Message is a message as the workspace shows it.
type Message struct {
	Channel, TS, ThreadTS, User, Text string
	Blocks                            json.RawMessage
	// Ephemeral marks a message only EphemeralTo sees (chat.postEphemeral,
	// a slash command ack payload, an ephemeral response_url answer).
	Ephemeral   bool
	EphemeralTo string
	DMTo        string // set when Channel is a DM channel (D…)
	Updates     int    // number of chat.update calls (or replace_original) applied
	Deleted     bool
	// InReplyTo is the slash command envelope whose response_url posted
	// this message, "" otherwise; At is the wall-clock time it was posted.
	// Benchmarks use both to time answers.
	InReplyTo string
	At        time.Time
}

// Button is a button element of a message or view.
type Button struct{ ActionID, BlockID, Value, Text, Style, URL string }

func (m *Message) clone() *Message {
	c := *m
	return &c
}

// Buttons returns every button in actions blocks and section accessories, in order.
func (m *Message) Buttons() []Button { return buttonsIn(m.Blocks) }

// AllText returns the message text followed by every text in its blocks,
// one per line, for assertions and display.
func (m *Message) AllText() string {
	parts := []string{}
	if m.Text != "" {
		parts = append(parts, m.Text)
	}
	var blocks any
	if len(m.Blocks) > 0 && json.Unmarshal(m.Blocks, &blocks) == nil {
		collectText(blocks, &parts)
	}
	return strings.Join(parts, "\n")
}

// collectText appends every "text" string found in v (text objects, rich
// text elements) in document order.
func collectText(v any, out *[]string) {
	switch t := v.(type) {
	case []any:
		for _, e := range t {
			collectText(e, out)
		}
	case map[string]any:
		if s, ok := t["text"].(string); ok && s != "" {
			*out = append(*out, s)
		}
		for _, k := range []string{"text", "title", "label", "fields", "elements", "accessory", "element", "options", "placeholder", "hint", "description"} {
			if k == "text" {
				if _, isStr := t[k].(string); isStr {
					continue
				}
			}
			if e, ok := t[k]; ok {
				collectText(e, out)
			}
		}
	}
}

// buttonsIn lists the buttons of a blocks array.
func buttonsIn(raw json.RawMessage) []Button {
	if len(raw) == 0 {
		return nil
	}
	var blocks []map[string]any
	if json.Unmarshal(raw, &blocks) != nil {
		return nil
	}
	var out []Button
	for _, b := range blocks {
		blockID, _ := b["block_id"].(string)
		switch b["type"] {
		case "actions":
			els, _ := b["elements"].([]any)
			for _, e := range els {
				if em, ok := e.(map[string]any); ok && em["type"] == "button" {
					out = append(out, buttonOf(blockID, em))
				}
			}
		case "section":
			if em, ok := b["accessory"].(map[string]any); ok && em["type"] == "button" {
				out = append(out, buttonOf(blockID, em))
			}
		}
	}
	return out
}

func buttonOf(blockID string, e map[string]any) Button {
	str := func(k string) string { s, _ := e[k].(string); return s }
	text := ""
	if t, ok := e["text"].(map[string]any); ok {
		text, _ = t["text"].(string)
	}
	return Button{ActionID: str("action_id"), BlockID: blockID, Value: str("value"), Text: text, Style: str("style"), URL: str("url")}
}

// findElement returns the button with actionID in blocks, with its raw element.
func findButton(raw json.RawMessage, actionID string) (Button, map[string]any, bool) {
	var blocks []map[string]any
	if json.Unmarshal(raw, &blocks) != nil {
		return Button{}, nil, false
	}
	for _, b := range blocks {
		blockID, _ := b["block_id"].(string)
		var els []any
		switch b["type"] {
		case "actions":
			els, _ = b["elements"].([]any)
		case "section":
			if a, ok := b["accessory"]; ok {
				els = []any{a}
			}
		}
		for _, e := range els {
			em, ok := e.(map[string]any)
			if ok && em["type"] == "button" && em["action_id"] == actionID {
				return buttonOf(blockID, em), em, true
			}
		}
	}
	return Button{}, nil, false
}
