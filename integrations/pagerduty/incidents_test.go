package pagerduty_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/integrations/pagerduty"
	"github.com/contextinject/oncallbot/integrations/pagerduty/pagerdutytest"
)

func TestIncidentWrites(t *testing.T) {
	t.Parallel()
	fake := pagerdutytest.New(t)
	var mu sync.Mutex
	var got []string
	fake.HandleFunc("PUT /incidents", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Incidents []struct{ ID, Type, Status string } `json:"incidents"`
		}
		require.NoError(t, json.NewDecoder(r.Body).Decode(&body))
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("From") == "" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":{"message":"Requester User Not Found","code":1008}}`)
			return
		}
		for _, i := range body.Incidents {
			if i.ID == "PDONE" {
				w.WriteHeader(http.StatusBadRequest)
				_, _ = io.WriteString(w, `{"error":{"message":"Incident Already Resolved","code":1001}}`)
				return
			}
			mu.Lock()
			got = append(got, fmt.Sprintf("%s %s %s from %s", i.ID, i.Type, i.Status, r.Header.Get("From")))
			mu.Unlock()
		}
		_, _ = io.WriteString(w, `{"incidents":[]}`)
	})
	fake.HandleFunc("GET /escalation_policies/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"escalation_policy":{"id":%q,"services":[{"id":"PSVC1","type":"service_reference"},{"id":"PSVC2"}]}}`, r.PathValue("id"))
	})
	fake.HandleFunc("POST /incidents", func(w http.ResponseWriter, r *http.Request) {
		var body map[string]map[string]any
		require.NoError(t, json.NewDecoder(r.Body).Decode(&body))
		require.Equal(t, "a@example.com", r.Header.Get("From"))
		require.Equal(t, "PSVC1", body["incident"]["service"].(map[string]any)["id"])
		require.Equal(t, "k-1", body["incident"]["incident_key"])
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"incident":{"id":"PNEW","incident_number":9,"title":"T","status":"triggered","html_url":"https://x/PNEW","priority":{"id":"PR","summary":"P1"}}}`)
	})
	fake.HandleFunc("GET /incidents/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"incident":{"id":%q,"incident_number":3,"title":"Disk","status":"acknowledged","urgency":"low"}}`, r.PathValue("id"))
	})
	c := pagerduty.New(pagerduty.Options{Token: pagerdutytest.Token, BaseURL: fake.URL, Sleep: func(context.Context, time.Duration) error { return nil }})
	ctx := context.Background()

	require.NoError(t, c.AcknowledgeIncident(ctx, "PINC1", "b@example.com"))
	require.NoError(t, c.ResolveIncident(ctx, "PINC1", "b@example.com"))
	require.Equal(t, []string{"PINC1 incident acknowledged from b@example.com", "PINC1 incident resolved from b@example.com"}, got)
	require.ErrorIs(t, c.AcknowledgeIncident(ctx, "PDONE", "b@example.com"), pagerduty.ErrAlreadyResolved)
	require.Error(t, c.AcknowledgeIncident(ctx, "PINC1", ""), "PagerDuty needs a From user")
	require.Error(t, c.AcknowledgeIncident(ctx, "", "b@example.com"))

	// 429 then success: retried.
	fake.FailNext("PUT", "/incidents", 1, http.StatusTooManyRequests, 1)
	require.NoError(t, c.AcknowledgeIncident(ctx, "PINC2", "b@example.com"))

	services, err := c.PolicyServices(ctx, "PPOLICY")
	require.NoError(t, err)
	require.Equal(t, []string{"PSVC1", "PSVC2"}, services)
	inc, err := c.CreateIncident(ctx, "a@example.com", pagerduty.NewIncident{Title: "T", ServiceID: "PSVC1", EscalationPolicyID: "PPOLICY", Urgency: "high", IncidentKey: "k-1"})
	require.NoError(t, err)
	require.Equal(t, pagerduty.Incident{ID: "PNEW", Number: 9, Title: "T", Status: "triggered", HTMLURL: "https://x/PNEW", Priority: "P1"}, inc)
	_, err = c.CreateIncident(ctx, "a@example.com", pagerduty.NewIncident{Title: "T"})
	require.Error(t, err, "a service is required")

	got1, err := c.GetIncident(ctx, "PX")
	require.NoError(t, err)
	require.Equal(t, "acknowledged", got1.Status)
}
