package triage

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/contextinject/oncallbot/commands"
	"github.com/contextinject/oncallbot/commands/config"
	"github.com/contextinject/oncallbot/commands/playbook"
	"github.com/contextinject/oncallbot/integrations/github"
	"github.com/contextinject/oncallbot/integrations/health"
	"github.com/contextinject/oncallbot/integrations/pgdiag"
	"github.com/contextinject/oncallbot/integrations/qdrant"
	"github.com/contextinject/oncallbot/integrations/redisdiag"
	"github.com/contextinject/oncallbot/integrations/tlscheck"
)

// Thresholds that flag a result (the runbook's alert conditions).
const (
	recentDeploy     = 30 * time.Minute
	queueBacklogWarn = 500
	certDaysWarn     = 14
	slowHealth       = 2 * time.Second
	deploysShown     = 5
)

// Environment variables read besides the ones the configuration names.
const (
	EnvGitHubToken  = "GITHUB_TOKEN"
	EnvGitHubAPIURL = "GITHUB_API_URL"
	// EnvQdrantAPIKey is sent as Qdrant's api-key header when set.
	EnvQdrantAPIKey = "QDRANT_API_KEY"
)

// BuildOptions are what BuildDiagnostics needs beyond the configuration.
type BuildOptions struct {
	// Getenv reads GITHUB_TOKEN, GITHUB_API_URL, QDRANT_API_KEY and the
	// url_env variables named by the configuration.
	Getenv func(string) string
	// Now is the clock for ages and days left.
	Now commands.Clock
	// TLSRoots verify certificates (health and tls); nil: the system roots.
	TLSRoots *x509.CertPool
	// GitHubHTTP is the HTTP client of GitHub calls (metrics, test
	// transports); nil: a default client.
	GitHubHTTP *http.Client
	// HTTPClient is used for Qdrant; nil: a default client.
	HTTPClient *http.Client
	// BullPrefix is the BullMQ key prefix; "" is "bull".
	BullPrefix string
	Log        *slog.Logger
}

// BuildDiagnostics builds the checks whose targets cfg (and the environment
// variables it names) configure. A check without a target is recorded in
// Missing with what to set; it never fails the start.
func BuildDiagnostics(cfg config.Diagnostics, o BuildOptions) *Diagnostics {
	if o.Getenv == nil {
		o.Getenv = func(string) string { return "" }
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	d := &Diagnostics{Timeout: cfg.Timeout.D(), Checks: map[string]CheckFunc{}, Missing: map[string]string{}, Log: o.Log}
	var closers []func()
	secret := func(vals ...string) {
		for _, v := range vals {
			if v != "" {
				d.Secrets = append(d.Secrets, v)
			}
		}
	}

	// deploys
	token := o.Getenv(EnvGitHubToken)
	secret(token)
	switch {
	case cfg.GitHub == nil || cfg.GitHub.Repo == "":
		d.Missing[playbook.DiagDeploys] = "set diagnostics.github.repo in the configuration."
	case token == "":
		d.Missing[playbook.DiagDeploys] = "set GITHUB_TOKEN (GitHub checks are off without it)."
	default:
		gc, err := github.New(github.Options{Token: token, APIURL: o.Getenv(EnvGitHubAPIURL), HTTPClient: o.GitHubHTTP})
		if err != nil {
			d.Missing[playbook.DiagDeploys] = escape(err.Error()) + "."
			break
		}
		repo := cfg.GitHub.Repo
		d.Checks[playbook.DiagDeploys] = func(ctx context.Context) (Report, error) {
			runs, err := gc.RecentRuns(ctx, repo, deploysShown)
			if err != nil {
				return Report{}, err
			}
			return FormatDeploys(repo, runs, o.Now()), nil
		}
	}

	// health
	if cfg.APIHealth == "" {
		d.Missing[playbook.DiagHealth] = "set diagnostics.api_health in the configuration."
	} else if hc, err := health.New(cfg.APIHealth, tlsConfig(o.TLSRoots)); err != nil {
		d.Missing[playbook.DiagHealth] = "diagnostics.api_health is not an http(s) URL."
	} else {
		d.Checks[playbook.DiagHealth] = func(ctx context.Context) (Report, error) {
			r, err := hc.Check(ctx)
			if err != nil {
				return Report{}, err
			}
			return FormatHealth(r), nil
		}
	}

	// postgres and postgres-sizes
	if pgURL, why := envURL(cfg.Postgres != nil, func() string { return cfg.Postgres.URLEnv }, "diagnostics.postgres", o.Getenv); why != "" {
		d.Missing[playbook.DiagPostgres] = why
		d.Missing[playbook.DiagPostgresSizes] = why
	} else if pc, err := pgdiag.New(pgURL); err != nil {
		why := cfg.Postgres.URLEnv + " does not parse as a PostgreSQL URL."
		d.Missing[playbook.DiagPostgres] = why
		d.Missing[playbook.DiagPostgresSizes] = why
	} else {
		secret(pgURL, password(pgURL))
		closers = append(closers, pc.Close)
		d.Checks[playbook.DiagPostgres] = func(ctx context.Context) (Report, error) {
			r, err := pc.Check(ctx, pgdiag.Options{Activity: true})
			if err != nil {
				return Report{}, err
			}
			return FormatPostgres(r), nil
		}
		d.Checks[playbook.DiagPostgresSizes] = func(ctx context.Context) (Report, error) {
			r, err := pc.Check(ctx, pgdiag.Options{Sizes: true})
			if err != nil {
				return Report{}, err
			}
			return FormatPostgres(r), nil
		}
	}

	// redis and queue
	if rURL, why := envURL(cfg.Redis != nil, func() string { return cfg.Redis.URLEnv }, "diagnostics.redis", o.Getenv); why != "" {
		d.Missing[playbook.DiagRedis] = why
		d.Missing[playbook.DiagQueue] = why
	} else if rc, err := redisdiag.New(rURL); err != nil {
		why := cfg.Redis.URLEnv + " does not parse as a Redis URL."
		d.Missing[playbook.DiagRedis] = why
		d.Missing[playbook.DiagQueue] = why
	} else {
		secret(rURL, password(rURL))
		closers = append(closers, func() { _ = rc.Close() })
		d.Checks[playbook.DiagRedis] = func(ctx context.Context) (Report, error) {
			in, err := rc.Check(ctx)
			if err != nil {
				return Report{}, err
			}
			return FormatRedis(in, o.Now()), nil
		}
		queues := cfg.Redis.Queues
		if len(queues) == 0 {
			d.Missing[playbook.DiagQueue] = "list the BullMQ queues in diagnostics.redis.queues."
		} else {
			prefix := o.BullPrefix
			d.Checks[playbook.DiagQueue] = func(ctx context.Context) (Report, error) {
				qs, err := rc.Queues(ctx, prefix, queues)
				if err != nil {
					return Report{}, err
				}
				return FormatQueues(qs, prefix), nil
			}
		}
	}

	// qdrant
	if cfg.Qdrant == nil || cfg.Qdrant.URL == "" {
		d.Missing[playbook.DiagQdrant] = "set diagnostics.qdrant.url in the configuration."
	} else {
		key := o.Getenv(EnvQdrantAPIKey)
		secret(key)
		qc, err := qdrant.New(cfg.Qdrant.URL, key, o.HTTPClient)
		if err != nil {
			d.Missing[playbook.DiagQdrant] = escape(err.Error()) + "."
		} else {
			d.Checks[playbook.DiagQdrant] = func(ctx context.Context) (Report, error) {
				r, err := qc.Check(ctx)
				if err != nil {
					return Report{}, err
				}
				return FormatQdrant(r), nil
			}
		}
	}

	// tls
	if len(cfg.TLS) == 0 {
		d.Missing[playbook.DiagTLS] = "list host:port endpoints in diagnostics.tls."
	} else {
		endpoints := cfg.TLS
		checker := tlscheck.Checker{Roots: o.TLSRoots}
		d.Checks[playbook.DiagTLS] = func(ctx context.Context) (Report, error) {
			return FormatTLS(checkCerts(ctx, checker, endpoints, o.Now())), nil
		}
	}

	d.Close = func() {
		for _, c := range closers {
			c()
		}
	}
	return d
}

func tlsConfig(roots *x509.CertPool) *tls.Config {
	if roots == nil {
		return nil
	}
	return &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
}

// envURL reads the URL a url_env names; why says what is missing.
func envURL(present bool, name func() string, key string, getenv func(string) string) (string, string) {
	if !present || name() == "" {
		return "", "set " + key + ".url_env in the configuration."
	}
	v := strings.TrimSpace(getenv(name()))
	if v == "" {
		return "", fmt.Sprintf("%s.url_env names %s, which is not set.", key, name())
	}
	return v, ""
}

// password returns the password of a URL, for redaction.
func password(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return ""
	}
	p, _ := u.User.Password()
	return p
}

// certResult is one endpoint's TLS check.
type certResult struct {
	Cert tlscheck.Cert
	Err  string
}

// checkCerts checks every endpoint concurrently.
func checkCerts(ctx context.Context, c tlscheck.Checker, endpoints []string, now time.Time) []certResult {
	out := make([]certResult, len(endpoints))
	var wg sync.WaitGroup
	for i, ep := range endpoints {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cert, err := c.Check(ctx, ep, now)
			out[i] = certResult{Cert: cert}
			if err != nil {
				out[i].Err = err.Error()
				out[i].Cert.Endpoint = ep
			}
		}()
	}
	wg.Wait()
	return out
}

// FormatDeploys renders the last workflow runs, flagging one that finished
// within 30 minutes of now.
func FormatDeploys(repo string, runs []github.Run, now time.Time) Report {
	var b strings.Builder
	if len(runs) == 0 {
		fmt.Fprintf(&b, "No workflow runs in `%s`.", escape(repo))
		return Report{Text: b.String()}
	}
	var recent int
	fmt.Fprintf(&b, "Last %d workflow runs of `%s`:", len(runs), escape(repo))
	for _, r := range runs {
		name := r.Name
		if name == "" {
			name = fmt.Sprintf("run %d", r.ID)
		}
		state := r.Status
		if r.Conclusion != "" {
			state += " · " + r.Conclusion
		}
		line := fmt.Sprintf("\n• %s — %s · %s · started %s", link(r.URL, name), escape(state), actor(r.Actor), age(now, r.CreatedAt))
		if fin, ok := r.Finished(); ok && !fin.After(now) && now.Sub(fin) <= recentDeploy {
			recent++
			line += fmt.Sprintf(" · :warning: *finished %s*", age(now, fin))
		}
		b.WriteString(line)
	}
	if recent > 0 {
		fmt.Fprintf(&b, "\n:warning: %d run(s) finished in the last 30 min: consider a rollback if the alert started after it.", recent)
	}
	return Report{Text: b.String(), Alert: recent > 0}
}

func actor(login string) string {
	if login == "" {
		return "unknown actor"
	}
	return "by " + escape(login)
}

// link renders a Slack link to an http(s) URL, or just the escaped label.
func link(raw, label string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || strings.ContainsAny(raw, "|<> ") {
		return "*" + escape(label) + "*"
	}
	return "<" + raw + "|" + strings.NewReplacer("|", "/", ">", "›", "<", "‹", "&", "&amp;").Replace(label) + ">"
}

// age renders how long before now t was: "just now", "12 min ago", "3 h ago", "2 d ago".
func age(now, t time.Time) string {
	if t.IsZero() {
		return "at an unknown time"
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	}
	return fmt.Sprintf("%d d ago", int(d.Hours()/24))
}

// FormatHealth renders one health check's timings.
func FormatHealth(r health.Result) Report {
	t := r.Timings
	var b strings.Builder
	fmt.Fprintf(&b, "`GET %s` → *%s*\nDNS %s · connect %s · TLS %s · first byte %s · total *%s* · %d bytes",
		escape(r.Target), escape(r.Status), ms(t.DNS), ms(t.Connect), ms(t.TLS), ms(t.FirstByte), ms(t.Total), r.Bytes)
	if len(r.Fields) > 0 {
		parts := make([]string, len(r.Fields))
		for i, f := range r.Fields {
			parts[i] = escape(f.Name) + "=" + escape(f.Value)
		}
		b.WriteString("\n" + strings.Join(parts, " · "))
	}
	alert := !r.OK() || t.Total > slowHealth
	if t.Total > slowHealth {
		b.WriteString("\n:warning: slower than 2 s")
	}
	return Report{Text: b.String(), Alert: alert}
}

// ms renders a duration in milliseconds, "–" for a phase that did not happen.
func ms(d time.Duration) string {
	if d <= 0 {
		return "–"
	}
	v := float64(d) / float64(time.Millisecond)
	if v < 10 {
		return fmt.Sprintf("%.1f ms", v)
	}
	return fmt.Sprintf("%.0f ms", v)
}

// micro renders a short duration, down to microseconds.
func micro(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%d µs", max(d.Microseconds(), 0))
	}
	return ms(d)
}

// FormatPostgres renders what pgdiag read.
func FormatPostgres(r pgdiag.Result) Report {
	var b strings.Builder
	alert := false
	fmt.Fprintf(&b, "Database `%s` (PostgreSQL %s)", escape(r.Database), escape(r.Version))
	if len(r.Connections) > 0 {
		total := r.TotalConnections()
		parts := make([]string, len(r.Connections))
		for i, s := range r.Connections {
			parts[i] = fmt.Sprintf("%s %d", escape(s.State), s.Count)
		}
		fmt.Fprintf(&b, "\nConnections *%d* of %d: %s", total, r.MaxConnections, strings.Join(parts, " · "))
		if r.MaxConnections > 0 && total*10 >= r.MaxConnections*8 {
			alert = true
			b.WriteString(" :warning: over 80% of max_connections")
		}
		if r.WaitingLocks == 0 {
			b.WriteString("\nWaiting locks: none")
		} else {
			alert = true
			fmt.Fprintf(&b, "\n:warning: Waiting locks: *%d*", r.WaitingLocks)
			for _, l := range r.Locks {
				target := l.Type
				if l.Relation != "" {
					target = "`" + escape(l.Relation) + "`"
				}
				fmt.Fprintf(&b, "\n• pid %d waits %s for %s on %s", l.PID, seconds(l.Waiting), escape(l.Mode), target)
				if len(l.BlockedBy) > 0 {
					fmt.Fprintf(&b, ", blocked by pid %s", joinInts(l.BlockedBy))
				}
			}
		}
		if len(r.Queries) > 0 {
			b.WriteString("\nLongest running:")
			for _, q := range r.Queries {
				fmt.Fprintf(&b, "\n• pid %d %s %s `%s`", q.PID, escape(q.State), seconds(q.Duration), escape(strings.ReplaceAll(q.Text, "`", "'")))
			}
		} else {
			b.WriteString("\nNo query running.")
		}
	}
	if r.DatabaseBytes > 0 {
		fmt.Fprintf(&b, "\nDatabase size *%s*", bytes(r.DatabaseBytes))
		if len(r.Tables) > 0 {
			parts := make([]string, len(r.Tables))
			for i, t := range r.Tables {
				parts[i] = fmt.Sprintf("`%s` %s", escape(t.Name), bytes(t.Bytes))
			}
			b.WriteString(" · largest tables: " + strings.Join(parts, ", "))
		}
	}
	return Report{Text: b.String(), Alert: alert}
}

func joinInts(v []int) string {
	parts := make([]string, len(v))
	for i, n := range v {
		parts[i] = fmt.Sprint(n)
	}
	return strings.Join(parts, ", ")
}

// bytes renders a size: 512 B, 1.5 kB, 3.2 MB, 1.1 GB.
func bytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}

// FormatRedis renders memory, clients, latency and the slow log.
func FormatRedis(in redisdiag.Info, now time.Time) Report {
	var b strings.Builder
	alert := false
	maxMem := "no limit"
	if in.MaxMemory > 0 {
		maxMem = bytes(in.MaxMemory)
	}
	fmt.Fprintf(&b, "Redis %s · memory *%s* used (peak %s, max %s, policy %s, fragmentation %.2f)",
		escape(in.Version), bytes(in.UsedMemory), bytes(in.UsedMemoryPeak), maxMem, escape(in.MaxMemoryPolicy), in.Fragmentation)
	if in.MaxMemory > 0 && in.UsedMemory*10 >= in.MaxMemory*9 {
		alert = true
		b.WriteString(" :warning: over 90% of maxmemory")
	}
	fmt.Fprintf(&b, "\nClients %d connected, %d blocked (max %d) · round trip %s (max %s)",
		in.ConnectedClients, in.BlockedClients, in.MaxClients, ms(in.RTT), ms(in.RTTMax))
	if len(in.Slow) == 0 {
		b.WriteString("\nSlow log: empty")
	} else {
		parts := make([]string, len(in.Slow))
		for i, s := range in.Slow {
			parts[i] = fmt.Sprintf("%s %s (%s)", escape(s.Command), micro(s.Duration), age(now, s.At))
		}
		fmt.Fprintf(&b, "\nSlow log (last %d): %s", len(in.Slow), strings.Join(parts, ", "))
	}
	return Report{Text: b.String(), Alert: alert}
}

// FormatQueues renders BullMQ queue depths.
func FormatQueues(qs []redisdiag.Queue, prefix string) Report {
	if prefix == "" {
		prefix = redisdiag.DefaultPrefix
	}
	var b strings.Builder
	alert := false
	for i, q := range qs {
		if i > 0 {
			b.WriteString("\n")
		}
		if !q.Found {
			fmt.Fprintf(&b, "• `%s`: :grey_question: no keys under `%s:%s:` (wrong name, another prefix, or not a Redis backend)", escape(q.Name), escape(prefix), escape(q.Name))
			continue
		}
		fmt.Fprintf(&b, "• `%s`: waiting *%d* · active %d · delayed %d · failed %d", escape(q.Name), q.Waiting, q.Active, q.Delayed, q.Failed)
		if q.Prioritized > 0 {
			fmt.Fprintf(&b, " · prioritized %d", q.Prioritized)
		}
		if q.WaitingChildren > 0 {
			fmt.Fprintf(&b, " · waiting-children %d", q.WaitingChildren)
		}
		if q.Paused > 0 {
			fmt.Fprintf(&b, " · in paused list %d", q.Paused)
		}
		if q.IsPaused {
			alert = true
			b.WriteString(" · :double_vertical_bar: *paused*")
		}
		if q.Version != "" {
			fmt.Fprintf(&b, " · %s", escape(q.Version))
		}
		if q.Backlog() > queueBacklogWarn {
			alert = true
			fmt.Fprintf(&b, "\n   :warning: backlog %d is over %d (the alert's threshold)", q.Backlog(), queueBacklogWarn)
		}
		for _, n := range q.Notes {
			fmt.Fprintf(&b, "\n   :grey_question: %s", escape(n))
		}
	}
	return Report{Text: b.String(), Alert: alert}
}

// FormatQdrant renders Qdrant's health and collections.
func FormatQdrant(r qdrant.Result) Report {
	var b strings.Builder
	alert := !r.Healthy
	health := "healthy"
	if !r.Healthy {
		health = ":red_circle: *not healthy*"
	}
	version := ""
	if r.Version != "" {
		version = " " + escape(r.Version)
	}
	fmt.Fprintf(&b, "Qdrant%s · /healthz %s (%s) · *%d* collections", version, health, escape(r.HealthText), r.Count)
	for _, c := range r.Collections {
		if c.Err != "" {
			fmt.Fprintf(&b, "\n• `%s`: :x: %s", escape(c.Name), escape(c.Err))
			continue
		}
		icon := map[string]string{"green": ":large_green_circle:", "yellow": ":large_yellow_circle:", "grey": ":white_circle:", "red": ":red_circle:"}[c.Status]
		opt := "optimizer ok"
		if c.OptimizerError != "" {
			opt = ":warning: optimizer error: " + escape(c.OptimizerError)
		}
		fmt.Fprintf(&b, "\n• `%s`: %s %s · %s · %d points · %d segments", escape(c.Name), icon, escape(c.Status), opt, c.Points, c.Segments)
		for _, w := range c.Warnings {
			fmt.Fprintf(&b, "\n   :grey_question: %s", escape(w))
		}
		if c.Alarming() {
			alert = true
		}
	}
	if len(r.Collections) < r.Count {
		fmt.Fprintf(&b, "\n… and %d more", r.Count-len(r.Collections))
	}
	return Report{Text: b.String(), Alert: alert}
}

// FormatTLS renders each endpoint's certificate.
func FormatTLS(certs []certResult) Report {
	var b strings.Builder
	alert := false
	for i, c := range certs {
		if i > 0 {
			b.WriteString("\n")
		}
		ep := "`" + escape(c.Cert.Endpoint) + "`"
		if c.Err != "" {
			alert = true
			fmt.Fprintf(&b, "• %s: :x: %s", ep, escape(c.Err))
			continue
		}
		days := fmt.Sprintf("%d days left", c.Cert.DaysLeft)
		switch {
		case c.Cert.DaysLeft < 0:
			days = fmt.Sprintf(":red_circle: *expired %d days ago*", -c.Cert.DaysLeft)
			alert = true
		case c.Cert.DaysLeft < certDaysWarn:
			days = ":warning: *" + days + "*"
			alert = true
		}
		fmt.Fprintf(&b, "• %s: expires %s (%s) · issuer %s", ep, commands.Date(c.Cert.NotAfter), days, escape(c.Cert.Issuer))
		if c.Cert.Verified {
			b.WriteString(" · verified")
		} else {
			alert = true
			fmt.Fprintf(&b, " · :warning: %s", escape(c.Cert.VerifyError))
		}
	}
	return Report{Text: b.String(), Alert: alert}
}
