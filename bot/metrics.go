package bot

import (
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the bot's Prometheus collectors, registered on an injected registry.
type Metrics struct {
	Envelopes     *prometheus.CounterVec
	AckSeconds    prometheus.Histogram
	Duplicates    prometheus.Counter
	HandlerSecs   *prometheus.HistogramVec
	APICalls      *prometheus.CounterVec
	Panics        prometheus.Counter
	Reconnects    prometheus.Counter
	Connected     prometheus.Gauge
	OpenIncidents prometheus.Gauge
	PendingTimers prometheus.Gauge
}

// NewMetrics creates the collectors and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Envelopes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oncallbot_envelopes_total", Help: "Socket Mode envelopes received, by type.",
		}, []string{"type"}),
		AckSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "oncallbot_ack_seconds", Help: "Time from envelope read to ack queued.",
			Buckets: []float64{.0001, .00025, .0005, .001, .002, .005, .01, .05, .1, .5, 1, 3},
		}),
		Duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "oncallbot_envelopes_duplicate_total", Help: "Redelivered envelopes acked and not processed again.",
		}),
		HandlerSecs: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "oncallbot_handler_seconds", Help: "Handler run time, by kind.",
			Buckets: prometheus.DefBuckets,
		}, []string{"kind"}),
		APICalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oncallbot_api_calls_total", Help: "Outgoing API calls, by api (slack, pagerduty, github), method and outcome.",
		}, []string{"api", "method", "outcome"}),
		Panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "oncallbot_handler_panics_total", Help: "Handler panics recovered.",
		}),
		Reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "oncallbot_socket_connects_total", Help: "Socket Mode connections opened.",
		}),
		Connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "oncallbot_slack_connected", Help: "1 while the Socket Mode connection is up.",
		}),
		OpenIncidents: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "oncallbot_open_incidents", Help: "Incidents not yet resolved.",
		}),
		PendingTimers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "oncallbot_pending_timers", Help: "Durable timers (River jobs) scheduled or available.",
		}),
	}
	reg.MustRegister(m.Envelopes, m.AckSeconds, m.Duplicates, m.HandlerSecs, m.APICalls, m.Panics,
		m.Reconnects, m.Connected, m.OpenIncidents, m.PendingTimers)
	return m
}

// CountingTransport counts calls through it as oncallbot_api_calls_total{api}.
// The method label is the last path element (Slack's Web API method name, or
// a REST resource), never a query string or an ID-bearing path.
type CountingTransport struct {
	API   string
	Base  http.RoundTripper
	Calls *prometheus.CounterVec
}

// RoundTrip implements http.RoundTripper.
func (t *CountingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	outcome := "ok"
	switch {
	case err != nil:
		outcome = "error"
	case resp.StatusCode == http.StatusTooManyRequests:
		outcome = "rate_limited"
	case resp.StatusCode >= 500:
		outcome = "server_error"
	case resp.StatusCode >= 400:
		outcome = "client_error"
	}
	t.Calls.WithLabelValues(t.API, methodLabel(t.API, req), outcome).Inc()
	return resp, err
}

func methodLabel(api string, req *http.Request) string {
	if api != "slack" {
		return req.Method
	}
	p := strings.TrimSuffix(req.URL.Path, "/")
	return p[strings.LastIndex(p, "/")+1:]
}

func since(t time.Time) float64 { return time.Since(t).Seconds() }
