// Package pagerdutytest is a fake PagerDuty REST API on loopback for tests:
// users, schedules with on-call entries, schedule overrides (the legacy
// single-override body go-pagerduty v1.8.0 sends, and the array form of the
// current spec), failure injection (429 with Retry-After, 5xx, down) and a
// log of calls. It answers with the JSON shapes go-pagerduty decodes
// (reference/integrations.md §1.11). Features extend it with HandleFunc.
package pagerdutytest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Token is the API token the fake accepts.
const Token = "pd-test-token"

// User is a PagerDuty user of the fake account.
type User struct{ ID, Name, Email string }

// Entry puts UserID on call on a schedule during [Start, End).
type Entry struct {
	UserID     string
	Start, End time.Time
}

// Override is a schedule override held by the fake.
type Override struct {
	ID         string
	ScheduleID string
	UserID     string
	Start, End time.Time
	seq        int
}

// Call is one request the fake received.
type Call struct {
	Method, Path string
	Query        url.Values
	Body         []byte
	Status       int
}

type failRule struct {
	method, prefix string
	n, status      int
	retryAfter     int
}

// Server is a running fake PagerDuty.
type Server struct {
	// URL is the base URL to pass as PAGERDUTY_API_URL.
	URL string

	srv       *httptest.Server
	mux       *http.ServeMux
	mu        sync.Mutex
	users     []User
	schedules map[string][]Entry
	overrides map[string][]*Override
	calls     []Call
	fails     []failRule
	down      bool
	seq       int
	changed   chan struct{}
}

// New starts a fake PagerDuty, closed when t ends.
func New(t testing.TB) *Server {
	s := &Server{schedules: map[string][]Entry{}, overrides: map[string][]*Override{}, mux: http.NewServeMux(), changed: make(chan struct{})}
	s.mux.HandleFunc("GET /oncalls", s.listOnCalls)
	s.mux.HandleFunc("GET /users", s.listUsers)
	s.mux.HandleFunc("GET /schedules/{id}/overrides", s.listOverrides)
	s.mux.HandleFunc("POST /schedules/{id}/overrides", s.createOverride)
	s.mux.HandleFunc("DELETE /schedules/{id}/overrides/{oid}", s.deleteOverride)
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// HandleFunc adds a route (Go 1.22 pattern, e.g. "PUT /incidents/{id}") for
// features the fake does not model yet. Requests still pass the auth check,
// failure injection and the call log.
func (s *Server) HandleFunc(pattern string, h http.HandlerFunc) { s.mux.HandleFunc(pattern, h) }

// AddUser adds a user to the account.
func (s *Server) AddUser(id, name, email string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users = append(s.users, User{ID: id, Name: name, Email: email})
}

// SetSchedule replaces the layer entries of schedule id.
func (s *Server) SetSchedule(id string, entries []Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.schedules[id] = append([]Entry(nil), entries...)
}

// Rotation returns n entries of a weekly-style rotation: entry w puts
// users[(w+offset) mod len(users)] on call during [start+w·length, start+(w+1)·length).
func Rotation(users []string, offset int, start time.Time, length time.Duration, n int) []Entry {
	out := make([]Entry, 0, n)
	for w := 0; w < n; w++ {
		i := ((w+offset)%len(users) + len(users)) % len(users)
		out = append(out, Entry{UserID: users[i], Start: start.Add(time.Duration(w) * length), End: start.Add(time.Duration(w+1) * length)})
	}
	return out
}

// Overrides returns the overrides of schedule id, oldest first.
func (s *Server) Overrides(id string) []Override {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Override, 0, len(s.overrides[id]))
	for _, o := range s.overrides[id] {
		out = append(out, *o)
	}
	return out
}

// AddOverride creates an override as PagerDuty's own UI would.
func (s *Server) AddOverride(o Override) Override {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addLocked(o)
}

func (s *Server) addLocked(o Override) Override {
	s.seq++
	o.seq = s.seq
	o.ID = fmt.Sprintf("PO%05d", s.seq)
	s.overrides[o.ScheduleID] = append(s.overrides[o.ScheduleID], &o)
	s.notifyLocked()
	return o
}

// RemoveOverride deletes an override as PagerDuty's own UI would; false when
// there is none.
func (s *Server) RemoveOverride(scheduleID, id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.removeLocked(scheduleID, id)
}

func (s *Server) removeLocked(scheduleID, id string) bool {
	list := s.overrides[scheduleID]
	for i, o := range list {
		if o.ID == id {
			s.overrides[scheduleID] = slices.Delete(list, i, i+1)
			s.notifyLocked()
			return true
		}
	}
	return false
}

// EditOverride changes an override in place as PagerDuty's own UI would.
func (s *Server) EditOverride(scheduleID, id string, edit func(*Override)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.overrides[scheduleID] {
		if o.ID == id {
			edit(o)
			s.notifyLocked()
			return true
		}
	}
	return false
}

// FailNext makes the next n requests whose method matches (""
// for any) and whose path starts with prefix answer status; retryAfter > 0
// adds Retry-After and ratelimit-reset headers (seconds).
func (s *Server) FailNext(method, prefix string, n, status, retryAfter int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fails = append(s.fails, failRule{method: method, prefix: prefix, n: n, status: status, retryAfter: retryAfter})
}

// SetDown makes every request answer 503 (down) or restores service.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// Calls returns the requests received whose method matches ("" for any) and
// whose path starts with prefix.
func (s *Server) Calls(method, prefix string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if (method == "" || c.Method == method) && strings.HasPrefix(c.Path, prefix) {
			out = append(out, c)
		}
	}
	return out
}

// Wait waits until cond, evaluated after each change of the fake's
// overrides or call log, holds; it fails t after timeout.
func (s *Server) Wait(t testing.TB, timeout time.Duration, what string, cond func(s *Server) bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if cond(s) {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("pagerdutytest: timed out after %s waiting for %s", timeout, what)
		}
	}
}

func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	r.Body = io.NopCloser(strings.NewReader(string(body)))
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	defer func() {
		s.mu.Lock()
		s.calls = append(s.calls, Call{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Body: body, Status: rec.status})
		s.notifyLocked()
		s.mu.Unlock()
	}()
	if r.Header.Get("Authorization") != "Token token="+Token {
		writeError(rec, http.StatusUnauthorized, 2006, "Authentication failed", nil)
		return
	}
	if !strings.HasPrefix(r.Header.Get("Accept"), "application/vnd.pagerduty+json;version=2") {
		writeError(rec, http.StatusBadRequest, 2001, "Invalid Input Provided", []string{"Accept header must ask for version 2"})
		return
	}
	s.mu.Lock()
	down := s.down
	var fail *failRule
	for i := range s.fails {
		f := &s.fails[i]
		if f.n > 0 && (f.method == "" || f.method == r.Method) && strings.HasPrefix(r.URL.Path, f.prefix) {
			f.n--
			fail = &failRule{status: f.status, retryAfter: f.retryAfter}
			break
		}
	}
	s.mu.Unlock()
	switch {
	case down:
		writeError(rec, http.StatusServiceUnavailable, 0, "Service Unavailable", nil)
		return
	case fail != nil:
		if fail.retryAfter > 0 {
			rec.Header().Set("Retry-After", strconv.Itoa(fail.retryAfter))
			rec.Header().Set("ratelimit-reset", strconv.Itoa(fail.retryAfter))
		}
		if fail.status == http.StatusTooManyRequests {
			rec.Header().Set("ratelimit-limit", "960")
			rec.Header().Set("ratelimit-remaining", "0")
			writeError(rec, fail.status, 2020, "Rate Limit Exceeded", nil)
			return
		}
		writeError(rec, fail.status, 0, http.StatusText(fail.status), nil)
		return
	}
	s.mux.ServeHTTP(rec, r)
}

type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status, code int, msg string, errs []string) {
	e := map[string]any{"message": msg, "code": code}
	if len(errs) > 0 {
		e["errors"] = errs
	}
	writeJSON(w, status, map[string]any{"error": e})
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func parseWindow(q url.Values, required bool) (since, until time.Time, errs []string) {
	get := func(k string) (time.Time, bool) {
		v := q.Get(k)
		if v == "" {
			if required {
				errs = append(errs, k+" is required")
			}
			return time.Time{}, false
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			errs = append(errs, k+" is not an ISO 8601 time")
			return time.Time{}, false
		}
		return t, true
	}
	since, okS := get("since")
	until, okU := get("until")
	if !okS && !okU && !required {
		errs = append(errs, "the fake needs since and until (the real API defaults them to now)")
	}
	if okS && okU && until.Before(since) {
		errs = append(errs, "until must be after since")
	}
	return since, until, errs
}

func paginate(q url.Values, n int) (offset, end, limit int, more bool) {
	limit = 25
	if v, err := strconv.Atoi(q.Get("limit")); err == nil && v > 0 {
		limit = min(v, 100)
	}
	if v, err := strconv.Atoi(q.Get("offset")); err == nil && v > 0 {
		offset = min(v, n)
	}
	end = min(offset+limit, n)
	return offset, end, limit, end < n
}

func (s *Server) userRefLocked(id string, full bool) map[string]any {
	ref := map[string]any{"id": id, "type": "user_reference", "summary": id, "self": s.URL + "/users/" + id}
	for _, u := range s.users {
		if u.ID == id {
			ref["summary"] = u.Name
			if full {
				ref["type"], ref["name"], ref["email"] = "user", u.Name, u.Email
			}
		}
	}
	return ref
}

// finalLocked returns schedule id's final schedule over [since, until):
// layer entries with overrides on top (the latest created wins).
func (s *Server) finalLocked(id string, since, until time.Time) []Entry {
	cuts := []time.Time{since, until}
	add := func(t time.Time) {
		if t.After(since) && t.Before(until) {
			cuts = append(cuts, t)
		}
	}
	for _, e := range s.schedules[id] {
		add(e.Start)
		add(e.End)
	}
	for _, o := range s.overrides[id] {
		add(o.Start)
		add(o.End)
	}
	sort.Slice(cuts, func(i, j int) bool { return cuts[i].Before(cuts[j]) })
	var out []Entry
	who := func(t time.Time) string {
		var best *Override
		for _, o := range s.overrides[id] {
			if !t.Before(o.Start) && t.Before(o.End) && (best == nil || o.seq > best.seq) {
				best = o
			}
		}
		if best != nil {
			return best.UserID
		}
		for _, e := range s.schedules[id] {
			if !t.Before(e.Start) && t.Before(e.End) {
				return e.UserID
			}
		}
		return ""
	}
	for i := 0; i+1 < len(cuts); i++ {
		a, b := cuts[i], cuts[i+1]
		if !a.Before(b) {
			continue
		}
		u := who(a)
		if u == "" {
			continue
		}
		if n := len(out); n > 0 && out[n-1].UserID == u && out[n-1].End.Equal(a) {
			out[n-1].End = b
			continue
		}
		out = append(out, Entry{UserID: u, Start: a, End: b})
	}
	if since.Equal(until) {
		if u := who(since); u != "" {
			out = append(out, Entry{UserID: u, Start: since, End: since})
		}
	}
	return out
}

// entryBounds widens a clipped final-schedule entry to the whole stretch the
// user holds, as PagerDuty reports the full on-call span.
func (s *Server) entryBoundsLocked(id string, e Entry) Entry {
	lo, hi := e.Start.Add(-90*24*time.Hour), e.End.Add(90*24*time.Hour)
	for _, f := range s.finalLocked(id, lo, hi) {
		if f.UserID == e.UserID && !f.Start.After(e.Start) && !f.End.Before(e.End) {
			return f
		}
	}
	return e
}

func (s *Server) listOnCalls(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	since, until, errs := parseWindow(q, false)
	if len(errs) > 0 {
		writeError(w, http.StatusBadRequest, 2001, "Invalid Input Provided", errs)
		return
	}
	ids := q["schedule_ids[]"]
	includeUsers := slices.Contains(q["include[]"], "users")
	s.mu.Lock()
	var all []map[string]any
	for _, id := range ids {
		for _, e := range s.finalLocked(id, since, until) {
			e = s.entryBoundsLocked(id, e)
			all = append(all, map[string]any{
				"user":              s.userRefLocked(e.UserID, includeUsers),
				"schedule":          map[string]any{"id": id, "type": "schedule_reference", "summary": id},
				"escalation_policy": map[string]any{"id": "PPOLICY", "type": "escalation_policy_reference"},
				"escalation_level":  1,
				"start":             ts(e.Start), "end": ts(e.End),
			})
		}
	}
	s.mu.Unlock()
	off, end, limit, more := paginate(q, len(all))
	writeJSON(w, http.StatusOK, map[string]any{"oncalls": nonNil(all[off:end]), "limit": limit, "offset": off, "more": more, "total": nil})
}

func nonNil(v []map[string]any) []map[string]any {
	if v == nil {
		return []map[string]any{}
	}
	return v
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	needle := strings.ToLower(q.Get("query"))
	s.mu.Lock()
	var all []map[string]any
	for _, u := range s.users {
		if needle == "" || strings.Contains(strings.ToLower(u.Email), needle) || strings.Contains(strings.ToLower(u.Name), needle) {
			all = append(all, map[string]any{"id": u.ID, "type": "user", "summary": u.Name, "name": u.Name, "email": u.Email})
		}
	}
	s.mu.Unlock()
	off, end, limit, more := paginate(q, len(all))
	writeJSON(w, http.StatusOK, map[string]any{"users": nonNil(all[off:end]), "limit": limit, "offset": off, "more": more, "total": nil})
}

func (s *Server) overrideJSONLocked(o *Override) map[string]any {
	return map[string]any{"id": o.ID, "type": "override", "start": ts(o.Start), "end": ts(o.End), "user": s.userRefLocked(o.UserID, false)}
}

func (s *Server) listOverrides(w http.ResponseWriter, r *http.Request) {
	since, until, errs := parseWindow(r.URL.Query(), true)
	if len(errs) > 0 {
		writeError(w, http.StatusBadRequest, 2001, "Invalid Input Provided", errs)
		return
	}
	id := r.PathValue("id")
	s.mu.Lock()
	if _, ok := s.schedules[id]; !ok {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, 2100, "Not Found", nil)
		return
	}
	out := []map[string]any{}
	for _, o := range s.overrides[id] {
		if o.End.After(since) && o.Start.Before(until) {
			out = append(out, s.overrideJSONLocked(o))
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"overrides": out})
}

type overrideIn struct {
	Start string `json:"start"`
	End   string `json:"end"`
	User  struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	} `json:"user"`
}

func (s *Server) validateLocked(in overrideIn) (Override, []string) {
	var errs []string
	start, err1 := time.Parse(time.RFC3339, in.Start)
	end, err2 := time.Parse(time.RFC3339, in.End)
	if err1 != nil || err2 != nil {
		errs = append(errs, "start and end must be ISO 8601 times")
	} else if !end.After(start) {
		errs = append(errs, "Override must end after its start")
	}
	if in.User.Type != "user_reference" && in.User.Type != "user" {
		errs = append(errs, "user.type must be user_reference")
	}
	if !slices.ContainsFunc(s.users, func(u User) bool { return u.ID == in.User.ID }) {
		errs = append(errs, "User not found")
	}
	return Override{UserID: in.User.ID, Start: start, End: end}, errs
}

func (s *Server) createOverride(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var body struct {
		Override  *overrideIn  `json:"override"`
		Overrides []overrideIn `json:"overrides"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || (body.Override == nil && body.Overrides == nil) {
		writeError(w, http.StatusBadRequest, 2001, "Invalid Input Provided", []string{"body must hold override or overrides"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.schedules[id]; !ok {
		writeError(w, http.StatusNotFound, 2100, "Not Found", nil)
		return
	}
	if body.Override != nil { // the legacy single-override form go-pagerduty sends
		o, errs := s.validateLocked(*body.Override)
		if len(errs) > 0 {
			writeError(w, http.StatusBadRequest, 2001, "Invalid Input Provided", errs)
			return
		}
		o.ScheduleID = id
		created := s.addLocked(o)
		writeJSON(w, http.StatusCreated, map[string]any{"override": s.overrideJSONLocked(&created)})
		return
	}
	out := []map[string]any{}
	for _, in := range body.Overrides {
		o, errs := s.validateLocked(in)
		if len(errs) > 0 {
			out = append(out, map[string]any{"status": 400, "errors": errs, "override": in})
			continue
		}
		o.ScheduleID = id
		created := s.addLocked(o)
		out = append(out, map[string]any{"status": 201, "override": s.overrideJSONLocked(&created)})
	}
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) deleteOverride(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	ok := s.removeLocked(r.PathValue("id"), r.PathValue("oid"))
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, 2100, "Not Found", nil)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
