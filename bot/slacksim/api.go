package slacksim

import (
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

type apiRequest struct {
	method string
	params map[string]string
}

// has reports whether a parameter was sent at all (empty counts).
func (r *apiRequest) has(k string) bool { _, ok := r.params[k]; return ok }

type apiHandler func(s *Server, r *apiRequest) (map[string]any, *apiError)

var apiMethods = map[string]apiHandler{
	"auth.test":               (*Server).authTest,
	"apps.connections.open":   (*Server).connectionsOpen,
	"chat.postMessage":        (*Server).chatPostMessage,
	"chat.postEphemeral":      (*Server).chatPostEphemeral,
	"chat.update":             (*Server).chatUpdate,
	"chat.delete":             (*Server).chatDelete,
	"chat.getPermalink":       (*Server).chatGetPermalink,
	"views.open":              (*Server).viewsOpen,
	"views.update":            (*Server).viewsUpdate,
	"views.push":              (*Server).viewsPush,
	"views.publish":           (*Server).viewsPublish,
	"conversations.open":      (*Server).conversationsOpen,
	"conversations.info":      (*Server).conversationsInfo,
	"users.info":              (*Server).usersInfo,
	"users.lookupByEmail":     (*Server).usersLookupByEmail,
	"usergroups.users.list":   (*Server).usergroupsUsersList,
	"usergroups.users.update": (*Server).usergroupsUsersUpdate,
}

const maxBody = 4 << 20

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decodeParams reads form, JSON or query parameters into strings; JSON
// objects and arrays keep their JSON text.
func decodeParams(r *http.Request, body []byte) map[string]string {
	params := map[string]string{}
	for k, v := range r.URL.Query() {
		params[k] = v[0]
	}
	if r.Method != http.MethodPost || len(body) == 0 {
		return params
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" {
		var m map[string]json.RawMessage
		if json.Unmarshal(body, &m) == nil {
			for k, raw := range m {
				var s string
				if json.Unmarshal(raw, &s) == nil {
					params[k] = s
				} else if string(raw) != "null" {
					params[k] = string(raw)
				}
			}
		}
		return params
	}
	if vals, err := url.ParseQuery(string(body)); err == nil {
		for k, v := range vals {
			params[k] = v[0]
		}
	}
	return params
}

func (s *Server) handleAPI(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": "request_timeout"})
		return
	}
	params := decodeParams(r, body)
	token := params["token"]
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		token = strings.TrimPrefix(h, "Bearer ")
	}
	delete(params, "token") // never recorded

	s.mu.Lock()
	defer s.mu.Unlock()
	call := Call{Method: method, Params: params, Body: body, At: s.now()}
	record := func(errStr string) {
		call.Error = errStr
		s.calls = append(s.calls, call)
		s.notifyLocked(nil)
	}

	if q := s.fails[method]; len(q) > 0 {
		f := q[0]
		s.fails[method] = q[1:]
		record(f.err)
		if f.retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(f.retryAfter))
		}
		writeJSON(w, f.status, map[string]any{"ok": false, "error": f.err})
		return
	}
	fail := func(e *apiError) {
		record(e.code)
		resp := map[string]any{"ok": false, "error": e.code}
		if len(e.messages) > 0 {
			resp["response_metadata"] = map[string]any{"messages": e.messages}
		}
		s.log.Debug("slacksim api error", slog.String("method", method), slog.String("error", e.code))
		writeJSON(w, http.StatusOK, resp)
	}
	h, ok := apiMethods[method]
	if !ok {
		fail(errCode("unknown_method"))
		return
	}
	switch {
	case token == "":
		fail(errCode("not_authed"))
		return
	case method == "apps.connections.open" && token != AppToken,
		method != "apps.connections.open" && token == AppToken:
		if token == AppToken || token == BotToken {
			fail(errCode("not_allowed_token_type"))
		} else {
			fail(errCode("invalid_auth"))
		}
		return
	case method != "apps.connections.open" && token != BotToken:
		fail(errCode("invalid_auth"))
		return
	}
	res, apiErr := h(s, &apiRequest{method: method, params: params})
	if apiErr != nil {
		fail(apiErr)
		return
	}
	record("")
	if res == nil {
		res = map[string]any{}
	}
	res["ok"] = true
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) authTest(*apiRequest) (map[string]any, *apiError) {
	return map[string]any{"url": "https://sim.slack.com/", "team": "Sim", "user": "oncallbot",
		"team_id": TeamID, "user_id": s.botID, "bot_id": BotID}, nil
}

func (s *Server) connectionsOpen(*apiRequest) (map[string]any, *apiError) {
	ticket := randHex(16)
	s.tickets[ticket] = true
	return map[string]any{"url": "ws://" + strings.TrimPrefix(s.base, "http://") + "/link/?ticket=" + ticket + "&app_id=" + AppID}, nil
}

// prepareMessageBlocks validates and normalizes message blocks; nil when none.
func (s *Server) prepareMessageBlocks(raw json.RawMessage) (json.RawMessage, *apiError) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var blocks any
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return nil, errCode("invalid_blocks_format")
	}
	if _, ok := blocks.([]any); !ok {
		return nil, errCode("invalid_blocks_format")
	}
	var v validator
	v.blocks("/blocks", blocks, "message")
	if len(v.errs) > 0 {
		return nil, errCode("invalid_blocks", v.errs...)
	}
	if len(blocks.([]any)) == 0 {
		return nil, nil
	}
	normalizeBlocks(blocks)
	out, _ := json.Marshal(blocks)
	return out, nil
}

// truncate cuts message text at Slack's 40,000 characters.
func truncate(text string) string {
	if strLen(text) <= maxMessageText {
		return text
	}
	r := []rune(text)
	return string(r[:maxMessageText])
}

func (s *Server) addMessageLocked(m *Message) {
	m.TS = s.nextTSLocked()
	m.At = time.Now()
	if u := s.userOfDMLocked(m.Channel); u != "" {
		m.DMTo = u
	}
	s.messages = append(s.messages, m)
	s.byTS[m.TS] = m
	s.emitMessageLocked("message", m)
}

func (s *Server) messageJSONLocked(m *Message) map[string]any {
	out := map[string]any{"type": "message", "text": m.Text, "user": m.User, "ts": m.TS, "team": TeamID}
	if m.User == s.botID {
		out["bot_id"] = BotID
	}
	if m.ThreadTS != "" {
		out["thread_ts"] = m.ThreadTS
	}
	if len(m.Blocks) > 0 {
		out["blocks"] = m.Blocks
	}
	return out
}

// threadParentLocked maps a reply's ts to its parent, as Slack does.
func (s *Server) threadParentLocked(ts string) string {
	if m, ok := s.byTS[ts]; ok && m.ThreadTS != "" {
		return m.ThreadTS
	}
	return ts
}

// messageContent reads text and blocks; it requires one of them.
func (s *Server) messageContent(r *apiRequest) (string, json.RawMessage, *apiError) {
	blocks, e := s.prepareMessageBlocks(json.RawMessage(r.params["blocks"]))
	if e != nil {
		return "", nil, e
	}
	text := r.params["text"]
	if text == "" && len(blocks) == 0 {
		return "", nil, errCode("no_text")
	}
	return truncate(text), blocks, nil
}

func (s *Server) chatPostMessage(r *apiRequest) (map[string]any, *apiError) {
	ch, ok := s.resolveChannelLocked(r.params["channel"])
	if !ok {
		return nil, errCode("channel_not_found")
	}
	text, blocks, e := s.messageContent(r)
	if e != nil {
		return nil, e
	}
	m := &Message{Channel: ch, User: s.botID, Text: text, Blocks: blocks}
	if ts := r.params["thread_ts"]; ts != "" {
		m.ThreadTS = s.threadParentLocked(ts)
	}
	s.addMessageLocked(m)
	return map[string]any{"channel": ch, "ts": m.TS, "message": s.messageJSONLocked(m)}, nil
}

func (s *Server) chatPostEphemeral(r *apiRequest) (map[string]any, *apiError) {
	ch, ok := s.resolveChannelLocked(r.params["channel"])
	if !ok {
		return nil, errCode("channel_not_found")
	}
	user := r.params["user"]
	if _, ok := s.users[user]; !ok {
		return nil, errCode("user_not_found")
	}
	text, blocks, e := s.messageContent(r)
	if e != nil {
		return nil, e
	}
	m := &Message{Channel: ch, User: s.botID, Text: text, Blocks: blocks, Ephemeral: true, EphemeralTo: user}
	if ts := r.params["thread_ts"]; ts != "" {
		m.ThreadTS = s.threadParentLocked(ts)
	}
	s.addMessageLocked(m)
	return map[string]any{"message_ts": m.TS}, nil
}

// editableLocked finds a channel message the bot may edit.
func (s *Server) editableLocked(channel, ts string) (*Message, *apiError) {
	ch, ok := s.resolveChannelLocked(channel)
	if !ok {
		return nil, errCode("channel_not_found")
	}
	m, ok := s.byTS[ts]
	if !ok || m.Channel != ch || m.Deleted || m.Ephemeral {
		return nil, errCode("message_not_found")
	}
	if m.User != s.botID {
		return nil, errCode("cant_update_message")
	}
	return m, nil
}

func (s *Server) chatUpdate(r *apiRequest) (map[string]any, *apiError) {
	// Slack edits a DM only through its D… channel: a user ID, which
	// chat.postMessage accepts, is channel_not_found here.
	if _, isUser := s.users[r.params["channel"]]; isUser {
		return nil, errCode("channel_not_found")
	}
	m, e := s.editableLocked(r.params["channel"], r.params["ts"])
	if e != nil {
		return nil, e
	}
	text, blocks := m.Text, m.Blocks
	if r.has("blocks") {
		b, e := s.prepareMessageBlocks(json.RawMessage(r.params["blocks"]))
		if e != nil {
			return nil, e
		}
		blocks = b
	}
	if r.has("text") {
		text = truncate(r.params["text"])
	}
	if (!r.has("text") && !r.has("blocks")) || (text == "" && len(blocks) == 0) {
		return nil, errCode("no_text")
	}
	m.Text, m.Blocks = text, blocks
	m.Updates++
	s.emitMessageLocked("update", m)
	return map[string]any{"channel": m.Channel, "ts": m.TS, "text": m.Text, "message": s.messageJSONLocked(m)}, nil
}

func (s *Server) chatDelete(r *apiRequest) (map[string]any, *apiError) {
	m, e := s.editableLocked(r.params["channel"], r.params["ts"])
	if e != nil {
		return nil, e
	}
	m.Deleted = true
	s.emitMessageLocked("delete", m)
	return map[string]any{"channel": m.Channel, "ts": m.TS}, nil
}

func (s *Server) chatGetPermalink(r *apiRequest) (map[string]any, *apiError) {
	ch, ok := s.resolveChannelLocked(r.params["channel"])
	if !ok {
		return nil, errCode("channel_not_found")
	}
	ts := r.params["message_ts"]
	if m, ok := s.byTS[ts]; !ok || m.Channel != ch || m.Ephemeral {
		return nil, errCode("message_not_found")
	}
	return map[string]any{"channel": ch, "permalink": "https://sim.slack.com/archives/" + ch + "/p" + strings.Replace(ts, ".", "", 1)}, nil
}

// checkTriggerLocked validates a trigger_id without consuming it.
func (s *Server) checkTriggerLocked(id string) (*trigger, *apiError) {
	if id == "" {
		return nil, errCode("invalid_arguments", "[ERROR] missing required field: trigger_id [json-pointer:/trigger_id]")
	}
	t, ok := s.triggers[id]
	switch {
	case !ok:
		return nil, errCode("invalid_trigger_id")
	case t.used:
		return nil, errCode("exchanged_trigger_id")
	case s.now().Sub(t.issued) > s.opts.TriggerTTL:
		return nil, errCode("expired_trigger_id")
	}
	return t, nil
}

func (s *Server) viewResult(v *view) map[string]any {
	return map[string]any{"view": json.RawMessage(v.Raw)}
}

func (s *Server) checkExternalIDLocked(def map[string]any, self string) *apiError {
	ext, _ := def["external_id"].(string)
	if ext == "" {
		return nil
	}
	for _, v := range s.views {
		if v.ID != self && !v.Closed && v.externalID == ext {
			return errCode("duplicate_external_id")
		}
	}
	return nil
}

func (s *Server) viewsOpen(r *apiRequest) (map[string]any, *apiError) {
	t, e := s.checkTriggerLocked(r.params["trigger_id"])
	if e != nil {
		return nil, e
	}
	def, e := parseView(json.RawMessage(r.params["view"]), "modal", "/view")
	if e != nil {
		return nil, e
	}
	if e := s.checkExternalIDLocked(def, ""); e != nil {
		return nil, e
	}
	t.used = true
	return s.viewResult(s.openModalLocked(t.user, def)), nil
}

func (s *Server) viewsPush(r *apiRequest) (map[string]any, *apiError) {
	t, e := s.checkTriggerLocked(r.params["trigger_id"])
	if e != nil {
		return nil, e
	}
	def, e := parseView(json.RawMessage(r.params["view"]), "modal", "/view")
	if e != nil {
		return nil, e
	}
	stack := s.stacks[t.user]
	if len(stack) == 0 {
		return nil, errCode("invalid_arguments", "[ERROR] no open modal to push onto; use views.open [json-pointer:/trigger_id]")
	}
	if len(stack) >= 3 {
		return nil, errCode("push_limit_reached")
	}
	if e := s.checkExternalIDLocked(def, ""); e != nil {
		return nil, e
	}
	t.used = true
	return s.viewResult(s.pushViewLocked(t.user, def)), nil
}

func (s *Server) viewsUpdate(r *apiRequest) (map[string]any, *apiError) {
	var v *view
	switch id, ext := r.params["view_id"], r.params["external_id"]; {
	case id != "":
		v = s.views[id]
	case ext != "":
		for _, vid := range s.viewOrder {
			if c := s.views[vid]; c.externalID == ext && !c.Closed {
				v = c
			}
		}
	default:
		return nil, errCode("invalid_arguments", "[ERROR] missing required field: view_id [json-pointer:/view_id]")
	}
	if v == nil || v.Closed {
		return nil, errCode("not_found")
	}
	if h := r.params["hash"]; h != "" && h != v.Hash {
		return nil, errCode("hash_conflict")
	}
	def, e := parseView(json.RawMessage(r.params["view"]), v.Type, "/view")
	if e != nil {
		return nil, e
	}
	if e := s.checkExternalIDLocked(def, v.ID); e != nil {
		return nil, e
	}
	s.replaceViewLocked(v, def)
	s.emitViewLocked(v)
	return s.viewResult(v), nil
}

func (s *Server) viewsPublish(r *apiRequest) (map[string]any, *apiError) {
	user := r.params["user_id"]
	if _, ok := s.users[user]; !ok {
		return nil, errCode("user_not_found")
	}
	def, e := parseView(json.RawMessage(r.params["view"]), "home", "/view")
	if e != nil {
		return nil, e
	}
	if h := r.params["hash"]; h != "" {
		if id, ok := s.homes[user]; ok && s.views[id].Hash != h {
			return nil, errCode("hash_conflict")
		}
	}
	return s.viewResult(s.publishHomeLocked(user, def)), nil
}

func (s *Server) conversationsOpen(r *apiRequest) (map[string]any, *apiError) {
	if ch := r.params["channel"]; ch != "" {
		id, ok := s.resolveChannelLocked(ch)
		if !ok {
			return nil, errCode("channel_not_found")
		}
		return map[string]any{"channel": map[string]any{"id": id}}, nil
	}
	users := strings.Split(r.params["users"], ",")
	if r.params["users"] == "" {
		return nil, errCode("users_list_not_supplied")
	}
	if len(users) > 1 {
		// Group DMs are outside what the on-call bot uses.
		return nil, errCode("not_supported", "[ERROR] the simulator opens one-to-one DMs only [json-pointer:/users]")
	}
	u := strings.TrimSpace(users[0])
	if _, ok := s.users[u]; !ok {
		return nil, errCode("user_not_found")
	}
	ch := dmChannel(u)
	already := s.openedDMs[ch]
	s.openedDMs[ch] = true
	channel := map[string]any{"id": ch}
	if r.params["return_im"] == "true" || r.params["return_im"] == "1" {
		channel = map[string]any{"id": ch, "is_im": true, "user": u, "is_open": true, "created": s.now().Unix()}
	}
	return map[string]any{"no_op": already, "already_open": already, "channel": channel}, nil
}

func (s *Server) conversationsInfo(r *apiRequest) (map[string]any, *apiError) {
	id, ok := s.resolveChannelLocked(r.params["channel"])
	if !ok {
		return nil, errCode("channel_not_found")
	}
	if u := s.userOfDMLocked(id); u != "" {
		return map[string]any{"channel": map[string]any{"id": id, "is_im": true, "user": u}}, nil
	}
	c := s.channels[id]
	return map[string]any{"channel": map[string]any{"id": id, "name": c.Name, "is_channel": true,
		"is_private": strings.HasPrefix(id, "G"), "is_member": true, "is_archived": false}}, nil
}

func (s *Server) userJSONLocked(id string) map[string]any {
	if id == s.botID {
		if _, isPerson := s.users[id]; !isPerson {
			return map[string]any{"id": id, "team_id": TeamID, "name": "oncallbot", "real_name": "oncallbot",
				"is_bot": true, "deleted": false, "profile": map[string]any{"bot_id": BotID, "real_name": "oncallbot", "display_name": "oncallbot"}}
		}
	}
	u := s.users[id]
	tz, label, offset := u.TZ, "", 0
	if tz == "" {
		tz = "UTC"
	}
	if loc, err := time.LoadLocation(tz); err == nil {
		label, offset = s.now().In(loc).Zone()
	}
	return map[string]any{
		"id": u.ID, "team_id": TeamID, "name": u.Name, "real_name": u.RealName,
		"tz": tz, "tz_label": label, "tz_offset": offset, "is_bot": false, "deleted": false,
		"profile": map[string]any{"email": u.Email, "display_name": u.Name, "real_name": u.RealName,
			"real_name_normalized": u.RealName, "display_name_normalized": u.Name},
	}
}

func (s *Server) usersInfo(r *apiRequest) (map[string]any, *apiError) {
	id := r.params["user"]
	if _, ok := s.users[id]; !ok && id != s.botID {
		return nil, errCode("user_not_found")
	}
	return map[string]any{"user": s.userJSONLocked(id)}, nil
}

func (s *Server) usersLookupByEmail(r *apiRequest) (map[string]any, *apiError) {
	email := strings.TrimSpace(r.params["email"])
	for _, id := range s.userOrder {
		if u := s.users[id]; u.Email != "" && strings.EqualFold(u.Email, email) {
			return map[string]any{"user": s.userJSONLocked(id)}, nil
		}
	}
	return nil, errCode("users_not_found")
}

// usergroupLocked reports whether id names a user group.
func (s *Server) usergroupLocked(id string) bool {
	if _, ok := s.usergroups[id]; ok {
		return true
	}
	if len(id) < 2 || id[0] != 'S' {
		return false
	}
	for _, r := range id[1:] {
		if !strings.ContainsRune(idAlphabet, r) {
			return false
		}
	}
	return true
}

func (s *Server) usergroupsUsersList(r *apiRequest) (map[string]any, *apiError) {
	id := r.params["usergroup"]
	if !s.usergroupLocked(id) {
		return nil, errCode("no_such_subteam")
	}
	return map[string]any{"users": append([]string{}, s.usergroups[id]...)}, nil
}

func (s *Server) usergroupsUsersUpdate(r *apiRequest) (map[string]any, *apiError) {
	id := r.params["usergroup"]
	if !s.usergroupLocked(id) {
		return nil, errCode("no_such_subteam")
	}
	var members []string
	for u := range strings.SplitSeq(r.params["users"], ",") {
		u = strings.TrimSpace(u)
		if u == "" {
			continue
		}
		if _, ok := s.users[u]; !ok {
			return nil, errCode("invalid_users")
		}
		if !slices.Contains(members, u) {
			members = append(members, u)
		}
	}
	if len(members) == 0 {
		return nil, errCode("invalid_users")
	}
	s.usergroups[id] = members
	return map[string]any{"usergroup": map[string]any{"id": id, "team_id": TeamID,
		"users": members, "user_count": len(members)}}, nil
}

// responsePayload is what apps send to a response_url or in a slash ack.
type responsePayload struct {
	Text            string          `json:"text"`
	Blocks          json.RawMessage `json:"blocks"`
	ResponseType    string          `json:"response_type"`
	ReplaceOriginal bool            `json:"replace_original"`
	DeleteOriginal  bool            `json:"delete_original"`
	ThreadTS        string          `json:"thread_ts"`
}

// response_url limits: Slack accepts five uses within thirty minutes.
const (
	responseURLUses = 5
	responseURLTTL  = 30 * time.Minute
)

func (s *Server) handleResponseURL(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/response/")
	if r.Method != http.MethodPost {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"ok": false, "error": "method_not_allowed"})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"ok": false, "error": "invalid_payload"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, Call{Method: "response_url", Params: map[string]string{"id": id}, Body: body, At: s.now()})
	ru, ok := s.responses[id]
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]any{"ok": false, "error": "no_such_url"})
		return
	}
	if s.now().Sub(ru.issued) > responseURLTTL {
		writeJSON(w, http.StatusNotFound, map[string]any{"ok": false, "error": "expired_url"})
		return
	}
	if ru.uses >= responseURLUses {
		writeJSON(w, http.StatusNotFound, map[string]any{"ok": false, "error": "used_url"})
		return
	}
	var p responsePayload
	if err := json.Unmarshal(body, &p); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"ok": false, "error": "invalid_payload"})
		return
	}
	blocks, e := s.prepareMessageBlocks(p.Blocks)
	if e != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"ok": false, "error": e.code, "response_metadata": map[string]any{"messages": e.messages}})
		return
	}
	ru.uses++
	target := ru.sourceTS
	if target == "" {
		target = ru.lastTS
	}
	orig := s.byTS[target]
	switch {
	case p.DeleteOriginal:
		if orig == nil || orig.Deleted {
			writeJSON(w, http.StatusNotFound, map[string]any{"ok": false, "error": "message_not_found"})
			return
		}
		orig.Deleted = true
		s.emitMessageLocked("delete", orig)
	case p.ReplaceOriginal:
		if orig == nil || orig.Deleted {
			writeJSON(w, http.StatusNotFound, map[string]any{"ok": false, "error": "message_not_found"})
			return
		}
		if p.Text == "" && len(blocks) == 0 {
			writeJSON(w, http.StatusBadRequest, map[string]any{"ok": false, "error": "no_text"})
			return
		}
		orig.Text, orig.Blocks = truncate(p.Text), blocks
		orig.Updates++
		s.emitMessageLocked("update", orig)
	default:
		if p.Text == "" && len(blocks) == 0 {
			writeJSON(w, http.StatusBadRequest, map[string]any{"ok": false, "error": "no_text"})
			return
		}
		m := &Message{Channel: ru.channel, User: s.botID, Text: truncate(p.Text), Blocks: blocks, InReplyTo: ru.envelope}
		if p.ThreadTS != "" {
			m.ThreadTS = s.threadParentLocked(p.ThreadTS)
		}
		if p.ResponseType != "in_channel" {
			m.Ephemeral, m.EphemeralTo = true, ru.user
		}
		s.addMessageLocked(m)
		ru.lastTS = m.TS
	}
	s.notifyLocked(nil)
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}
