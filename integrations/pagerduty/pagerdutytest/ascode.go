package pagerdutytest

// This file is the escalation policy and schedule-layer side of the fake,
// for PagerDuty-as-code tests; it is a server of its own (NewAsCode).

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// AsCodeToken is the token the AsCode fake accepts.
const AsCodeToken = "pd-test-token"

// AsCodeCall is one request the fake received.
type AsCodeCall struct {
	Method, Path string
	Body         map[string]any // decoded JSON body of writes
}

// AsCode is a fake PagerDuty holding escalation policies, schedules and
// users, for PagerDuty-as-code tests. A PUT replaces the stored object with
// what was sent, so a client that drops a field it should have kept loses it
// here as it could in PagerDuty.
type AsCode struct {
	srv *httptest.Server

	mu        sync.Mutex
	policies  map[string]map[string]any
	schedules map[string]map[string]any
	users     []map[string]any
	calls     []AsCodeCall
	fails     []asCodeFail
}

type asCodeFail struct {
	method, path string
	status, left int
}

// NewAsCode starts a fake on loopback, closed when t ends.
func NewAsCode(t testing.TB) *AsCode {
	f := &AsCode{policies: map[string]map[string]any{}, schedules: map[string]map[string]any{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// URL is the REST base URL (PAGERDUTY_API_URL).
func (f *AsCode) URL() string { return f.srv.URL }

// SetPolicy stores escalation policy obj (the object inside "escalation_policy") under id.
func (f *AsCode) SetPolicy(id string, obj map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.policies[id] = asCodeClone(obj)
}

// Policy returns a copy of stored policy id, nil when absent.
func (f *AsCode) Policy(id string) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return asCodeClone(f.policies[id])
}

// SetSchedule stores schedule obj (the object inside "schedule") under id.
func (f *AsCode) SetSchedule(id string, obj map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.schedules[id] = asCodeClone(obj)
}

// Schedule returns a copy of stored schedule id, nil when absent.
func (f *AsCode) Schedule(id string) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return asCodeClone(f.schedules[id])
}

// AddUser adds a user that GET /users finds.
func (f *AsCode) AddUser(id, name, email string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users = append(f.users, map[string]any{"id": id, "type": "user", "name": name, "email": email, "summary": name})
}

// Fail makes the next n requests with method to path answer status.
func (f *AsCode) Fail(method, path string, status, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fails = append(f.fails, asCodeFail{method: method, path: path, status: status, left: n})
}

// Calls returns every request received so far.
func (f *AsCode) Calls() []AsCodeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]AsCodeCall(nil), f.calls...)
}

// Writes returns the PUT, POST and DELETE requests received so far.
func (f *AsCode) Writes() []AsCodeCall {
	var out []AsCodeCall
	for _, c := range f.Calls() {
		if c.Method != http.MethodGet {
			out = append(out, c)
		}
	}
	return out
}

func (f *AsCode) serve(w http.ResponseWriter, r *http.Request) {
	call := AsCodeCall{Method: r.Method, Path: r.URL.Path}
	var body map[string]any
	if r.Body != nil {
		data, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if len(data) > 0 {
			if err := json.Unmarshal(data, &body); err != nil {
				asCodeError(w, http.StatusBadRequest, 2001, "Invalid Input Provided", "body is not JSON")
				return
			}
		}
	}
	call.Body = body
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)

	if r.Header.Get("Authorization") != "Token token="+AsCodeToken {
		asCodeError(w, http.StatusUnauthorized, 2006, "Authentication failed")
		return
	}
	if r.Header.Get("Accept") != "application/vnd.pagerduty+json;version=2" {
		asCodeError(w, http.StatusBadRequest, 2001, "Invalid Input Provided", "Accept header is not the v2 media type")
		return
	}
	for i := range f.fails {
		fl := &f.fails[i]
		if fl.left > 0 && fl.method == r.Method && fl.path == r.URL.Path {
			fl.left--
			if fl.status == http.StatusTooManyRequests {
				w.Header().Set("ratelimit-limit", "960")
				w.Header().Set("ratelimit-remaining", "0")
				w.Header().Set("ratelimit-reset", "0")
				asCodeError(w, fl.status, 2020, "Rate Limit Exceeded")
				return
			}
			asCodeError(w, fl.status, 0, http.StatusText(fl.status))
			return
		}
	}

	kind, id, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	switch {
	case kind == "users" && id == "" && r.Method == http.MethodGet:
		q := strings.ToLower(r.URL.Query().Get("query"))
		var users []map[string]any
		for _, u := range f.users {
			if q == "" || strings.Contains(strings.ToLower(u["email"].(string)), q) || strings.Contains(strings.ToLower(u["name"].(string)), q) {
				users = append(users, u)
			}
		}
		asCodeJSON(w, http.StatusOK, map[string]any{"users": users, "limit": 100, "offset": 0, "more": false, "total": nil})
	case kind == "escalation_policies" && id != "":
		f.object(w, r, "escalation_policy", f.policies, id, body, asCodeValidPolicy)
	case kind == "schedules" && id != "":
		f.object(w, r, "schedule", f.schedules, id, body, asCodeValidSchedule)
	default:
		asCodeError(w, http.StatusNotFound, 2100, "Not Found")
	}
}

// object serves GET and PUT of one stored object wrapped in root.
func (f *AsCode) object(w http.ResponseWriter, r *http.Request, root string, store map[string]map[string]any, id string, body map[string]any, valid func(map[string]any) string) {
	cur, ok := store[id]
	if !ok {
		asCodeError(w, http.StatusNotFound, 2100, "Not Found")
		return
	}
	switch r.Method {
	case http.MethodGet:
		asCodeJSON(w, http.StatusOK, map[string]any{root: cur})
	case http.MethodPut:
		obj, _ := body[root].(map[string]any)
		if obj == nil {
			asCodeError(w, http.StatusBadRequest, 2001, "Invalid Input Provided", root+" is required")
			return
		}
		if msg := valid(obj); msg != "" {
			asCodeError(w, http.StatusBadRequest, 2001, "Invalid Input Provided", msg)
			return
		}
		obj = asCodeClone(obj)
		obj["id"] = id
		store[id] = obj
		asCodeJSON(w, http.StatusOK, map[string]any{root: obj})
	default:
		asCodeError(w, http.StatusMethodNotAllowed, 2001, "Method not allowed")
	}
}

// asCodeValidPolicy checks a PUT escalation policy against the spec's schema.
func asCodeValidPolicy(p map[string]any) string {
	if p["type"] != "escalation_policy" {
		return "type must be escalation_policy"
	}
	if s, _ := p["name"].(string); s == "" {
		return "name is required"
	}
	rules, _ := p["escalation_rules"].([]any)
	if len(rules) == 0 {
		return "escalation_rules is required"
	}
	for i, r := range rules {
		rule, _ := r.(map[string]any)
		if _, ok := rule["escalation_delay_in_minutes"].(float64); !ok {
			return fmt.Sprintf("escalation_rules[%d].escalation_delay_in_minutes is required", i)
		}
		targets, _ := rule["targets"].([]any)
		if len(targets) < 1 || len(targets) > 10 {
			return fmt.Sprintf("escalation_rules[%d].targets must hold 1 to 10 targets", i)
		}
		for _, t := range targets {
			tm, _ := t.(map[string]any)
			if typ := tm["type"]; typ != "user_reference" && typ != "schedule_reference" {
				return fmt.Sprintf("escalation_rules[%d]: target type %v is not user_reference or schedule_reference", i, typ)
			}
		}
	}
	if v, ok := p["num_loops"]; ok {
		if n, _ := v.(float64); n < 0 {
			return "num_loops must be at least 0"
		}
	}
	return ""
}

// asCodeValidSchedule checks a PUT schedule.
func asCodeValidSchedule(s map[string]any) string {
	if s["type"] != "schedule" {
		return "type must be schedule"
	}
	if tz, _ := s["time_zone"].(string); tz == "" {
		return "time_zone is required"
	}
	layers, _ := s["schedule_layers"].([]any)
	if len(layers) == 0 {
		return "schedule_layers is required"
	}
	for i, l := range layers {
		lm, _ := l.(map[string]any)
		for _, k := range []string{"start", "rotation_virtual_start", "rotation_turn_length_seconds", "users"} {
			if _, ok := lm[k]; !ok {
				return fmt.Sprintf("schedule_layers[%d].%s is required", i, k)
			}
		}
	}
	return ""
}

func asCodeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func asCodeError(w http.ResponseWriter, status, code int, message string, errs ...string) {
	asCodeJSON(w, status, map[string]any{"error": map[string]any{"code": code, "message": message, "errors": errs}})
}

// asCodeClone deep-copies a JSON object.
func asCodeClone(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("pagerdutytest: encode: %v", err))
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		panic(fmt.Sprintf("pagerdutytest: decode: %v", err))
	}
	return out
}
