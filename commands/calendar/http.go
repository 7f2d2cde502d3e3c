package calendar

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"
)

// renderTimeout bounds one feed request.
const renderTimeout = 10 * time.Second

// cacheControl lets clients and proxies reuse a feed for 15 minutes;
// private, because the URL is a secret and the body is the person's.
const cacheControl = "private, max-age=900"

// ServeHTTP serves GET /calendar/<token>.ics. A malformed, unknown or revoked
// token, or one of someone no longer in the configuration, gets 404 with an
// empty body and nothing else. The token never reaches a log. Responses carry
// an ETag (and answer If-None-Match with 304) so polling clients cost little.
func (m *Module) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/calendar/")
	token, ok := strings.CutSuffix(name, ".ics")
	if !ok || token == "" || strings.Contains(token, "/") {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), renderTimeout)
	defer cancel()
	user, kind, err := lookup(ctx, m.d.DB.Pool, token)
	if errors.Is(err, errNoToken) || (err == nil && !m.d.Config.Known(user)) {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if err != nil {
		m.d.Log.Error("calendar feed: token lookup failed", "err", err)
		unavailable(w)
		return
	}
	body, err := m.Render(ctx, kind, user, m.d.Now())
	if err != nil {
		m.d.Log.Error("calendar feed: render failed", "kind", string(kind), "user_id", user, "err", err)
		unavailable(w)
		return
	}
	sum := sha256.Sum256([]byte(body))
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Cache-Control", cacheControl)
	h.Set("Vary", "Accept-Encoding")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	if match(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "text/calendar; charset=utf-8")
	h.Set("Content-Disposition", `inline; filename="oncall-`+string(kind)+`.ics"`)
	_, _ = w.Write([]byte(body))
}

// unavailable answers 503 without saying why; the cause is logged.
func unavailable(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "60")
	w.WriteHeader(http.StatusServiceUnavailable)
}

// match reports whether an If-None-Match header names etag.
func match(header, etag string) bool {
	for _, v := range strings.Split(header, ",") {
		v = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), "W/"))
		if v == etag || v == "*" {
			return true
		}
	}
	return false
}
