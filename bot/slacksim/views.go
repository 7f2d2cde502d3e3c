package slacksim

import (
	"encoding/json"
	"fmt"
	"maps"
)

// View is a modal or App Home view as the workspace holds it.
type View struct {
	ID, User, Type, CallbackID, PrivateMetadata, Hash string
	// Raw is the full view object as Slack returns it from views.* (id, hash,
	// blocks with their block_ids, state, …).
	Raw    json.RawMessage
	Closed bool
	// Errors holds the response_action errors of the last submission, keyed
	// by input block_id.
	Errors map[string]string
}

// Buttons returns every button of the view, in order.
func (v *View) Buttons() []Button {
	var m struct {
		Blocks json.RawMessage `json:"blocks"`
	}
	if json.Unmarshal(v.Raw, &m) != nil {
		return nil
	}
	return buttonsIn(m.Blocks)
}

type view struct {
	View
	def            map[string]any // the view as the app defined it, normalized
	externalID     string
	rootViewID     string
	previousViewID string
	inputs         map[string]string // values the user typed, "block_id.action_id" → text
}

func (v *view) snapshot() *View {
	c := v.View
	if v.Errors != nil {
		c.Errors = maps.Clone(v.Errors)
	}
	return &c
}

// apiError is a Slack error answer.
type apiError struct {
	code     string
	messages []string
}

func (e *apiError) Error() string {
	if len(e.messages) > 0 {
		return fmt.Sprintf("%s: %v", e.code, e.messages)
	}
	return e.code
}

func errCode(code string, messages ...string) *apiError {
	return &apiError{code: code, messages: messages}
}

// parseView decodes and validates a view definition of the given kind.
func parseView(raw json.RawMessage, kind, ptr string) (map[string]any, *apiError) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, errCode("invalid_arguments", fmt.Sprintf("[ERROR] missing required field: view [json-pointer:%s]", ptr))
	}
	if len(raw) > maxViewBytes {
		return nil, errCode("view_too_large")
	}
	var def map[string]any
	if err := json.Unmarshal(raw, &def); err != nil {
		return nil, errCode("invalid_arguments", fmt.Sprintf("[ERROR] must be a JSON object [json-pointer:%s]", ptr))
	}
	var v validator
	v.view(ptr, def, kind)
	if len(v.errs) > 0 {
		return nil, errCode("invalid_arguments", v.errs...)
	}
	normalizeBlocks(def["blocks"])
	return def, nil
}

func (s *Server) newViewLocked(user, kind string, def map[string]any) *view {
	v := &view{View: View{ID: randID("V", 10), User: user, Type: kind}}
	s.views[v.ID] = v
	s.viewOrder = append(s.viewOrder, v.ID)
	s.setDefLocked(v, def)
	return v
}

func (s *Server) setDefLocked(v *view, def map[string]any) {
	v.def = def
	v.CallbackID, _ = def["callback_id"].(string)
	v.PrivateMetadata, _ = def["private_metadata"].(string)
	v.externalID, _ = def["external_id"].(string)
	v.Hash = fmt.Sprintf("%d.%s", s.now().Unix(), randHex(4))
	v.Errors = nil
	s.refreshLocked(v)
}

// refreshLocked rebuilds v.Raw.
func (s *Server) refreshLocked(v *view) {
	raw, _ := json.Marshal(s.fullViewLocked(v, map[string]any{}))
	v.Raw = raw
}

// fullViewLocked is the view object as Slack sends it, with state values.
func (s *Server) fullViewLocked(v *view, values map[string]any) map[string]any {
	out := map[string]any{
		"private_metadata": "", "callback_id": "", "external_id": "",
		"clear_on_close": false, "notify_on_close": false,
		"title": nil, "submit": nil, "close": nil,
	}
	maps.Copy(out, v.def)
	var prev any
	if v.previousViewID != "" {
		prev = v.previousViewID
	}
	root := v.rootViewID
	if root == "" {
		root = v.ID
	}
	maps.Copy(out, map[string]any{
		"id": v.ID, "team_id": TeamID, "type": v.Type, "hash": v.Hash,
		"root_view_id": root, "previous_view_id": prev, "app_id": AppID,
		"app_installed_team_id": TeamID, "bot_id": BotID,
		"state": map[string]any{"values": values},
	})
	return out
}

func (s *Server) replaceViewLocked(v *view, def map[string]any) {
	s.setDefLocked(v, def)
}

// openModalLocked replaces the user's modal stack with a new modal.
func (s *Server) openModalLocked(user string, def map[string]any) *view {
	s.closeStackLocked(user, 0)
	v := s.newViewLocked(user, "modal", def)
	s.stacks[user] = []string{v.ID}
	s.emitViewLocked(v)
	return v
}

func (s *Server) pushViewLocked(user string, def map[string]any) *view {
	stack := s.stacks[user]
	v := s.newViewLocked(user, "modal", def)
	if len(stack) > 0 {
		v.previousViewID = stack[len(stack)-1]
		v.rootViewID = stack[0]
		s.refreshLocked(v)
	}
	s.stacks[user] = append(stack, v.ID)
	s.emitViewLocked(v)
	return v
}

// closeViewLocked closes a modal and every modal pushed above it.
func (s *Server) closeViewLocked(user, id string) {
	for i, vid := range s.stacks[user] {
		if vid == id {
			s.closeStackLocked(user, i)
			return
		}
	}
}

// closeStackLocked closes the user's modals from index from to the top.
func (s *Server) closeStackLocked(user string, from int) {
	stack := s.stacks[user]
	if from >= len(stack) {
		return
	}
	for i := len(stack) - 1; i >= from; i-- {
		v := s.views[stack[i]]
		v.Closed = true
		s.emitViewLocked(v)
	}
	if from == 0 {
		delete(s.stacks, user)
		return
	}
	s.stacks[user] = stack[:from]
}

func (s *Server) publishHomeLocked(user string, def map[string]any) *view {
	if id, ok := s.homes[user]; ok {
		v := s.views[id]
		s.setDefLocked(v, def)
		s.emitViewLocked(v)
		return v
	}
	v := s.newViewLocked(user, "home", def)
	s.homes[user] = v.ID
	s.emitViewLocked(v)
	return v
}
