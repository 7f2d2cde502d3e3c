package slacksim

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

func (s *Server) teamJSON() map[string]any { return map[string]any{"id": TeamID, "domain": TeamDomain} }

func (s *Server) newTriggerLocked(user, viewID string) string {
	now := s.now()
	id := fmt.Sprintf("%d.%d.%s", now.Unix(), now.Nanosecond()%1e6, randHex(16))
	s.triggers[id] = &trigger{user: user, issued: now, viewID: viewID}
	return id
}

func (s *Server) newResponseURLLocked(user, channel, sourceTS string) (string, string) {
	id := randHex(12)
	s.responses[id] = &responseURL{user: user, channel: channel, sourceTS: sourceTS, issued: s.now()}
	return id, s.base + "/response/" + id
}

func (s *Server) actionTSLocked() string {
	now := s.now()
	return fmt.Sprintf("%d.%06d", now.Unix(), now.Nanosecond()/1000)
}

func (s *Server) knownUserLocked(user string) error {
	if _, ok := s.users[user]; !ok {
		return fmt.Errorf("slacksim: unknown user %q", user)
	}
	return nil
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("slacksim: encode payload: %v", err)) // only maps of JSON values are encoded
	}
	return b
}

// SlashCommand sends a slash_commands envelope as user typed command text in channel.
func (s *Server) SlashCommand(user, channel, command, text string) (string, error) {
	s.mu.Lock()
	if err := s.knownUserLocked(user); err != nil {
		s.mu.Unlock()
		return "", err
	}
	ch, ok := s.resolveChannelLocked(channel)
	if !ok {
		s.mu.Unlock()
		return "", fmt.Errorf("slacksim: unknown channel %q", channel)
	}
	if !strings.HasPrefix(command, "/") || len(command) < 2 {
		s.mu.Unlock()
		return "", fmt.Errorf("slacksim: command %q must start with /", command)
	}
	respID, respURL := s.newResponseURLLocked(user, ch, "")
	payload := map[string]any{
		"token": verificationToken, "team_id": TeamID, "team_domain": TeamDomain,
		"channel_id": ch, "channel_name": s.channelNameLocked(ch),
		"user_id": user, "user_name": s.users[user].Name,
		"command": command, "text": text, "api_app_id": AppID,
		// slack-go fails to parse "" here and never acks (reference/slack.md §2.3).
		"is_enterprise_install": "false",
		"response_url":          respURL, "trigger_id": s.newTriggerLocked(user, ""),
	}
	se := &sentEnvelope{
		env:  Envelope{EnvelopeID: newEnvelopeID(), Type: "slash_commands", AcceptsResponsePayload: true, Payload: mustJSON(payload)},
		kind: "slash", user: user, channel: ch, respID: respID, command: command,
	}
	s.responses[respID].envelope = se.env.EnvelopeID
	s.mu.Unlock()
	return s.dispatch(se)
}

func buttonAction(b Button, el map[string]any, actionTS string) map[string]any {
	a := map[string]any{"type": "button", "action_id": b.ActionID, "block_id": b.BlockID, "action_ts": actionTS}
	if t, ok := el["text"]; ok {
		a["text"] = t
	}
	for _, k := range []string{"value", "style", "url"} {
		if v, ok := el[k]; ok {
			a[k] = v
		}
	}
	return a
}

// Click presses the button actionID of a message (channel, ephemeral or
// response_url message) as user and sends the block_actions envelope.
func (s *Server) Click(user string, msg *Message, actionID string) (string, error) {
	if msg == nil {
		return "", errors.New("slacksim: click on a nil message")
	}
	s.mu.Lock()
	se, err := s.clickLocked(user, msg, actionID)
	s.mu.Unlock()
	if err != nil {
		return "", err
	}
	return s.dispatch(se)
}

func (s *Server) clickLocked(user string, msg *Message, actionID string) (*sentEnvelope, error) {
	if err := s.knownUserLocked(user); err != nil {
		return nil, err
	}
	m, ok := s.byTS[msg.TS]
	if !ok || m.Channel != msg.Channel {
		return nil, fmt.Errorf("slacksim: no message %s in %s", msg.TS, msg.Channel)
	}
	if m.Deleted {
		return nil, fmt.Errorf("slacksim: message %s was deleted", m.TS)
	}
	if m.Ephemeral && m.EphemeralTo != user {
		return nil, fmt.Errorf("slacksim: ephemeral message %s is visible only to %s", m.TS, m.EphemeralTo)
	}
	b, el, ok := findButton(m.Blocks, actionID)
	if !ok {
		return nil, fmt.Errorf("slacksim: message %s has no button %q", m.TS, actionID)
	}
	respID, respURL := s.newResponseURLLocked(user, m.Channel, m.TS)
	container := map[string]any{"type": "message", "message_ts": m.TS, "channel_id": m.Channel, "is_ephemeral": m.Ephemeral}
	if m.ThreadTS != "" {
		container["thread_ts"] = m.ThreadTS
	}
	payload := map[string]any{
		"type": "block_actions", "api_app_id": AppID, "token": verificationToken,
		"user": s.userObjectLocked(user), "team": s.teamJSON(),
		"enterprise": nil, "is_enterprise_install": false,
		"container":    container,
		"channel":      map[string]any{"id": m.Channel, "name": s.channelNameLocked(m.Channel)},
		"trigger_id":   s.newTriggerLocked(user, ""),
		"response_url": respURL,
		"state":        map[string]any{"values": map[string]any{}},
		"actions":      []any{buttonAction(b, el, s.actionTSLocked())},
	}
	// Slack leaves the message out of actions on ephemeral messages.
	if !m.Ephemeral {
		payload["message"] = s.messageJSONLocked(m)
	}
	return &sentEnvelope{
		env:  Envelope{EnvelopeID: newEnvelopeID(), Type: "interactive", Payload: mustJSON(payload)},
		kind: "block_actions", user: user, channel: m.Channel, respID: respID,
	}, nil
}

// openViewLocked finds an open modal of user or user's App Home.
func (s *Server) openViewLocked(user, viewID string) (*view, error) {
	if err := s.knownUserLocked(user); err != nil {
		return nil, err
	}
	v, ok := s.views[viewID]
	if !ok {
		return nil, fmt.Errorf("slacksim: no view %s", viewID)
	}
	if v.User != user {
		return nil, fmt.Errorf("slacksim: view %s belongs to %s, not %s", viewID, v.User, user)
	}
	if v.Closed {
		return nil, fmt.Errorf("slacksim: view %s is closed", viewID)
	}
	return v, nil
}

// ClickView presses the button actionID inside an open modal or the App Home.
func (s *Server) ClickView(user, viewID, actionID string) (string, error) {
	s.mu.Lock()
	v, err := s.openViewLocked(user, viewID)
	if err != nil {
		s.mu.Unlock()
		return "", err
	}
	blocks, _ := json.Marshal(v.def["blocks"])
	b, el, ok := findButton(blocks, actionID)
	if !ok {
		s.mu.Unlock()
		return "", fmt.Errorf("slacksim: view %s has no button %q", viewID, actionID)
	}
	payload := map[string]any{
		"type": "block_actions", "api_app_id": AppID, "token": verificationToken,
		"user": s.userObjectLocked(user), "team": s.teamJSON(),
		"enterprise": nil, "is_enterprise_install": false,
		"container":  map[string]any{"type": "view", "view_id": v.ID},
		"trigger_id": s.newTriggerLocked(user, v.ID),
		"view":       s.fullViewLocked(v, map[string]any{}),
		"actions":    []any{buttonAction(b, el, s.actionTSLocked())},
	}
	se := &sentEnvelope{
		env:  Envelope{EnvelopeID: newEnvelopeID(), Type: "interactive", Payload: mustJSON(payload)},
		kind: "block_actions", user: user, viewID: v.ID,
	}
	s.mu.Unlock()
	return s.dispatch(se)
}

// SubmitView submits the user's open modal viewID. values are keyed by
// "block_id" or "block_id.action_id"; checkboxes and multi-selects take a
// comma-separated list of option values (or texts). Inputs not in values keep
// their initial value or are sent empty, as Slack does; a required input left
// empty is refused the way the Slack client refuses it.
func (s *Server) SubmitView(user, viewID string, values map[string]string) (string, error) {
	s.mu.Lock()
	v, err := s.openViewLocked(user, viewID)
	if err != nil {
		s.mu.Unlock()
		return "", err
	}
	if v.Type != "modal" {
		s.mu.Unlock()
		return "", fmt.Errorf("slacksim: view %s is a %s, not a modal", viewID, v.Type)
	}
	if v.def["submit"] == nil {
		s.mu.Unlock()
		return "", fmt.Errorf("slacksim: view %s has no submit button", viewID)
	}
	merged, err := mergeInputs(v, values)
	if err != nil {
		s.mu.Unlock()
		return "", err
	}
	state, err := s.buildStateLocked(v, merged)
	if err != nil {
		s.mu.Unlock()
		return "", err
	}
	v.inputs = merged
	payload := map[string]any{
		"type": "view_submission", "api_app_id": AppID, "token": verificationToken,
		"trigger_id": s.newTriggerLocked(user, v.ID),
		"team":       s.teamJSON(), "user": s.userObjectLocked(user),
		"enterprise": nil, "is_enterprise_install": false, "response_urls": []any{},
		"view": s.fullViewLocked(v, state),
	}
	se := &sentEnvelope{
		env:  Envelope{EnvelopeID: newEnvelopeID(), Type: "interactive", AcceptsResponsePayload: true, Payload: mustJSON(payload)},
		kind: "view_submission", user: user, viewID: v.ID,
	}
	s.mu.Unlock()
	return s.dispatch(se)
}

// CloseView closes the user's modal viewID (and any modal pushed above it),
// sending view_closed when the view asked for notify_on_close.
func (s *Server) CloseView(user, viewID string) error {
	s.mu.Lock()
	v, err := s.openViewLocked(user, viewID)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	if v.Type != "modal" {
		s.mu.Unlock()
		return fmt.Errorf("slacksim: view %s is a %s, not a modal", viewID, v.Type)
	}
	notify, _ := v.def["notify_on_close"].(bool)
	full := s.fullViewLocked(v, map[string]any{})
	s.closeViewLocked(user, viewID)
	s.notifyLocked(nil)
	if !notify {
		s.mu.Unlock()
		return nil
	}
	payload := map[string]any{
		"type": "view_closed", "api_app_id": AppID, "token": verificationToken,
		"team": s.teamJSON(), "user": s.userObjectLocked(user), "view": full,
		"is_cleared": false, "enterprise": nil, "is_enterprise_install": false,
	}
	se := &sentEnvelope{
		env:  Envelope{EnvelopeID: newEnvelopeID(), Type: "interactive", Payload: mustJSON(payload)},
		kind: "view_closed", user: user, viewID: viewID,
	}
	s.mu.Unlock()
	_, err = s.dispatch(se)
	return err
}

func (s *Server) eventEnvelopeLocked(event map[string]any) Envelope {
	now := s.now()
	payload := map[string]any{
		"token": verificationToken, "team_id": TeamID, "api_app_id": AppID,
		"type": "event_callback", "event_id": randID("Ev", 10), "event_time": now.Unix(),
		"is_ext_shared_channel": false, "event": event,
		"authorizations": []any{map[string]any{"enterprise_id": nil, "team_id": TeamID,
			"user_id": s.botID, "is_bot": true, "is_enterprise_install": false}},
	}
	return Envelope{EnvelopeID: newEnvelopeID(), Type: "events_api", Payload: mustJSON(payload)}
}

// OpenHome sends the app_home_opened event for user opening the Home tab.
func (s *Server) OpenHome(user string) (string, error) {
	s.mu.Lock()
	if err := s.knownUserLocked(user); err != nil {
		s.mu.Unlock()
		return "", err
	}
	event := map[string]any{"type": "app_home_opened", "user": user, "channel": dmChannel(user),
		"tab": "home", "event_ts": s.actionTSLocked()}
	if id, ok := s.homes[user]; ok {
		event["view"] = s.fullViewLocked(s.views[id], map[string]any{})
	}
	se := &sentEnvelope{env: s.eventEnvelopeLocked(event), kind: "event", user: user}
	s.mu.Unlock()
	return s.dispatch(se)
}

// React sends reaction_added (add) or reaction_removed for user's emoji on a message.
func (s *Server) React(user, channel, ts, emoji string, add bool) (string, error) {
	s.mu.Lock()
	if err := s.knownUserLocked(user); err != nil {
		s.mu.Unlock()
		return "", err
	}
	ch, ok := s.resolveChannelLocked(channel)
	if !ok {
		s.mu.Unlock()
		return "", fmt.Errorf("slacksim: unknown channel %q", channel)
	}
	m, ok := s.byTS[ts]
	if !ok || m.Channel != ch || m.Deleted || m.Ephemeral {
		s.mu.Unlock()
		return "", fmt.Errorf("slacksim: no message %s in %s to react to", ts, ch)
	}
	emoji = strings.Trim(strings.TrimSpace(emoji), ":")
	if emoji == "" {
		s.mu.Unlock()
		return "", errors.New("slacksim: empty emoji")
	}
	typ := "reaction_removed"
	if add {
		typ = "reaction_added"
	}
	event := map[string]any{"type": typ, "user": user, "reaction": emoji, "item_user": m.User,
		"item": map[string]any{"type": "message", "channel": ch, "ts": m.TS}, "event_ts": s.actionTSLocked()}
	se := &sentEnvelope{env: s.eventEnvelopeLocked(event), kind: "event", user: user, channel: ch}
	s.mu.Unlock()
	return s.dispatch(se)
}

// inputField is one input block of a view.
type inputField struct {
	blockID, actionID, typ, label string
	optional                      bool
	el                            map[string]any
}

func inputFields(def map[string]any) []inputField {
	blocks, _ := def["blocks"].([]any)
	var out []inputField
	for _, b := range blocks {
		bm, _ := b.(map[string]any)
		if bm == nil || bm["type"] != "input" {
			continue
		}
		el, _ := bm["element"].(map[string]any)
		if el == nil {
			continue
		}
		f := inputField{el: el}
		f.blockID, _ = bm["block_id"].(string)
		f.actionID, _ = el["action_id"].(string)
		f.typ, _ = el["type"].(string)
		f.optional, _ = bm["optional"].(bool)
		if l, ok := bm["label"].(map[string]any); ok {
			f.label, _ = l["text"].(string)
		}
		out = append(out, f)
	}
	return out
}

func elementOptions(el map[string]any) []map[string]any {
	var out []map[string]any
	add := func(raw any) {
		list, _ := raw.([]any)
		for _, o := range list {
			if om, ok := o.(map[string]any); ok {
				out = append(out, om)
			}
		}
	}
	add(el["options"])
	groups, _ := el["option_groups"].([]any)
	for _, g := range groups {
		if gm, ok := g.(map[string]any); ok {
			add(gm["options"])
		}
	}
	return out
}

func matchOption(opts []map[string]any, want string) (map[string]any, bool) {
	want = strings.TrimSpace(want)
	for _, o := range opts {
		if o["value"] == want {
			return o, true
		}
	}
	for _, o := range opts {
		if t, ok := o["text"].(map[string]any); ok {
			if txt, _ := t["text"].(string); strings.EqualFold(txt, want) {
				return o, true
			}
		}
	}
	return nil, false
}

func (s *Server) matchUserLocked(v string) (string, bool) {
	v = strings.TrimSpace(v)
	v = strings.TrimSuffix(strings.TrimPrefix(v, "<@"), ">")
	v = strings.TrimPrefix(v, "@")
	if _, ok := s.users[v]; ok {
		return v, true
	}
	for _, id := range s.userOrder {
		u := s.users[id]
		if strings.EqualFold(u.Name, v) || strings.EqualFold(u.RealName, v) {
			return id, true
		}
	}
	return "", false
}

func splitList(v string) []string {
	var out []string
	for p := range strings.SplitSeq(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// mergeInputs combines what the user typed into the view before (the Slack
// client keeps input state across submissions that returned errors and
// across views.update when block and action IDs stay) with new values, keyed
// "block_id.action_id".
func mergeInputs(v *view, values map[string]string) (map[string]string, error) {
	fields := inputFields(v.def)
	merged := map[string]string{}
	for _, f := range fields {
		key := f.blockID + "." + f.actionID
		if old, ok := v.inputs[key]; ok {
			merged[key] = old
		}
	}
	var unknown []string
	for k, val := range values {
		i := slices.IndexFunc(fields, func(f inputField) bool { return k == f.blockID || k == f.blockID+"."+f.actionID })
		if i < 0 {
			unknown = append(unknown, k)
			continue
		}
		merged[fields[i].blockID+"."+fields[i].actionID] = val
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return nil, fmt.Errorf("slacksim: view %s has no input %s", v.ID, strings.Join(unknown, ", "))
	}
	return merged, nil
}

// buildStateLocked builds view.state.values for a submission.
func (s *Server) buildStateLocked(v *view, values map[string]string) (map[string]any, error) {
	fields := inputFields(v.def)
	state := map[string]any{}
	for _, f := range fields {
		key := f.blockID + "." + f.actionID
		raw, given := values[key]
		if !given {
			raw, given = values[f.blockID]
		}
		name := f.blockID
		if f.label != "" {
			name = fmt.Sprintf("%s (%s)", f.blockID, f.label)
		}
		st := map[string]any{"type": f.typ}
		empty := true
		switch f.typ {
		case "plain_text_input", "email_text_input", "url_text_input", "number_input":
			val := any(nil)
			if !given {
				if iv, ok := f.el["initial_value"].(string); ok && iv != "" {
					val, empty = iv, false
				}
			} else if raw != "" {
				val, empty = raw, false
				if min, ok := f.el["min_length"].(float64); ok && strLen(raw) < int(min) {
					return nil, fmt.Errorf("slacksim: %s needs at least %d characters", name, int(min))
				}
				if max, ok := f.el["max_length"].(float64); ok && strLen(raw) > int(max) {
					return nil, fmt.Errorf("slacksim: %s takes at most %d characters", name, int(max))
				}
			}
			st["value"] = val
		case "rich_text_input":
			val := any(nil)
			if given && raw != "" {
				empty = false
				val = map[string]any{"type": "rich_text", "elements": []any{map[string]any{
					"type": "rich_text_section", "elements": []any{map[string]any{"type": "text", "text": raw}}}}}
			}
			st["rich_text_value"] = val
		case "checkboxes", "multi_static_select":
			selected := []any{}
			if !given {
				if init, ok := f.el["initial_options"].([]any); ok {
					selected = init
				}
			} else {
				opts := elementOptions(f.el)
				for _, want := range splitList(raw) {
					o, ok := matchOption(opts, want)
					if !ok {
						return nil, fmt.Errorf("slacksim: %s has no option %q", name, want)
					}
					selected = append(selected, o)
				}
			}
			empty = len(selected) == 0
			st["selected_options"] = selected
		case "static_select", "radio_buttons":
			sel := any(nil)
			if !given {
				if init, ok := f.el["initial_option"].(map[string]any); ok {
					sel = init
				}
			} else if raw != "" {
				o, ok := matchOption(elementOptions(f.el), raw)
				if !ok {
					return nil, fmt.Errorf("slacksim: %s has no option %q", name, raw)
				}
				sel = o
			}
			empty = sel == nil
			st["selected_option"] = sel
		case "users_select":
			sel := any(nil)
			if !given {
				if init, ok := f.el["initial_user"].(string); ok && init != "" {
					sel = init
				}
			} else if raw != "" {
				id, ok := s.matchUserLocked(raw)
				if !ok {
					return nil, fmt.Errorf("slacksim: %s: unknown user %q", name, raw)
				}
				sel = id
			}
			empty = sel == nil
			st["selected_user"] = sel
		case "multi_users_select":
			selected := []any{}
			if !given {
				if init, ok := f.el["initial_users"].([]any); ok {
					selected = init
				}
			} else {
				for _, want := range splitList(raw) {
					id, ok := s.matchUserLocked(want)
					if !ok {
						return nil, fmt.Errorf("slacksim: %s: unknown user %q", name, want)
					}
					selected = append(selected, id)
				}
			}
			empty = len(selected) == 0
			st["selected_users"] = selected
		case "conversations_select", "channels_select":
			field, initKey := "selected_conversation", "initial_conversation"
			if f.typ == "channels_select" {
				field, initKey = "selected_channel", "initial_channel"
			}
			sel := any(nil)
			if !given {
				if init, ok := f.el[initKey].(string); ok && init != "" {
					sel = init
				}
			} else if raw != "" {
				id, ok := s.resolveChannelLocked(raw)
				if !ok {
					return nil, fmt.Errorf("slacksim: %s: unknown channel %q", name, raw)
				}
				sel = id
			}
			empty = sel == nil
			st[field] = sel
		case "datepicker", "timepicker":
			field, initKey, layout := "selected_date", "initial_date", "2006-01-02"
			if f.typ == "timepicker" {
				field, initKey, layout = "selected_time", "initial_time", "15:04"
			}
			sel := any(nil)
			if !given {
				if init, ok := f.el[initKey].(string); ok && init != "" {
					sel = init
				}
			} else if raw != "" {
				if _, err := time.Parse(layout, raw); err != nil {
					return nil, fmt.Errorf("slacksim: %s wants %s, got %q", name, layout, raw)
				}
				sel = raw
			}
			empty = sel == nil
			st[field] = sel
		default:
			return nil, fmt.Errorf("slacksim: %s: input type %s is not simulated", name, f.typ)
		}
		if empty && !f.optional {
			return nil, fmt.Errorf("slacksim: %s is required", name)
		}
		bs, _ := state[f.blockID].(map[string]any)
		if bs == nil {
			bs = map[string]any{}
			state[f.blockID] = bs
		}
		bs[f.actionID] = st
	}
	return state, nil
}

// InputField describes an input block of a view, for consoles and tests.
type InputField struct {
	BlockID, ActionID, Type, Label string
	Optional                       bool
}

// Inputs lists the input blocks of a view in order.
func (v *View) Inputs() []InputField {
	var def map[string]any
	if json.Unmarshal(v.Raw, &def) != nil {
		return nil
	}
	var out []InputField
	for _, f := range inputFields(def) {
		out = append(out, InputField{BlockID: f.blockID, ActionID: f.actionID, Type: f.typ, Label: f.label, Optional: f.optional})
	}
	return out
}
