package securitytest_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// marker is text inside refused bodies: a refusal is logged without the
// body's contents.
const marker = "BODY-CONTENT-MARKER-7f3a"

func pdSign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

// pdEvent is a PagerDuty v3 incident.triggered webhook body.
func pdEvent(t *testing.T, title string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"event": map[string]any{
		"id": "01EV" + strings.ReplaceAll(title, " ", ""), "event_type": "incident.triggered", "resource_type": "incident",
		"occurred_at": "2026-11-04T12:00:00.000Z",
		"agent":       map[string]any{"id": "PENGA", "type": "user_reference", "summary": "Engineer A"},
		"data": map[string]any{"id": "PINC" + strings.ReplaceAll(title, " ", ""), "type": "incident", "number": 7, "status": "triggered",
			"title": title, "html_url": "https://acme.pagerduty.com/incidents/PINC1", "urgency": "high", "incident_key": "k1",
			"assignees": []any{map[string]any{"id": "PENGA"}}},
	}})
	require.NoError(t, err)
	return b
}

// oversized returns a syntactically valid JSON body of more than 1 MiB.
func oversized(t *testing.T, prefix []byte) []byte {
	t.Helper()
	pad := strings.Repeat("x", 1<<20+1)
	var v map[string]any
	require.NoError(t, json.Unmarshal(prefix, &v))
	v["padding"] = marker + pad
	b, err := json.Marshal(v)
	require.NoError(t, err)
	require.Greater(t, len(b), 1<<20)
	return b
}

// TestWebhookAuthAndLimits: the webhooks refuse missing and wrong
// credentials, oversized and malformed bodies with the right status; a
// refused request changes nothing and is logged without its contents.
func TestWebhookAuthAndLimits(t *testing.T) {
	t.Parallel()
	const token, secret = "am-token-for-webhook-tests", "pd-secret-for-webhook-tests"
	e := start(t, options{env: map[string]string{"WEBHOOK_TOKEN": token, "PAGERDUTY_WEBHOOK_SECRET": secret}})
	base := "http://" + e.h.App.HTTPAddr()
	paging := alertGroup(t, "firing", map[string]string{"alertname": "HighErrorRate", "severity": "P2", "note": marker}, "http://prometheus:9090/graph")
	triggered := pdEvent(t, "Checkout "+marker)

	bearer := func(v string) map[string]string { return map[string]string{"Authorization": v} }
	signed := func(sig string) map[string]string {
		return map[string]string{"X-PagerDuty-Signature": sig, "Content-Type": "application/json"}
	}
	badJSON := []byte(`{"version": "4", "alerts": [` + marker)
	for _, c := range []struct {
		name    string
		path    string
		body    []byte
		headers map[string]string
		want    int
	}{
		{"alertmanager without a token", "/webhooks/alertmanager", paging, nil, http.StatusUnauthorized},
		{"alertmanager with basic auth", "/webhooks/alertmanager", paging, bearer("Basic " + token), http.StatusUnauthorized},
		{"alertmanager with an empty bearer", "/webhooks/alertmanager", paging, bearer("Bearer "), http.StatusUnauthorized},
		{"alertmanager with a wrong token", "/webhooks/alertmanager", paging, bearer("Bearer wrong-" + token), http.StatusForbidden},
		{"alertmanager with a token prefix", "/webhooks/alertmanager", paging, bearer("Bearer " + token[:10]), http.StatusForbidden},
		{"alertmanager oversized without a token", "/webhooks/alertmanager", oversized(t, paging), nil, http.StatusUnauthorized},
		{"alertmanager oversized", "/webhooks/alertmanager", oversized(t, paging), bearer("Bearer " + token), http.StatusRequestEntityTooLarge},
		{"alertmanager bad JSON", "/webhooks/alertmanager", badJSON, bearer("Bearer " + token), http.StatusBadRequest},
		{"alertmanager other version", "/webhooks/alertmanager", bytes.Replace(paging, []byte(`"version":"4"`), []byte(`"version":"3"`), 1), bearer("Bearer " + token), http.StatusBadRequest},
		// A request without the signature header is malformed for
		// PagerDuty (go-pagerduty's webhookv3 asks for 400, so that
		// PagerDuty does not redeliver it); a wrong signature is 403.
		{"pagerduty without a signature", "/webhooks/pagerduty", triggered, nil, http.StatusBadRequest},
		{"pagerduty with a malformed signature", "/webhooks/pagerduty", triggered, signed("sha256=abc"), http.StatusBadRequest},
		{"pagerduty signed with another secret", "/webhooks/pagerduty", triggered, signed(pdSign("other-"+secret, triggered)), http.StatusForbidden},
		{"pagerduty signature of another body", "/webhooks/pagerduty", triggered, signed(pdSign(secret, paging)), http.StatusForbidden},
		{"pagerduty oversized", "/webhooks/pagerduty", oversized(t, triggered), signed(pdSign(secret, triggered)), http.StatusRequestEntityTooLarge},
		{"pagerduty bad JSON", "/webhooks/pagerduty", badJSON, signed(pdSign(secret, badJSON)), http.StatusBadRequest},
	} {
		t.Run(c.name, func(t *testing.T) {
			e.unchanged(t, "", func(t *testing.T) {
				require.Equal(t, c.want, post(t, base+c.path, c.body, c.headers))
			}, func(*testing.T) {})
		})
	}
	require.Zero(t, query[int](t, e, `SELECT count(*) FROM incidents`))
	logs := e.log.String()
	require.NotContains(t, logs, marker, "a refused body reached the log")
	require.NotContains(t, logs, token[:10], "a presented token reached the log")
	for _, m := range e.h.Sim.Messages() {
		require.NotContains(t, m.AllText(), marker)
	}

	// The right credentials are accepted (so the refusals above were about them).
	require.Equal(t, http.StatusOK, post(t, base+"/webhooks/alertmanager",
		alertGroup(t, "firing", map[string]string{"alertname": "HighErrorRate", "severity": "P2"}, "http://prometheus:9090/graph"), bearer("Bearer "+token)))
	good := pdEvent(t, "Checkout errors")
	require.Equal(t, http.StatusNoContent, post(t, base+"/webhooks/pagerduty", good, signed(pdSign(secret, good))))
	require.Equal(t, 2, query[int](t, e, `SELECT count(*) FROM incidents`))
}

// TestWebhooksOffAndUnknownFeeds: without WEBHOOK_TOKEN and
// PAGERDUTY_WEBHOOK_SECRET both webhooks are off (404) whatever the
// request carries; an unknown calendar token is a 404 with an empty body.
func TestWebhooksOffAndUnknownFeeds(t *testing.T) {
	t.Parallel()
	e := start(t, options{})
	base := "http://" + e.h.App.HTTPAddr()
	paging := alertGroup(t, "firing", map[string]string{"alertname": "HighErrorRate", "severity": "P2"}, "http://prometheus:9090/graph")
	triggered := pdEvent(t, "Checkout errors")
	for _, c := range []struct {
		name    string
		path    string
		body    []byte
		headers map[string]string
	}{
		{"alertmanager", "/webhooks/alertmanager", paging, nil},
		{"alertmanager with a bearer", "/webhooks/alertmanager", paging, map[string]string{"Authorization": "Bearer anything"}},
		{"alertmanager with an empty bearer", "/webhooks/alertmanager", paging, map[string]string{"Authorization": "Bearer "}},
		{"pagerduty", "/webhooks/pagerduty", triggered, nil},
		{"pagerduty signed with the empty secret", "/webhooks/pagerduty", triggered, map[string]string{"X-PagerDuty-Signature": pdSign("", triggered)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e.unchanged(t, "", func(t *testing.T) {
				require.Equal(t, http.StatusNotFound, post(t, base+c.path, c.body, c.headers))
			}, func(*testing.T) {})
		})
	}
	for _, path := range []string{
		"/calendar/unknown.ics", "/calendar/" + strings.Repeat("A", 43) + ".ics", "/calendar/unknown", "/calendar/.ics",
		"/calendar/a%2Fb.ics", "/calendar/%27%20OR%20%271%27%3D%271.ics",
	} {
		code, body := get(t, base+path)
		require.Equal(t, http.StatusNotFound, code, path)
		require.Empty(t, body, path)
	}
	require.Zero(t, query[int](t, e, `SELECT count(*) FROM incidents`))
}
