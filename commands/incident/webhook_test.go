package incident

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/integrations/pagerduty"
	"github.com/contextinject/oncallbot/integrations/pagerduty/pagerdutytest"
)

// recordingNonPaging collects non-paging alert groups.
type recordingNonPaging struct {
	mu     sync.Mutex
	groups []AlertGroup
}

func (r *recordingNonPaging) Alert(_ context.Context, g AlertGroup) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.groups = append(r.groups, g)
	return nil
}

// fakeRouter answers playbook labels and alertnames.
type fakeRouter struct {
	mu      sync.Mutex
	started []string
}

func (f *fakeRouter) Route(labels map[string]string) (string, string, bool) {
	if p := labels["playbook"]; p != "" {
		return p, "P2", true
	}
	if labels["alertname"] == "DiskSpaceLow" {
		return "disk-space", "P3", true
	}
	return "", "", false
}

func (f *fakeRouter) Start(_ context.Context, inc *Incident) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.started = append(f.started, inc.Key+" "+inc.Playbook)
	return nil
}

func amBody(status string, alerts ...map[string]any) []byte {
	g := map[string]any{"version": "4", "groupKey": `{}:{alertname="X"}`, "status": status, "receiver": "oncall-bot",
		"groupLabels": map[string]string{}, "commonLabels": map[string]string{}, "commonAnnotations": map[string]string{},
		"externalURL": "http://alertmanager:9093", "alerts": alerts}
	b, _ := json.Marshal(g)
	return b
}

func amAlert(status, fp string, labels map[string]string) map[string]any {
	ends := "0001-01-01T00:00:00Z"
	if status == "resolved" {
		ends = "2026-11-04T12:30:00Z"
	}
	return map[string]any{"status": status, "labels": labels, "annotations": map[string]string{"summary": "5xx > 5%"},
		"startsAt": "2026-11-04T11:58:00Z", "endsAt": ends, "generatorURL": "http://prometheus:9090/graph?g0.expr=x", "fingerprint": fp}
}

func serve(t *testing.T, b *bundle, req *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	mux := http.NewServeMux()
	b.m.Routes(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	return rec
}

func amRequest(body []byte, auth string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/webhooks/alertmanager", bytes.NewReader(body))
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	return r
}

func TestAlertmanagerWebhook(t *testing.T) {
	t.Parallel()
	quiet := &recordingNonPaging{}
	router := &fakeRouter{}
	b := newBundle(t, Options{WebhookToken: "s3cret-token"})
	b.m.SetNonPaging(quiet)
	b.m.SetAlertRouter(router)
	ok := "Bearer s3cret-token"
	fire := amBody("firing", amAlert("firing", "c6eadffa33fcdf37", map[string]string{"alertname": "HighErrorRate", "severity": "P2", "service": "api"}))

	// Refusals change nothing.
	for _, tc := range []struct {
		name string
		req  *http.Request
		code int
	}{
		{"no token", amRequest(fire, ""), http.StatusUnauthorized},
		{"basic auth", amRequest(fire, "Basic dXNlcjpwYXNz"), http.StatusUnauthorized},
		{"wrong token", amRequest(fire, "Bearer nope"), http.StatusForbidden},
		{"too large", amRequest(append([]byte(`{"version":"4","x":"`), bytes.Repeat([]byte("a"), 1<<20+10)...), ok), http.StatusRequestEntityTooLarge},
		{"bad JSON", amRequest([]byte(`{"version":"4",`), ok), http.StatusBadRequest},
		{"wrong version", amRequest([]byte(`{"version":"1","alerts":[]}`), ok), http.StatusBadRequest},
		{"GET", httptest.NewRequest(http.MethodGet, "/webhooks/alertmanager", nil), http.StatusMethodNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := serve(t, b, tc.req)
			require.Equal(t, tc.code, rec.Code, rec.Body.String())
			require.NotContains(t, rec.Body.String(), "s3cret")
		})
	}
	list, err := b.m.OpenIncidents(context.Background())
	require.NoError(t, err)
	require.Empty(t, list)

	// Fire, repeat: one incident.
	for range 2 {
		rec := serve(t, b, amRequest(fire, ok))
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	}
	list, err = b.m.OpenIncidents(context.Background())
	require.NoError(t, err)
	require.Len(t, list, 1)
	inc := list[0]
	require.Equal(t, "P2", inc.Severity)
	require.Equal(t, "HighErrorRate: 5xx &gt; 5%", inc.Title, "escaped for Slack")
	require.Equal(t, SourceAlertmanager, inc.Source)
	require.Empty(t, inc.Playbook, "no playbook label and no alertname rule")
	require.Len(t, b.slack.find("reply", "", "opened from an Alertmanager alert", "`service=api`"), 1)

	// Resolve, repeat: one note. Fire again: noted.
	resolve := amBody("resolved", amAlert("resolved", "c6eadffa33fcdf37", map[string]string{"alertname": "HighErrorRate", "severity": "P2"}))
	for range 2 {
		require.Equal(t, http.StatusOK, serve(t, b, amRequest(resolve, ok)).Code)
	}
	require.Len(t, b.slack.find("reply", "", "Alertmanager reports the alert resolved"), 1)
	require.Equal(t, StatusTriggered, b.get(t, inc.ID).Status, "humans resolve incidents")
	require.Equal(t, http.StatusOK, serve(t, b, amRequest(fire, ok)).Code)
	require.Len(t, b.slack.find("reply", "", "firing again"), 1)

	// A routed alert runs its playbook with the playbook's severity; a
	// non-paging one goes to #monitoring.
	mixed := amBody("firing",
		amAlert("firing", "disk1", map[string]string{"alertname": "DiskSpaceLow", "instance": "db-1"}),
		amAlert("firing", "warn1", map[string]string{"alertname": "SlowQueries", "severity": "warning"}),
		amAlert("firing", "crit1", map[string]string{"alertname": "Mystery <!channel>", "severity": "critical"}),
	)
	require.Equal(t, http.StatusOK, serve(t, b, amRequest(mixed, ok)).Code)
	list, err = b.m.OpenIncidents(context.Background())
	require.NoError(t, err)
	require.Len(t, list, 3)
	require.Equal(t, "disk-space", list[1].Playbook)
	require.Equal(t, "P3", list[1].Severity)
	require.Equal(t, "P3", list[2].Severity, "critical pages; without a P-label or playbook it is P3")
	require.Equal(t, "Mystery &lt;!channel&gt;: 5xx &gt; 5%", list[2].Title, "no @channel from an alert")
	for _, m := range b.slack.find("", "") {
		require.NotContains(t, m.Text, "<!channel>")
	}
	require.Equal(t, []string{"INC-2 disk-space"}, router.started)
	require.Len(t, quiet.groups, 1)
	require.Len(t, quiet.groups[0].Alerts, 1)
	require.Equal(t, "warn1", quiet.groups[0].Alerts[0].Fingerprint)
	require.Equal(t, "firing", quiet.groups[0].Status)
}

func TestAlertmanagerWebhookOffWithoutToken(t *testing.T) {
	t.Parallel()
	b := newBundle(t, Options{})
	rec := serve(t, b, amRequest(amBody("firing"), "Bearer x"))
	require.Equal(t, http.StatusNotFound, rec.Code)
	rec = serve(t, b, httptest.NewRequest(http.MethodPost, "/webhooks/pagerduty", strings.NewReader("{}")))
	require.Equal(t, http.StatusNotFound, rec.Code)
}

func sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

func pdEvent(typ, status, agent string) []byte {
	ev := map[string]any{"event": map[string]any{
		"id": "01ABC" + typ, "event_type": typ, "resource_type": "incident", "occurred_at": "2026-11-04T12:00:00.000Z",
		"agent": map[string]any{"id": agent, "type": "user_reference", "summary": "someone"},
		"data": map[string]any{"id": "PINC1", "type": "incident", "number": 7, "status": status, "title": "Checkout 5xx",
			"html_url": "https://acme.pagerduty.com/incidents/PINC1", "urgency": "high", "incident_key": "k1",
			"priority": map[string]any{"summary": "P1"}, "assignees": []any{map[string]any{"id": "PENGB"}}},
	}}
	b, _ := json.Marshal(ev)
	return b
}

func pdRequest(body []byte, sig string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/webhooks/pagerduty", bytes.NewReader(body))
	if sig != "" {
		r.Header.Set("X-PagerDuty-Signature", sig)
	}
	r.Header.Set("X-Webhook-Id", "wh-1")
	return r
}

// fakePagerDuty adds incident routes to the fake PagerDuty and records writes.
type fakePagerDuty struct {
	*pagerdutytest.Server
	mu     sync.Mutex
	writes []string // "METHOD path from=… status=…"
}

func newFakePagerDuty(t *testing.T) *fakePagerDuty {
	f := &fakePagerDuty{Server: pagerdutytest.New(t)}
	f.HandleFunc("PUT /incidents", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Incidents []struct{ ID, Status string } `json:"incidents"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		f.mu.Lock()
		for _, i := range body.Incidents {
			f.writes = append(f.writes, fmt.Sprintf("PUT %s from=%s status=%s", i.ID, r.Header.Get("From"), i.Status))
		}
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"incidents":[]}`)
	})
	f.HandleFunc("GET /escalation_policies/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"escalation_policy":{"id":%q,"type":"escalation_policy","services":[{"id":"PSVC1","type":"service_reference"}]}}`, r.PathValue("id"))
	})
	f.HandleFunc("POST /incidents", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Incident struct {
				Title       string `json:"title"`
				IncidentKey string `json:"incident_key"`
				Service     struct{ ID string }
			} `json:"incident"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		f.mu.Lock()
		f.writes = append(f.writes, fmt.Sprintf("POST %s from=%s key=%s service=%s", body.Incident.Title, r.Header.Get("From"), body.Incident.IncidentKey, body.Incident.Service.ID))
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"incident":{"id":"PNEW1","type":"incident","incident_number":42,"title":%q,"status":"triggered","html_url":"https://acme.pagerduty.com/incidents/PNEW1"}}`, body.Incident.Title)
	})
	return f
}

func (f *fakePagerDuty) written() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.writes...)
}

func pdClient(f *fakePagerDuty) *pagerduty.Client {
	return pagerduty.New(pagerduty.Options{Token: pagerdutytest.Token, BaseURL: f.URL,
		Sleep: func(context.Context, time.Duration) error { return nil }})
}

func TestPagerDutyWebhookAndMirror(t *testing.T) {
	t.Parallel()
	fake := newFakePagerDuty(t)
	b := newBundle(t, Options{PagerDutySecret: "s3cret", PagerDuty: pdClient(fake)})
	ctx := context.Background()
	trig := pdEvent("incident.triggered", "triggered", "")

	for _, tc := range []struct {
		name string
		req  *http.Request
		code int
	}{
		{"no signature", pdRequest(trig, ""), http.StatusBadRequest},
		{"bad signature", pdRequest(trig, sign("other", trig)), http.StatusForbidden},
		{"malformed header", pdRequest(trig, "V1=abc"), http.StatusBadRequest},
		{"too large", pdRequest(bytes.Repeat([]byte("a"), 1<<20+1), "v1=00"), http.StatusRequestEntityTooLarge},
		{"signed bad JSON", pdRequest([]byte("{nope"), sign("s3cret", []byte("{nope"))), http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := serve(t, b, tc.req)
			require.Equal(t, tc.code, rec.Code, rec.Body.String())
			require.NotContains(t, rec.Body.String(), "s3cret")
		})
	}
	list, err := b.m.OpenIncidents(ctx)
	require.NoError(t, err)
	require.Empty(t, list)

	// A valid signature during a secret rotation, written with a space
	// after the comma (go-pagerduty alone would refuse it); and a repeat.
	for range 2 {
		rec := serve(t, b, pdRequest(trig, "v1=deadbeef, "+sign("s3cret", trig)))
		require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
	}
	list, err = b.m.OpenIncidents(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	inc := list[0]
	require.Equal(t, "P1", inc.Severity, "from the PagerDuty priority")
	require.Equal(t, PagingPagerDuty, inc.Paging)
	require.Equal(t, "PINC1", inc.PagerDutyID)
	require.Empty(t, jobArgs[stepArgs](t, b, "incident_step")[1:], "only the P1 broadcast: PagerDuty pages the chain")
	require.Len(t, b.slack.find("reply", "", "Triggered in PagerDuty", "PINC1|#7"), 1)

	// PagerDuty's broadcast turns into a thread mention, not DMs.
	require.NoError(t, b.m.fireBroadcast(ctx, inc.ID))
	require.Empty(t, b.slack.find("post", "U0CTO", "You are paged"))
	require.Len(t, b.slack.find("reply", "", "heads up", "<@U0CTO>"), 1)

	// Acknowledged in PagerDuty by Engineer B: mirrored, not echoed back.
	ack := pdEvent("incident.acknowledged", "acknowledged", "PENGB")
	require.Equal(t, http.StatusNoContent, serve(t, b, pdRequest(ack, sign("s3cret", ack))).Code)
	got := b.get(t, inc.ID)
	require.Equal(t, StatusAcknowledged, got.Status)
	require.Equal(t, "U0ENGB", got.AckedBy)
	require.Equal(t, SourcePagerDuty, got.AckedVia)
	require.Empty(t, jobArgs[pagerdutyArgs](t, b, "incident_pagerduty"))
	require.Len(t, b.slack.find("reply", "", "Acknowledged by Engineer B", "in PagerDuty"), 1)

	res := pdEvent("incident.resolved", "resolved", "PENGB")
	require.Equal(t, http.StatusNoContent, serve(t, b, pdRequest(res, sign("s3cret", res))).Code)
	require.Equal(t, StatusResolved, b.get(t, inc.ID).Status)
	require.Empty(t, fake.written(), "nothing was sent back to PagerDuty")

	// Declared in Slack in PagerDuty mode: raised in PagerDuty, which pages;
	// a Slack ack acknowledges it there as that user.
	decl := b.open(t, "P2", "Checkout errors")
	require.Equal(t, PagingPagerDuty, decl.Paging)
	creates := jobArgs[pagerdutyArgs](t, b, "incident_pagerduty")
	require.Len(t, creates, 1)
	require.NoError(t, b.m.mirrorToPagerDuty(ctx, creates[0], false))
	require.Equal(t, []string{"POST INC-2 P2: Checkout errors from=engineer-a@contextinject.ai key=oncallbot-INC-2 service=PSVC1"}, fake.written())
	require.Equal(t, "PNEW1", b.get(t, decl.ID).PagerDutyID)
	_, err = b.m.Acknowledge(ctx, decl.ID, "U0ENGB", "button")
	require.NoError(t, err)
	for _, a := range jobArgs[pagerdutyArgs](t, b, "incident_pagerduty") {
		if a.Action == pdAcknowledge {
			require.NoError(t, b.m.mirrorToPagerDuty(ctx, a, false))
		}
	}
	require.Contains(t, fake.written(), "PUT PNEW1 from=engineer-b@contextinject.ai status=acknowledged")
	// Its webhook coming back finds the same incident.
	back := bytes.ReplaceAll(bytes.ReplaceAll(pdEvent("incident.acknowledged", "acknowledged", "PENGB"), []byte(`"PINC1"`), []byte(`"PNEW1"`)), []byte(`"k1"`), []byte(`"oncallbot-INC-2"`))
	require.Equal(t, http.StatusNoContent, serve(t, b, pdRequest(back, sign("s3cret", back))).Code)
	list, err = b.m.OpenIncidents(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)

	// PagerDuty failing on the last attempt is reported in the thread.
	fake.SetDown(true)
	err = b.m.mirrorToPagerDuty(ctx, pagerdutyArgs{IncidentID: decl.ID, Action: pdResolve, User: "U0ENGB"}, true)
	require.NoError(t, err)
	require.Len(t, b.slack.find("reply", "", "PagerDuty did not accept the resolve"), 1)
}
