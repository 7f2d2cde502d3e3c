package incident

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/contextinject/oncallbot/commands"
	"github.com/contextinject/oncallbot/integrations/pagerduty"
)

// Slack delivers slash text as JSON, so a handler never sees invalid UTF-8;
// the command fuzzers feed it what Slack could send.
func slackText(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// wantUserError fails unless err is a user-facing error of one of codes with
// a printable sentence.
func wantUserError(t *testing.T, in string, err error, codes ...commands.Code) *commands.Error {
	t.Helper()
	var e *commands.Error
	if !errors.As(err, &e) || !slices.Contains(codes, e.Code) {
		t.Fatalf("%q: want a user-facing error of %v, got %v", in, codes, err)
	}
	if strings.TrimSpace(e.Message) == "" || strings.Contains(e.Message, "%!") || !utf8.ValidString(e.Message) {
		t.Fatalf("%q: bad sentence %q", in, e.Message)
	}
	return e
}

// FuzzParseKey checks incident keys: never a panic, only positive IDs, and
// KeyOf round-trips through every spelling ParseKey accepts.
func FuzzParseKey(f *testing.F) {
	for _, s := range []string{"INC-12", "inc-12", "#12", "12", " INC-1 ", "INC-0", "INC--1", "INC-+3", "INC-#4", "#INC-5", "ınc-6", "INC-9223372036854775808", "", "INC-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := ParseKey(s)
		if !ok {
			if id != 0 {
				t.Fatalf("%q: refused but id %d", s, id)
			}
			return
		}
		if id <= 0 {
			t.Fatalf("%q: id %d", s, id)
		}
		key := KeyOf(id)
		for _, form := range []string{key, strings.ToLower(key), "#" + strconv.FormatInt(id, 10), strconv.FormatInt(id, 10)} {
			if got, ok := ParseKey(form); !ok || got != id {
				t.Fatalf("%q (from %q) parsed to %d, %v; want %d", form, s, got, ok, id)
			}
		}
	})
}

var slashSeeds = []string{
	"", "P1 Checkout is down", "p2   API   slow  ", "P9 nope", "P1", "P1 " + strings.Repeat("x", maxTitle+1), "list", "ic",
	"<@U0ENGB>", "<@U0ENGB> INC-1", "<@U0ENGB|Engineer B> #1", "bob INC-1", "<@U0ENGB> INC-1 extra", "INC-1", "#999999", "INC-x",
	"P1 `<!channel>` *everyone*", "\u00a0P2\u00a0title", "P3 tab\tseparated", strings.Repeat("ü", 50),
}

// FuzzIncidentCommands runs `/incident <sev> <title>`, `/incident list`,
// `/incident ic @eng [incident]` and `/oncall ack [incident]` on a real
// database (`/incident list` only with arguments, which it refuses): whatever the
// text, each answers with a result or a user-facing sentence — never a
// panic or an internal error. A declaration succeeds exactly when the
// severity is configured and the title is acceptable.
func FuzzIncidentCommands(f *testing.F) {
	for _, s := range slashSeeds {
		f.Add(s)
	}
	b := newBundle(f, Options{})
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, raw string) {
		text := slackText(raw)
		req := commands.Slash{Command: "/incident", UserID: "U0ENGA", ChannelID: b.cfg.Channels.Incidents, Args: text}

		res, err := b.m.declare(ctx, req)
		sev, title, _ := strings.Cut(strings.TrimSpace(text), " ")
		_, sevErr := b.m.severityName(sev)
		_, titleErr := cleanTitle(title)
		if sev != "" && sevErr == nil && titleErr == nil {
			if err != nil || res.Ephemeral == nil || !strings.HasPrefix(res.Ephemeral.Text, "Declared *INC-") {
				t.Fatalf("/incident %q: want a declaration, got %+v, %v", text, res, err)
			}
		} else {
			wantUserError(t, text, err, commands.Invalid)
		}

		if text != "" {
			_, err := b.m.list(ctx, req)
			wantUserError(t, text, err, commands.Invalid)
		}

		if _, err := b.m.ic(ctx, req); err != nil {
			wantUserError(t, text, err, commands.Invalid, commands.NotFound, commands.Forbidden, commands.Conflict)
		}

		req.Command = "/oncall"
		if _, err := b.m.ack(ctx, req); err != nil {
			wantUserError(t, text, err, commands.Invalid, commands.NotFound, commands.Conflict)
		}
	})
}

// FuzzAlertmanagerWebhook posts arbitrary bodies with arbitrary
// Authorization headers to POST /webhooks/alertmanager on a real database:
// no panic and no 5xx; only the exact bearer token gets past 401/403; a body
// that is not a v4 notification is a 4xx.
func FuzzAlertmanagerWebhook(f *testing.F) {
	const token = "s3cret-token"
	fire := amBody("firing", amAlert("firing", "c6eadffa33fcdf37", map[string]string{"alertname": "HighErrorRate", "severity": "P2", "service": "api"}))
	seeds := [][]byte{
		fire,
		amBody("resolved", amAlert("resolved", "c6eadffa33fcdf37", map[string]string{"alertname": "HighErrorRate", "severity": "P2"})),
		amBody("firing", amAlert("firing", "", map[string]string{"alertname": "DiskSpaceAlert", "severity": "warning"})),
		amBody("firing", amAlert("firing", "", map[string]string{"alertname": "<!channel>", "severity": "critical"})),
		amBody("firing", amAlert("firing", strings.Repeat("f", 300), map[string]string{"severity": "P9"})),
		amBody("firing"),
		[]byte(`{"version":"4","alerts":[{"status":"firing","labels":null,"startsAt":"x"}]}`),
		[]byte(`{"version":"4","alerts":[{}, null]}`),
		[]byte(`{"version":"4","status":"firing","alerts":[{"status":"firing","fingerprint":"a\u0000b","labels":{"alertname":"X\u0000","severity":"P1","k\u0000":"v\u0000"},"annotations":{"summary":"\u0000","description":"d\u0000"}}]}`),
		[]byte(`{"version":"1","alerts":[]}`),
		[]byte(`{"version":"4",`),
		[]byte(`null`),
		[]byte(``),
	}
	for _, s := range seeds {
		f.Add(s, "Bearer "+token)
	}
	f.Add(fire, "")
	f.Add(fire, "Bearer nope")
	f.Add(fire, "bearer "+token)
	f.Add(fire, "Bearer  "+token+" ")
	f.Add(fire, "Basic dXNlcjpwYXNz")

	b := newBundle(f, Options{WebhookToken: token})
	b.m.SetNonPaging(&recordingNonPaging{})
	mux := http.NewServeMux()
	b.m.Routes(mux)
	f.Fuzz(func(t *testing.T, body []byte, auth string) {
		r := httptest.NewRequest(http.MethodPost, "/webhooks/alertmanager", strings.NewReader(string(body)))
		r.Header.Set("Authorization", auth)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, r)
		code := rec.Code
		if code >= 500 {
			t.Fatalf("%d for body %q: %s", code, body, rec.Body.String())
		}
		tok, bearer := strings.CutPrefix(auth, "Bearer ")
		authorized := bearer && strings.TrimSpace(tok) == token
		if !authorized && code != http.StatusUnauthorized && code != http.StatusForbidden {
			t.Fatalf("Authorization %q got %d, want 401 or 403", auth, code)
		}
		if authorized && code < 300 {
			var g AlertGroup
			if err := json.Unmarshal(body, &g); err != nil || g.Version != "4" {
				t.Fatalf("accepted %q (%v, version %q)", body, err, g.Version)
			}
		}
		if strings.Contains(rec.Body.String(), token) {
			t.Fatal("the answer shows the token")
		}
	})
}

// FuzzPagerDutyWebhook posts arbitrary bodies to POST /webhooks/pagerduty
// on a real database, with the fuzzed signature header or, when sign is
// set, a correct one: never a panic or a 5xx, and without a valid signature
// never a 2xx.
func FuzzPagerDutyWebhook(f *testing.F) {
	const secret = "s3cret"
	seeds := [][]byte{
		pdEvent("incident.triggered", "triggered", "PENGA"),
		pdEvent("incident.acknowledged", "acknowledged", "PENGB"),
		pdEvent("incident.resolved", "resolved", ""),
		pdEvent("incident.escalated", "triggered", "PLEAD"),
		pdEvent("incident.unacknowledged", "triggered", ""),
		pdEvent("service.updated", "", ""),
		[]byte(`{"event":{"event_type":"incident.triggered","resource_type":"incident","data":{"id":"P2","type":"incident","title":"","number":0,"incident_key":"oncallbot-INC-1"}}}`),
		[]byte(`{"event":{"event_type":"incident.resolved","resource_type":"incident","data":{"id":"P3","type":"incident"}}}`),
		[]byte(`{"event":null}`),
		[]byte(`{`),
		[]byte(``),
	}
	for _, s := range seeds {
		f.Add(s, "", true)
		f.Add(s, sign(secret, s), false)
		f.Add(s, "v1=00, "+sign("old", s), false)
	}
	b := newBundle(f, Options{PagerDutySecret: secret})
	mux := http.NewServeMux()
	b.m.Routes(mux)
	f.Fuzz(func(t *testing.T, body []byte, header string, signIt bool) {
		if signIt {
			header = sign(secret, body)
		}
		r := httptest.NewRequest(http.MethodPost, "/webhooks/pagerduty", strings.NewReader(string(body)))
		r.Header.Set(pagerduty.SignatureHeader, header)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, r)
		code := rec.Code
		if code >= 500 {
			t.Fatalf("%d for body %q: %s", code, body, rec.Body.String())
		}
		if good := strings.TrimPrefix(sign(secret, body), "v1="); code < 300 && !strings.Contains(strings.ToLower(header), good) {
			t.Fatalf("accepted %q with signature header %q", body, header)
		}
	})
}
