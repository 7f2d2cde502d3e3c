package triage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/contextinject/oncallbot/commands/playbook"
)

// MaxReport bounds one diagnostic's rendered text, so that a report plus its
// heading fits one Block Kit section (3000 characters).
const MaxReport = 2700

// CheckFunc runs one read-only diagnostic and renders its result.
// It must honour ctx; the runner also stops waiting at the deadline.
type CheckFunc func(ctx context.Context) (Report, error)

// Report is a diagnostic's result as compact Slack mrkdwn (already escaped).
type Report struct {
	Text string
	// Alert flags a result that needs attention (a deploy in the last 30
	// minutes, a certificate about to expire, a red collection, …).
	Alert bool
}

// Outcome is what running one diagnostic gave.
type Outcome struct {
	Name    string
	Report  Report
	Elapsed time.Duration
	// Err is a sentence safe to show when the check failed; TimedOut is set
	// when it was cut at the timeout; NotConfigured says why the check has
	// no target ("" when configured).
	Err           string
	TimedOut      bool
	NotConfigured string
}

// OK reports whether the check ran and answered.
func (o Outcome) OK() bool { return o.Err == "" && !o.TimedOut && o.NotConfigured == "" }

// Diagnostics runs the configured checks, all concurrently, each bounded by
// Timeout. It is safe for concurrent use once built.
type Diagnostics struct {
	// Timeout bounds each check (diagnostics.timeout).
	Timeout time.Duration
	// Checks are the configured checks by name (playbook.Diag…).
	Checks map[string]CheckFunc
	// Missing says, for a check without a target, what to configure.
	Missing map[string]string
	// Secrets are values that must never appear in a result (tokens,
	// passwords); any occurrence is replaced.
	Secrets []string
	// Log receives failures with their full (unshown) errors.
	Log *slog.Logger
	// Close releases the checks' connections (may be nil).
	Close func()
}

// Run runs the named checks concurrently and returns their outcomes in the
// order of names. The wall time is that of the slowest check, at most
// Timeout (plus scheduling).
func (d *Diagnostics) Run(ctx context.Context, names []string) []Outcome {
	out := make([]Outcome, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = d.RunOne(ctx, name)
		}()
	}
	wg.Wait()
	return out
}

// RunOne runs one check under Timeout.
func (d *Diagnostics) RunOne(ctx context.Context, name string) Outcome {
	o := Outcome{Name: name}
	f, ok := d.Checks[name]
	if !ok {
		o.NotConfigured = d.Missing[name]
		if o.NotConfigured == "" {
			o.NotConfigured = "no target is configured for it"
		}
		return o
	}
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type result struct {
		r   Report
		err error
	}
	// Buffered: a check that ignores its context can still finish and
	// leave, after the runner has stopped waiting for it.
	ch := make(chan result, 1)
	start := time.Now()
	go func() {
		defer func() {
			if p := recover(); p != nil {
				d.log().Error("diagnostic panic", "check", name, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				ch <- result{err: errors.New("the check crashed")}
			}
		}()
		r, err := f(cctx)
		ch <- result{r, err}
	}()
	var res result
	select {
	case res = <-ch:
	case <-cctx.Done():
		res = result{err: cctx.Err()}
	}
	o.Elapsed = time.Since(start)
	switch {
	case res.err == nil:
		o.Report = Report{Text: d.clean(res.r.Text), Alert: res.r.Alert}
	case ctx.Err() != nil:
		o.Err = "cancelled before it answered"
	case errors.Is(res.err, context.DeadlineExceeded) || cctx.Err() != nil:
		o.TimedOut = true
		o.Elapsed = min(o.Elapsed, timeout)
	default:
		d.log().Warn("diagnostic failed", "check", name, "err", res.err)
		o.Err = d.clean(escape(safeError(res.err)))
	}
	return o
}

func (d *Diagnostics) log() *slog.Logger {
	if d.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Log
}

// reURL finds URLs in text, to strip their credentials and queries.
var reURL = regexp.MustCompile(`[a-zA-Z][a-zA-Z0-9+.-]*://[^\s<>|"']+`)

// clean removes secrets and URL credentials from text and bounds its length.
func (d *Diagnostics) clean(s string) string {
	for _, sec := range d.Secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "xxxxx")
		}
	}
	s = reURL.ReplaceAllStringFunc(s, redactURL)
	return truncate(s, MaxReport)
}

// redactURL drops a URL's userinfo and query (where tokens travel).
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(URL hidden)"
	}
	if u.User == nil && u.RawQuery == "" {
		return raw
	}
	u.User = nil
	u.RawQuery = ""
	u.ForceQuery = false
	return u.String()
}

// safeError returns err's message, which the integrations build to be shown
// (no URLs, tokens or bodies); clean still strips secrets and credentials.
func safeError(err error) string {
	msg := err.Error()
	if msg == "" {
		return "the check failed"
	}
	return truncate(msg, 300)
}

// truncate cuts s to at most n characters, at a line end when one is near,
// marking the cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)[:n-2]
	cut := string(r)
	if i := strings.LastIndexByte(cut, '\n'); i > len(cut)-200 && i > 0 {
		cut = cut[:i]
	}
	return cut + "\n…"
}

// allChecks returns the checks /diag all runs: every /diag check, in order.
func allChecks() []string {
	return slices.DeleteFunc(slices.Clone(playbook.Diagnostics), func(s string) bool { return s == playbook.DiagPostgresSizes })
}

// RenderOutcome renders one outcome as a section's mrkdwn: a heading line
// with the check's name, how it went and how long it took, then the report.
func RenderOutcome(o Outcome) string {
	title := checkTitle(o.Name)
	switch {
	case o.NotConfigured != "":
		return fmt.Sprintf(":heavy_minus_sign: *%s* is not configured: %s", title, o.NotConfigured)
	case o.TimedOut:
		return fmt.Sprintf(":hourglass: *%s* timed out after %s (diagnostics.timeout); the other checks still report.", title, seconds(o.Elapsed))
	case o.Err != "":
		return fmt.Sprintf(":x: *%s* failed after %s: %s", title, seconds(o.Elapsed), o.Err)
	}
	icon := ":white_check_mark:"
	if o.Report.Alert {
		icon = ":warning:"
	}
	return fmt.Sprintf("%s *%s* · %s\n%s", icon, title, seconds(o.Elapsed), o.Report.Text)
}

// checkTitle names a check for people.
func checkTitle(name string) string {
	switch name {
	case playbook.DiagDeploys:
		return "Recent deploys"
	case playbook.DiagHealth:
		return "API health"
	case playbook.DiagPostgres:
		return "PostgreSQL"
	case playbook.DiagPostgresSizes:
		return "PostgreSQL sizes"
	case playbook.DiagRedis:
		return "Redis"
	case playbook.DiagQueue:
		return "BullMQ queues"
	case playbook.DiagQdrant:
		return "Qdrant"
	case playbook.DiagTLS:
		return "TLS certificates"
	}
	return name
}

// seconds formats a duration briefly: <1 ms, 420 ms, 3.1s, 12s.
func seconds(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return "<1 ms"
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	case d < 10*time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return fmt.Sprintf("%.0fs", d.Seconds())
}

// escape makes text safe inside mrkdwn: Slack requires &, < and > escaped,
// and escaping < also stops injected mentions like <!channel>.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
