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

	"github.com/contextinject/oncallbot/integrations/pagerduty"
)

// validSignature reports whether header carries a v1 signature of body under
// secret: the only thing that may make VerifyWebhook succeed.
func validSignature(header, secret string, body []byte) bool {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, p := range strings.Split(header, ",") {
		hexSig, ok := strings.CutPrefix(strings.TrimSpace(p), "v1=")
		if !ok {
			continue
		}
		if got, err := hex.DecodeString(hexSig); err == nil && hmac.Equal(got, want) {
			return true
		}
	}
	return false
}

// FuzzVerifyWebhook checks the v3 signature check against arbitrary bodies,
// signature headers and secrets: it never panics, accepts a request only when
// a signature in the header is the HMAC of the body under the secret, sorts
// every refusal as ErrBadSignature or ErrMalformed, leaves the body readable
// unchanged, and accepts the same body once a correct signature is added
// among the others (secret rotation).
func FuzzVerifyWebhook(f *testing.F) {
	f.Add([]byte(vectorBody), vectorSig, vectorSecret)
	f.Add([]byte(vectorBody), "v1=00, "+vectorSig+" ,", vectorSecret)
	f.Add([]byte(vectorBody), strings.ToUpper(vectorSig), vectorSecret)
	f.Add([]byte(vectorBody), vectorSig, "")
	f.Add([]byte(""), vectorSig, vectorSecret)
	f.Add([]byte("{}"), "", vectorSecret)
	f.Add([]byte("x"), "v1=", "k")
	f.Add([]byte("x"), "v1=zz,v2=00,,, ,v1", "k")
	f.Add([]byte("x"), "v1="+strings.Repeat("0", 64), "k")
	f.Fuzz(func(t *testing.T, body []byte, header, secret string) {
		r := httptest.NewRequest(http.MethodPost, "/webhooks/pagerduty", bytes.NewReader(body))
		r.Header.Set(pagerduty.SignatureHeader, header)
		sent := r.Header.Get(pagerduty.SignatureHeader)
		err := pagerduty.VerifyWebhook(r, secret)
		if err == nil {
			if secret == "" || !validSignature(sent, secret, body) {
				t.Fatalf("accepted a request without a valid signature: header %q, secret %q", sent, secret)
			}
		} else if !errors.Is(err, pagerduty.ErrBadSignature) && !errors.Is(err, pagerduty.ErrMalformed) {
			t.Fatalf("refusal %v is neither ErrBadSignature nor ErrMalformed", err)
		}
		if again, rerr := io.ReadAll(r.Body); rerr != nil || !bytes.Equal(again, body) {
			t.Fatalf("body not readable again after verification: %q, %v", again, rerr)
		}

		if secret == "" || len(body) == 0 {
			return
		}
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		good := "v1=" + hex.EncodeToString(mac.Sum(nil))
		r = httptest.NewRequest(http.MethodPost, "/webhooks/pagerduty", bytes.NewReader(body))
		r.Header.Set(pagerduty.SignatureHeader, sent+", "+good)
		if err := pagerduty.VerifyWebhook(r, secret); err != nil {
			t.Fatalf("refused a correctly signed body (header %q): %v", r.Header.Get(pagerduty.SignatureHeader), err)
		}
	})
}

// FuzzParseWebhook checks the v3 payload decoder: it never panics, every
// refusal is ErrMalformed, an accepted event has a type, and incident fields
// are filled only for incident data.
func FuzzParseWebhook(f *testing.F) {
	f.Add([]byte(vectorBody))
	f.Add([]byte(`{"event":{"event_type":"incident.acknowledged","resource_type":"incident","agent":{"id":"PENGA","summary":"A"},"data":{"id":"P1","type":"incident","number":7,"priority":{"summary":"P1"},"assignees":[{"id":"PENGB"},{"id":""}]}}}`))
	f.Add([]byte(`{"event":{"event_type":"service.updated","resource_type":"service","data":{"id":"S1","type":"service"}}}`))
	f.Add([]byte(`{"event":null}`))
	f.Add([]byte(`{"event":{"event_type":""}}`))
	f.Add([]byte(`{"event":{"event_type":"x","occurred_at":"yesterday"}}`))
	f.Add([]byte(`{"event":{"event_type":"x","data":{"number":-1}}}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := pagerduty.ParseWebhook(body)
		if err != nil {
			if !errors.Is(err, pagerduty.ErrMalformed) {
				t.Fatalf("refusal %v is not ErrMalformed", err)
			}
			return
		}
		if ev.Type == "" {
			t.Fatal("accepted an event without a type")
		}
		for _, id := range ev.AssigneeIDs {
			if id == "" {
				t.Fatal("empty assignee ID")
			}
		}
	})
}
