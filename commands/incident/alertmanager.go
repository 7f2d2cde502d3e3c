package incident

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/contextinject/oncallbot/commands"
	"github.com/contextinject/oncallbot/store"
)

// AlertGroup is an Alertmanager webhook notification (version "4"): one
// alert group with its alerts.
type AlertGroup struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"` // firing when any alert fires
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []Alert           `json:"alerts"`
}

// Alert is one alert of a group.
type Alert struct {
	Status       string            `json:"status"` // firing, resolved
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// maxAlerts bounds the alerts handled from one notification.
const maxAlerts = 200

// alertmanagerWebhook serves POST /webhooks/alertmanager: bearer
// WEBHOOK_TOKEN, at most 1 MiB, a v4 payload. A firing alert opens an
// incident per fingerprint (a repeat finds it), a resolved one is noted in
// its thread; non-paging alerts go to NonPaging. Errors worth retrying
// answer 503, because Alertmanager retries 5xx only.
func (m *Module) alertmanagerWebhook(w http.ResponseWriter, r *http.Request) {
	log := m.d.Log.With("webhook", "alertmanager")
	if m.o.WebhookToken == "" {
		http.NotFound(w, r)
		return
	}
	auth := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(auth, "Bearer ")
	switch {
	case auth == "" || !ok:
		log.Warn("webhook refused: no bearer token")
		w.Header().Set("WWW-Authenticate", `Bearer realm="oncallbot"`)
		http.Error(w, "bearer token required", http.StatusUnauthorized)
		return
	case !sameSecret(strings.TrimSpace(token), m.o.WebhookToken):
		log.Warn("webhook refused: wrong bearer token")
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			log.Warn("webhook refused: body too large")
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "body not readable", http.StatusBadRequest)
		return
	}
	var g AlertGroup
	if err := json.Unmarshal(body, &g); err != nil {
		log.Warn("webhook refused: bad JSON")
		http.Error(w, "bad JSON", http.StatusBadRequest)
		return
	}
	if g.Version != "4" {
		log.Warn("webhook refused: unsupported version", "version", clipRunes(g.Version, 10))
		http.Error(w, `unsupported payload version (want Alertmanager webhook version "4")`, http.StatusBadRequest)
		return
	}
	if len(g.Alerts) > maxAlerts {
		g.Alerts = g.Alerts[:maxAlerts]
	}
	if err := m.onAlerts(r.Context(), g); err != nil {
		log.Error("alertmanager webhook not processed", "err", err)
		http.Error(w, "try again", http.StatusServiceUnavailable)
		return
	}
	log.Info("alertmanager webhook processed", "alerts", len(g.Alerts), "status", g.Status)
	w.WriteHeader(http.StatusOK)
}

// sameSecret compares in constant time (of the hashes, so length leaks nothing).
func sameSecret(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

// fingerprint is the alert's fingerprint, or a hash of its labels.
func fingerprint(a Alert) string {
	if fp := strings.TrimSpace(printable(a.Fingerprint)); fp != "" {
		return clipRunes(fp, 100)
	}
	keys := make([]string, 0, len(a.Labels))
	for k := range a.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%s\x00%s\x00", k, a.Labels[k])
	}
	return "labels:" + hex.EncodeToString(h.Sum(nil))[:16]
}

// pagingLabel reports whether a severity label pages by itself (P1–P4 or critical).
func pagingLabel(s string) bool {
	return severityLabelRE.MatchString(s) || strings.EqualFold(s, "critical")
}

// onAlerts handles every alert of a group.
func (m *Module) onAlerts(ctx context.Context, g AlertGroup) error {
	quiet := g
	quiet.Alerts = nil
	var errs []error
	for _, a := range g.Alerts {
		labels := a.Labels
		if labels == nil {
			labels = map[string]string{}
		}
		playbook, pbSeverity, routed := "", "", false
		if m.router != nil {
			playbook, pbSeverity, routed = m.router.Route(labels)
		}
		fp := fingerprint(a)
		if a.Status == "resolved" {
			handled, err := m.alertResolved(ctx, fp, a)
			if err != nil {
				errs = append(errs, err)
			} else if !handled && !routed && !pagingLabel(labels["severity"]) {
				quiet.Alerts = append(quiet.Alerts, a)
			}
			continue
		}
		if !routed && !pagingLabel(labels["severity"]) {
			quiet.Alerts = append(quiet.Alerts, a)
			continue
		}
		sev := "P3"
		switch l := labels["severity"]; {
		case severityLabelRE.MatchString(l):
			sev = strings.ToUpper(l)
		case routed && pbSeverity != "":
			sev = pbSeverity
		}
		if err := m.alertFiring(ctx, fp, m.fallbackSeverity(sev), playbook, routed, a, g); err != nil {
			errs = append(errs, err)
		}
	}
	if len(quiet.Alerts) > 0 {
		quiet.Status = "resolved"
		for _, a := range quiet.Alerts {
			if a.Status != "resolved" {
				quiet.Status = "firing"
			}
		}
		if m.nonPaging != nil {
			if err := m.nonPaging.Alert(ctx, quiet); err != nil {
				errs = append(errs, fmt.Errorf("post non-paging alerts: %w", err))
			}
		} else {
			m.d.Log.Info("non-paging alerts received; no #monitoring poster is configured", "alerts", len(quiet.Alerts))
		}
	}
	return errors.Join(errs...)
}

// escaper escapes text from outside Slack (webhook bodies, modal fields)
// the way Slack's mrkdwn needs, so that it cannot ping <!channel> or forge
// links and mentions.
var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// escape applies escaper.
func escape(s string) string { return escaper.Replace(printable(s)) }

// alertTitle is "HighErrorRate: 5xx &gt; 5%" (escaped for Slack).
func alertTitle(a Alert) string {
	name := escape(a.Labels["alertname"])
	summary := escape(a.Annotations["summary"])
	switch {
	case name != "" && summary != "":
		return clipRunes(name+": "+summary, maxTitle)
	case name != "":
		return clipRunes(name, maxTitle)
	case summary != "":
		return clipRunes(summary, maxTitle)
	}
	return "Alert " + escape(fingerprint(a))
}

// alertDetails lists an alert's labels for the thread.
func alertDetails(a Alert) string {
	keys := make([]string, 0, len(a.Labels))
	for k := range a.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("`%s=%s`", escape(clipRunes(k, 60)), escape(clipRunes(a.Labels[k], 120))))
	}
	s := "Labels: " + strings.Join(parts, " ")
	if d := a.Annotations["description"]; d != "" {
		s += "\n" + escape(clipRunes(d, 500))
	}
	if strings.HasPrefix(a.GeneratorURL, "http://") || strings.HasPrefix(a.GeneratorURL, "https://") {
		s += fmt.Sprintf("\n<%s|Source graph>", strings.NewReplacer("|", "%7C", ">", "%3E").Replace(a.GeneratorURL))
	}
	return clipRunes(s, 2000)
}

// alertFiring opens (or finds) the incident of a firing alert.
func (m *Module) alertFiring(ctx context.Context, fp, sev, playbook string, routed bool, a Alert, g AlertGroup) error {
	inc, created, err := m.open(ctx, OpenRequest{
		Severity: sev, Title: alertTitle(a), Playbook: playbook, Source: SourceAlertmanager, SourceRef: fp,
		OpenedBy: SourceAlertmanager, Note: alertDetails(a),
	})
	if err != nil {
		if _, ok := commands.UserMessage(err); !ok || inc == nil {
			return err
		}
	}
	prev, err := alertState(ctx, m.d.DB.Pool, fp, inc.ID)
	if err != nil {
		return err
	}
	if prev != "firing" {
		if err := setAlertState(ctx, m.d.DB.Pool, fp, inc.ID, "firing", m.d.Now()); err != nil {
			return err
		}
	}
	if !created && prev == "resolved" {
		m.changed(ctx, inc.ID, fmt.Sprintf(":fire: The alert is firing again (since %s).", commands.Date(a.StartsAt)))
	}
	if created && routed && m.router != nil {
		if err := m.router.Start(ctx, inc); err != nil {
			m.d.Log.Error("playbook not started", "incident_id", inc.ID, "playbook", playbook, "err", err)
			m.changed(ctx, inc.ID, fmt.Sprintf(":warning: The %s playbook could not be started; run `/triage %s` by hand.", playbook, playbook))
		}
	}
	return nil
}

// alertResolved notes a resolved alert in its open incident's thread once.
func (m *Module) alertResolved(ctx context.Context, fp string, a Alert) (bool, error) {
	inc, err := openBySource(ctx, m.d.DB.Pool, SourceAlertmanager, fp)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	prev, err := alertState(ctx, m.d.DB.Pool, fp, inc.ID)
	if err != nil || prev == "resolved" {
		return true, err
	}
	if err := setAlertState(ctx, m.d.DB.Pool, fp, inc.ID, "resolved", m.d.Now()); err != nil {
		return true, err
	}
	when := ""
	if !a.EndsAt.IsZero() && a.EndsAt.Year() > 1 {
		when = " at " + commands.Date(a.EndsAt)
	}
	m.changed(ctx, inc.ID, fmt.Sprintf(":large_green_circle: Alertmanager reports the alert resolved%s. The incident stays open until someone resolves it.", when))
	return true, nil
}
