package pagerduty_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/integrations/pagerduty"
)

// The test vector of reference/integrations.md §1.9.
const (
	vectorSecret = "s3cret"
	vectorBody   = `{"event":{"id":"01ABC","event_type":"incident.triggered","resource_type":"incident","occurred_at":"2024-05-01T10:00:00.000Z","agent":null,"client":null,"data":{"id":"PINC1","type":"incident","status":"triggered"}}}`
	vectorSig    = "v1=b0de2eaf8021993afdcd892f6bcd1422a95f0055bd794afae19a89f284a9b1f1"
)

func webhookRequest(body, sig string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/webhooks/pagerduty", strings.NewReader(body))
	if sig != "" {
		r.Header.Set(pagerduty.SignatureHeader, sig)
	}
	return r
}

func TestVerifyWebhook(t *testing.T) {
	t.Parallel()
	other := func() string {
		mac := hmac.New(sha256.New, []byte("old"))
		mac.Write([]byte(vectorBody))
		return "v1=" + hex.EncodeToString(mac.Sum(nil))
	}()
	for _, tc := range []struct {
		name, body, sig, secret string
		want                    error
	}{
		{"test vector", vectorBody, vectorSig, vectorSecret, nil},
		{"uppercase hex", vectorBody, "v1=" + strings.ToUpper(strings.TrimPrefix(vectorSig, "v1=")), vectorSecret, nil},
		{"rotation, no space", vectorBody, other + "," + vectorSig, vectorSecret, nil},
		{"rotation with a space (go-pagerduty alone refuses)", vectorBody, other + ", " + vectorSig, vectorSecret, nil},
		{"rotation with spaces around", vectorBody, "  " + vectorSig + " ,  " + other, vectorSecret, nil},
		{"wrong secret", vectorBody, vectorSig, "nope", pagerduty.ErrBadSignature},
		{"tampered body", strings.Replace(vectorBody, "PINC1", "PINC2", 1), vectorSig, vectorSecret, pagerduty.ErrBadSignature},
		{"no header", vectorBody, "", vectorSecret, pagerduty.ErrMalformed},
		{"wrong version", vectorBody, "V1=abc", vectorSecret, pagerduty.ErrMalformed},
		{"empty body", "", vectorSig, vectorSecret, pagerduty.ErrMalformed},
		{"no secret configured", vectorBody, vectorSig, "", pagerduty.ErrBadSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := webhookRequest(tc.body, tc.sig)
			err := pagerduty.VerifyWebhook(r, tc.secret)
			if tc.want == nil {
				require.NoError(t, err)
				rest, _ := io.ReadAll(r.Body)
				require.Equal(t, tc.body, string(rest), "the body stays readable")
				return
			}
			require.ErrorIs(t, err, tc.want)
		})
	}
	// A size-bounded body reports the bound.
	big := bytes.Repeat([]byte("a"), 2048)
	r := webhookRequest(string(big), vectorSig)
	rec := httptest.NewRecorder()
	r.Body = http.MaxBytesReader(rec, r.Body, 1024)
	err := pagerduty.VerifyWebhook(r, vectorSecret)
	var tooBig *http.MaxBytesError
	require.True(t, errors.As(err, &tooBig), "%v", err)
}

func TestParseWebhook(t *testing.T) {
	t.Parallel()
	ev, err := pagerduty.ParseWebhook([]byte(`{"event":{"id":"5ac6","event_type":"incident.acknowledged","resource_type":"incident",
		"occurred_at":"2020-10-02T18:45:22.169Z","agent":{"id":"PLH1HKV","type":"user_reference","summary":"Tenex Engineer"},
		"data":{"id":"PGR0VU2","type":"incident","number":2,"status":"acknowledged","incident_key":"d364","title":"A little bump",
		"html_url":"https://acme.pagerduty.com/incidents/PGR0VU2","urgency":"high","priority":{"id":"P","type":"priority_reference","summary":"P1"},
		"assignees":[{"id":"PTUXL6G","type":"user_reference","summary":"User 123"}]}}}`))
	require.NoError(t, err)
	require.Equal(t, "incident.acknowledged", ev.Type)
	require.Equal(t, "PLH1HKV", ev.AgentID)
	require.Equal(t, pagerduty.Incident{ID: "PGR0VU2", Number: 2, Title: "A little bump", Status: "acknowledged", IncidentKey: "d364",
		HTMLURL: "https://acme.pagerduty.com/incidents/PGR0VU2", Urgency: "high", Priority: "P1"}, ev.Incident)
	require.Equal(t, []string{"PTUXL6G"}, ev.AssigneeIDs)

	note, err := pagerduty.ParseWebhook([]byte(`{"event":{"event_type":"incident.annotated","resource_type":"incident","agent":null,"data":{"id":"N1","type":"incident_note"}}}`))
	require.NoError(t, err)
	require.Empty(t, note.Incident.ID, "only incident data fills Incident")
	for _, bad := range []string{``, `{`, `[]`, `{"event":null}`, `{"event":{}}`} {
		_, err := pagerduty.ParseWebhook([]byte(bad))
		require.ErrorIs(t, err, pagerduty.ErrMalformed, bad)
	}
}
