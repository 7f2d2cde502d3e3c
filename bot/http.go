package bot

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check is one readiness dependency.
type Check struct {
	Name string
	// Critical checks make /readyz answer 503 when they fail.
	Critical bool
	Func     func(ctx context.Context) error
}

// Health tracks readiness: live checks run on each /readyz request (bounded
// by a short timeout), and notes that features set (a missed scheduled job,
// PagerDuty drift) are reported as details.
type Health struct {
	mu     sync.Mutex
	checks []Check
	notes  map[string]string
}

// NewHealth returns an empty Health.
func NewHealth() *Health { return &Health{notes: map[string]string{}} }

// AddCheck adds a readiness check.
func (h *Health) AddCheck(c Check) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checks = append(h.checks, c)
}

// Note sets (or with an empty detail clears) a readiness detail.
func (h *Health) Note(name, detail string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if detail == "" {
		delete(h.notes, name)
		return
	}
	h.notes[name] = detail
}

// Report runs the checks and returns whether the bot is ready and the details.
func (h *Health) Report(ctx context.Context) (bool, map[string]string) {
	h.mu.Lock()
	checks := append([]Check(nil), h.checks...)
	details := make(map[string]string, len(checks)+len(h.notes))
	for k, v := range h.notes {
		details[k] = v
	}
	h.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	type result struct {
		c   Check
		err error
	}
	results := make(chan result, len(checks))
	for _, c := range checks {
		go func() { results <- result{c, c.Func(ctx)} }()
	}
	ready := true
	for range checks {
		r := <-results
		if r.err != nil {
			details[r.c.Name] = "down: " + r.err.Error()
			if r.c.Critical {
				ready = false
			}
		} else {
			details[r.c.Name] = "up"
		}
	}
	return ready, details
}

// NewMux returns the HTTP mux with /healthz, /readyz and /metrics; features
// add their own routes (webhooks, calendar feeds) to it.
func NewMux(h *Health, gather prometheus.Gatherer) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ready, details := h.Report(r.Context())
		status := "ready"
		code := http.StatusOK
		if !ready {
			status, code = "degraded", http.StatusServiceUnavailable
		}
		keys := make([]string, 0, len(details))
		for k := range details {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]any{"status": status, "checks": details})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(gather, promhttp.HandlerOpts{}))
	return mux
}
