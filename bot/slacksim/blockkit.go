package slacksim

import (
	"crypto/rand"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Block Kit limits (reference/slack.md §4).
const (
	maxMessageBlocks   = 50
	maxViewBlocks      = 100
	maxTextObject      = 3000
	maxSectionField    = 2000
	maxSectionFields   = 10
	maxHeader          = 150
	maxActionsElements = 25
	maxContextElements = 10
	maxButtonText      = 75
	maxButtonValue     = 2000
	maxURL             = 3000
	maxOptionText      = 75
	maxOptionValue     = 150
	maxCheckboxOptions = 10
	maxSelectOptions   = 100
	maxModalText       = 24
	maxPrivateMetadata = 3000
	maxCallbackID      = 255
	maxBlockID         = 255
	maxActionID        = 255
	maxLabel           = 2000
	maxPlaceholder     = 150
	maxMarkdownBlock   = 12000
	maxMessageText     = 40000
	maxViewBytes       = 250 * 1024
	maxAltText         = 2000
)

// validator collects Slack-style error messages for a Block Kit payload.
type validator struct {
	errs []string
}

func (v *validator) fail(ptr, format string, args ...any) {
	v.errs = append(v.errs, fmt.Sprintf("[ERROR] %s [json-pointer:%s]", fmt.Sprintf(format, args...), ptr))
}

func strLen(s string) int { return utf8.RuneCountInString(s) }

// checkLen reports a string field over max characters.
func (v *validator) checkLen(ptr string, s string, max int) {
	if strLen(s) > max {
		v.fail(ptr, "must be less than %d characters", max+1)
	}
}

// textObject validates a text object; types restricts the allowed types.
func (v *validator) textObject(ptr string, t any, max int, types ...string) {
	m, ok := t.(map[string]any)
	if !ok {
		v.fail(ptr, "must be a text object")
		return
	}
	typ, _ := m["type"].(string)
	if len(types) == 0 {
		types = []string{"plain_text", "mrkdwn"}
	}
	allowed := false
	for _, a := range types {
		if typ == a {
			allowed = true
		}
	}
	if !allowed {
		v.fail(ptr+"/type", "must be one of %s", strings.Join(types, ", "))
	}
	text, ok := m["text"].(string)
	if !ok {
		v.fail(ptr, "missing required field: text")
		return
	}
	if text == "" {
		v.fail(ptr+"/text", "must be more than 0 characters")
		return
	}
	v.checkLen(ptr+"/text", text, max)
}

// surface is where blocks live: "message", "modal" or "home".
func (v *validator) blocks(ptr string, raw any, surface string) {
	blocks, ok := raw.([]any)
	if !ok {
		v.fail(ptr, "must be an array")
		return
	}
	max := maxViewBlocks
	if surface == "message" {
		max = maxMessageBlocks
	}
	if len(blocks) > max {
		v.fail(ptr, "no more than %d items allowed", max)
	}
	seen := map[string]bool{}
	for i, b := range blocks {
		bp := fmt.Sprintf("%s/%d", ptr, i)
		bm, ok := b.(map[string]any)
		if !ok {
			v.fail(bp, "must be an object")
			continue
		}
		if id, ok := bm["block_id"].(string); ok {
			if id == "" || strLen(id) > maxBlockID {
				v.fail(bp+"/block_id", "must be between 1 and %d characters", maxBlockID)
			}
			if seen[id] {
				v.fail(bp+"/block_id", "duplicate block_id %q", id)
			}
			seen[id] = true
		}
		v.block(bp, bm, surface)
	}
}

func (v *validator) block(ptr string, b map[string]any, surface string) {
	typ, ok := b["type"].(string)
	if !ok {
		v.fail(ptr, "missing required field: type")
		return
	}
	switch typ {
	case "section":
		text, hasText := b["text"]
		fields, hasFields := b["fields"]
		if !hasText && !hasFields {
			v.fail(ptr, "missing required field: text")
		}
		if hasText {
			v.textObject(ptr+"/text", text, maxTextObject)
		}
		if hasFields {
			fs, ok := fields.([]any)
			if !ok {
				v.fail(ptr+"/fields", "must be an array")
			} else {
				if len(fs) > maxSectionFields {
					v.fail(ptr+"/fields", "no more than %d items allowed", maxSectionFields)
				}
				for i, f := range fs {
					v.textObject(fmt.Sprintf("%s/fields/%d", ptr, i), f, maxSectionField)
				}
			}
		}
		if acc, ok := b["accessory"]; ok {
			v.element(ptr+"/accessory", acc, surface)
		}
	case "header":
		text, ok := b["text"]
		if !ok {
			v.fail(ptr, "missing required field: text")
		} else {
			v.textObject(ptr+"/text", text, maxHeader, "plain_text")
		}
	case "divider":
	case "actions":
		els, ok := b["elements"].([]any)
		if !ok {
			v.fail(ptr, "missing required field: elements")
			return
		}
		if len(els) == 0 {
			v.fail(ptr+"/elements", "must provide at least 1 items")
		}
		if len(els) > maxActionsElements {
			v.fail(ptr+"/elements", "no more than %d items allowed", maxActionsElements)
		}
		seen := map[string]bool{}
		for i, e := range els {
			ep := fmt.Sprintf("%s/elements/%d", ptr, i)
			if em, ok := e.(map[string]any); ok {
				if id, ok := em["action_id"].(string); ok {
					if seen[id] {
						v.fail(ep+"/action_id", "duplicate action_id %q", id)
					}
					seen[id] = true
				}
			}
			v.element(ep, e, surface)
		}
	case "context":
		els, ok := b["elements"].([]any)
		if !ok {
			v.fail(ptr, "missing required field: elements")
			return
		}
		if len(els) == 0 {
			v.fail(ptr+"/elements", "must provide at least 1 items")
		}
		if len(els) > maxContextElements {
			v.fail(ptr+"/elements", "no more than %d items allowed", maxContextElements)
		}
		for i, e := range els {
			ep := fmt.Sprintf("%s/elements/%d", ptr, i)
			em, _ := e.(map[string]any)
			if em != nil && em["type"] == "image" {
				v.image(ep, em)
			} else {
				v.textObject(ep, e, maxTextObject)
			}
		}
	case "image":
		v.image(ptr, b)
	case "input":
		label, ok := b["label"]
		if !ok {
			v.fail(ptr, "missing required field: label")
		} else {
			v.textObject(ptr+"/label", label, maxLabel, "plain_text")
		}
		if hint, ok := b["hint"]; ok {
			v.textObject(ptr+"/hint", hint, maxLabel, "plain_text")
		}
		el, ok := b["element"]
		if !ok {
			v.fail(ptr, "missing required field: element")
		} else {
			v.element(ptr+"/element", el, surface)
		}
	case "markdown":
		text, ok := b["text"].(string)
		if !ok || text == "" {
			v.fail(ptr, "missing required field: text")
		} else {
			v.checkLen(ptr+"/text", text, maxMarkdownBlock)
		}
	case "rich_text":
		if _, ok := b["elements"].([]any); !ok {
			v.fail(ptr, "missing required field: elements")
		}
	case "file", "video", "table":
	default:
		v.fail(ptr+"/type", "unsupported type: %s", typ)
	}
}

func (v *validator) image(ptr string, m map[string]any) {
	url, hasURL := m["image_url"].(string)
	_, hasFile := m["slack_file"]
	if !hasURL && !hasFile {
		v.fail(ptr, "missing required field: image_url")
	}
	if hasURL {
		v.checkLen(ptr+"/image_url", url, maxURL)
	}
	alt, ok := m["alt_text"].(string)
	if !ok {
		v.fail(ptr, "missing required field: alt_text")
	} else {
		v.checkLen(ptr+"/alt_text", alt, maxAltText)
	}
}

func (v *validator) element(ptr string, raw any, surface string) {
	e, ok := raw.(map[string]any)
	if !ok {
		v.fail(ptr, "must be an object")
		return
	}
	typ, ok := e["type"].(string)
	if !ok {
		v.fail(ptr, "missing required field: type")
		return
	}
	if id, ok := e["action_id"].(string); ok && (id == "" || strLen(id) > maxActionID) {
		v.fail(ptr+"/action_id", "must be between 1 and %d characters", maxActionID)
	}
	if ph, ok := e["placeholder"]; ok {
		v.textObject(ptr+"/placeholder", ph, maxPlaceholder, "plain_text")
	}
	switch typ {
	case "button":
		text, ok := e["text"]
		if !ok {
			v.fail(ptr, "missing required field: text")
		} else {
			v.textObject(ptr+"/text", text, maxButtonText, "plain_text")
		}
		if val, ok := e["value"].(string); ok {
			v.checkLen(ptr+"/value", val, maxButtonValue)
		}
		if url, ok := e["url"].(string); ok {
			v.checkLen(ptr+"/url", url, maxURL)
		}
		if st, ok := e["style"].(string); ok && st != "primary" && st != "danger" {
			v.fail(ptr+"/style", "must be one of primary, danger")
		}
	case "checkboxes", "radio_buttons":
		v.options(ptr, e, 1, maxCheckboxOptions, true)
	case "static_select", "multi_static_select":
		if _, groups := e["option_groups"]; groups {
			gs, _ := e["option_groups"].([]any)
			if len(gs) > maxSelectOptions {
				v.fail(ptr+"/option_groups", "no more than %d items allowed", maxSelectOptions)
			}
			for i, g := range gs {
				gm, _ := g.(map[string]any)
				if gm == nil {
					v.fail(fmt.Sprintf("%s/option_groups/%d", ptr, i), "must be an object")
					continue
				}
				v.options(fmt.Sprintf("%s/option_groups/%d", ptr, i), gm, 1, maxSelectOptions, false)
			}
		} else {
			v.options(ptr, e, 1, maxSelectOptions, false)
		}
	case "overflow":
		v.options(ptr, e, 1, 5, false)
	case "plain_text_input", "users_select", "multi_users_select", "conversations_select",
		"multi_conversations_select", "channels_select", "multi_channels_select", "datepicker",
		"timepicker", "datetimepicker", "number_input", "email_text_input", "url_text_input",
		"external_select", "multi_external_select", "rich_text_input", "file_input":
		if typ == "plain_text_input" {
			if iv, ok := e["initial_value"].(string); ok {
				v.checkLen(ptr+"/initial_value", iv, maxTextObject)
			}
		}
	case "image":
		v.image(ptr, e)
	default:
		v.fail(ptr+"/type", "unsupported type: %s", typ)
	}
}

// options validates an element's options: between min and max, text and
// value limits. mrkdwn option text is allowed only for checkboxes and radios.
func (v *validator) options(ptr string, e map[string]any, min, max int, mrkdwn bool) {
	raw, ok := e["options"]
	if !ok {
		v.fail(ptr, "missing required field: options")
		return
	}
	opts, ok := raw.([]any)
	if !ok {
		v.fail(ptr+"/options", "must be an array")
		return
	}
	if len(opts) < min {
		v.fail(ptr+"/options", "must provide at least %d items", min)
	}
	if len(opts) > max {
		v.fail(ptr+"/options", "no more than %d items allowed", max)
	}
	types := []string{"plain_text"}
	if mrkdwn {
		types = append(types, "mrkdwn")
	}
	for i, o := range opts {
		op := fmt.Sprintf("%s/options/%d", ptr, i)
		om, ok := o.(map[string]any)
		if !ok {
			v.fail(op, "must be an object")
			continue
		}
		if t, ok := om["text"]; ok {
			v.textObject(op+"/text", t, maxOptionText, types...)
		} else {
			v.fail(op, "missing required field: text")
		}
		val, ok := om["value"].(string)
		if !ok {
			v.fail(op, "missing required field: value")
		} else {
			v.checkLen(op+"/value", val, maxOptionValue)
		}
		if d, ok := om["description"]; ok {
			v.textObject(op+"/description", d, maxOptionText, types...)
		}
	}
}

// view validates a view object; kind is "modal" or "home".
func (v *validator) view(ptr string, m map[string]any, kind string) {
	typ, _ := m["type"].(string)
	if typ != kind {
		v.fail(ptr+"/type", "must be %s", kind)
	}
	if kind == "modal" {
		title, ok := m["title"]
		if !ok {
			v.fail(ptr, "missing required field: title")
		} else {
			v.textObject(ptr+"/title", title, maxModalText, "plain_text")
		}
	}
	for _, k := range []string{"submit", "close"} {
		if t, ok := m[k]; ok && t != nil {
			v.textObject(ptr+"/"+k, t, maxModalText, "plain_text")
		}
	}
	if pm, ok := m["private_metadata"].(string); ok {
		v.checkLen(ptr+"/private_metadata", pm, maxPrivateMetadata)
	}
	if cb, ok := m["callback_id"].(string); ok {
		v.checkLen(ptr+"/callback_id", cb, maxCallbackID)
	}
	blocks, ok := m["blocks"]
	if !ok || blocks == nil {
		if kind == "modal" {
			v.fail(ptr, "missing required field: blocks")
		}
		return
	}
	v.blocks(ptr+"/blocks", blocks, kind)
	if kind == "modal" && m["submit"] == nil {
		if bs, ok := blocks.([]any); ok {
			for i, b := range bs {
				if bm, ok := b.(map[string]any); ok && bm["type"] == "input" {
					v.fail(fmt.Sprintf("%s/blocks/%d", ptr, i), "input blocks require the view to have a submit button")
					break
				}
			}
		}
	}
}

// normalizeBlocks gives every block a block_id and every interactive element
// an action_id, as Slack does when it stores a message or view.
func normalizeBlocks(raw any) {
	blocks, _ := raw.([]any)
	for _, b := range blocks {
		bm, ok := b.(map[string]any)
		if !ok {
			continue
		}
		if _, ok := bm["block_id"].(string); !ok {
			bm["block_id"] = randBlockID()
		}
		var els []any
		switch bm["type"] {
		case "actions":
			els, _ = bm["elements"].([]any)
		case "section":
			if a, ok := bm["accessory"]; ok {
				els = []any{a}
			}
		case "input":
			if a, ok := bm["element"]; ok {
				els = []any{a}
			}
		}
		for _, e := range els {
			if em, ok := e.(map[string]any); ok && em["type"] != "image" {
				if _, ok := em["action_id"].(string); !ok {
					em["action_id"] = randBlockID()
				}
			}
		}
	}
}

func randBlockID() string {
	const alpha = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	id := make([]byte, 5)
	_, _ = rand.Read(id)
	for i := range id {
		id[i] = alpha[int(id[i])%len(alpha)]
	}
	return string(id)
}
