package triage

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/commands/config"
	"github.com/contextinject/oncallbot/integrations/github"
	"github.com/contextinject/oncallbot/integrations/health"
	"github.com/contextinject/oncallbot/integrations/pgdiag"
	"github.com/contextinject/oncallbot/integrations/qdrant"
	"github.com/contextinject/oncallbot/integrations/redisdiag"
	"github.com/contextinject/oncallbot/integrations/tlscheck"
	"github.com/contextinject/oncallbot/store/storetest"
)

var now = time.Date(2026, 11, 4, 12, 0, 0, 0, time.UTC)

func TestFormatDeploys(t *testing.T) {
	runs := []github.Run{
		{ID: 3, Name: "Deploy", Status: "completed", Conclusion: "success", Actor: "octocat", URL: "https://github.com/acme/infra/actions/runs/3",
			CreatedAt: now.Add(-20 * time.Minute), UpdatedAt: now.Add(-12 * time.Minute)},
		{ID: 2, Name: "Build <x>", Status: "in_progress", Actor: "hubot", CreatedAt: now.Add(-5 * time.Minute), UpdatedAt: now.Add(-time.Minute)},
		{ID: 1, Name: "Deploy", Status: "completed", Conclusion: "failure", Actor: "octocat", URL: "https://github.com/acme/infra/actions/runs/1",
			CreatedAt: now.Add(-3 * time.Hour), UpdatedAt: now.Add(-170 * time.Minute)},
	}
	r := FormatDeploys("acme/infra", runs, now)
	require.True(t, r.Alert)
	require.Equal(t, "Last 3 workflow runs of `acme/infra`:"+
		"\n• <https://github.com/acme/infra/actions/runs/3|Deploy> — completed · success · by octocat · started 20 min ago · :warning: *finished 12 min ago*"+
		"\n• *Build &lt;x&gt;* — in_progress · by hubot · started 5 min ago"+
		"\n• <https://github.com/acme/infra/actions/runs/1|Deploy> — completed · failure · by octocat · started 3 h ago"+
		"\n:warning: 1 run(s) finished in the last 30 min: consider a rollback if the alert started after it.", r.Text)

	quiet := FormatDeploys("acme/infra", runs[2:], now)
	require.False(t, quiet.Alert)
	require.Equal(t, "No workflow runs in `acme/infra`.", FormatDeploys("acme/infra", nil, now).Text)
}

func TestFormatOthers(t *testing.T) {
	tests := []struct {
		name  string
		got   Report
		want  []string
		alert bool
	}{
		{"health ok", FormatHealth(health.Result{Target: "https://api/health", StatusCode: 200, Status: "200 OK", Bytes: 15,
			Timings: health.Timings{DNS: 2 * time.Millisecond, Connect: 3 * time.Millisecond, TLS: 20 * time.Millisecond, FirstByte: 60 * time.Millisecond, Total: 61 * time.Millisecond},
			Fields:  []health.Field{{Name: "status", Value: "ok"}}}),
			[]string{"`GET https://api/health` → *200 OK*\nDNS 2.0 ms · connect 3.0 ms · TLS 20 ms · first byte 60 ms · total *61 ms* · 15 bytes\nstatus=ok"}, false},
		{"health down", FormatHealth(health.Result{Target: "http://api/health", StatusCode: 503, Status: "503 Service Unavailable", Timings: health.Timings{Total: 3 * time.Second}}),
			[]string{"*503 Service Unavailable*", "DNS – ·", "TLS – ·", ":warning: slower than 2 s"}, true},
		{"postgres", FormatPostgres(pgdiag.Result{Database: "app", Version: "16.4", MaxConnections: 10,
			Connections:  []pgdiag.StateCount{{State: "idle", Count: 6}, {State: "active", Count: 2}},
			WaitingLocks: 1, Locks: []pgdiag.Lock{{PID: 7, Type: "relation", Mode: "AccessShareLock", Relation: "small", Waiting: 12 * time.Second, BlockedBy: []int{5}}},
			Queries: []pgdiag.Query{{PID: 5, State: "idle in transaction", Duration: 15 * time.Second, Text: "LOCK TABLE small"}}}),
			[]string{"Database `app` (PostgreSQL 16.4)", "Connections *8* of 10: idle 6 · active 2 :warning: over 80% of max_connections",
				":warning: Waiting locks: *1*\n• pid 7 waits 12s for AccessShareLock on `small`, blocked by pid 5",
				"Longest running:\n• pid 5 idle in transaction 15s `LOCK TABLE small`"}, true},
		{"postgres sizes", FormatPostgres(pgdiag.Result{Database: "app", Version: "16.4", DatabaseBytes: 1_500_000_000,
			Tables: []pgdiag.Table{{Name: "public.chunks", Bytes: 900_000_000}, {Name: "public.query_logs", Bytes: 2500}}}),
			[]string{"Database size *1.5 GB* · largest tables: `public.chunks` 900.0 MB, `public.query_logs` 2.5 kB"}, false},
		{"redis", FormatRedis(redisdiag.Info{Version: "7.2.4", UsedMemory: 950_000, UsedMemoryPeak: 990_000, MaxMemory: 1_000_000, MaxMemoryPolicy: "noeviction",
			Fragmentation: 1.5, ConnectedClients: 12, BlockedClients: 4, MaxClients: 10000, RTT: 300 * time.Microsecond, RTTMax: 500 * time.Microsecond,
			Slow: []redisdiag.SlowEntry{{Command: "KEYS", Duration: 40 * time.Millisecond, At: now.Add(-3 * time.Minute)}}}, now),
			[]string{"memory *950.0 kB* used (peak 990.0 kB, max 1.0 MB, policy noeviction, fragmentation 1.50) :warning: over 90% of maxmemory",
				"Clients 12 connected, 4 blocked (max 10000) · round trip 0.3 ms (max 0.5 ms)", "Slow log (last 1): KEYS 40 ms (3 min ago)"}, true},
		{"queues", FormatQueues([]redisdiag.Queue{
			{Name: "ingest-document", Found: true, Waiting: 612, Active: 3, Delayed: 5, Failed: 17, Prioritized: 2, IsPaused: true, Version: "bullmq:6.2.0"},
			{Name: "emails", Found: true, Waiting: 4},
			{Name: "nope"}}, ""),
			[]string{"• `ingest-document`: waiting *612* · active 3 · delayed 5 · failed 17 · prioritized 2 · :double_vertical_bar: *paused* · bullmq:6.2.0\n   :warning: backlog 619 is over 500",
				"• `emails`: waiting *4* · active 0 · delayed 0 · failed 0", "• `nope`: :grey_question: no keys under `bull:nope:`"}, true},
		{"qdrant", FormatQdrant(qdrant.Result{Healthy: true, HealthText: "healthz check passed", Version: "1.19.0", Count: 25,
			Collections: []qdrant.Collection{{Name: "chunks", Status: "green", Points: 1200, Segments: 5}, {Name: "arxiv", Status: "red", OptimizerError: "disk full"}}}),
			[]string{"Qdrant 1.19.0 · /healthz healthy (healthz check passed) · *25* collections", "• `chunks`: :large_green_circle: green · optimizer ok · 1200 points · 5 segments",
				"• `arxiv`: :red_circle: red · :warning: optimizer error: disk full", "… and 23 more"}, true},
		{"tls", FormatTLS([]certResult{
			{Cert: tlscheck.Cert{Endpoint: "api.contextinject.ai:443", Issuer: "R11", NotAfter: now.Add(10 * 24 * time.Hour), DaysLeft: 10, Verified: true}},
			{Cert: tlscheck.Cert{Endpoint: "old:443", Issuer: "Internal CA", DaysLeft: -2, VerifyError: "certificate has expired or is not yet valid"}},
			{Cert: tlscheck.Cert{Endpoint: "down:443"}, Err: "connection refused"}}),
			[]string{"• `api.contextinject.ai:443`: expires <!date^", "(:warning: *10 days left*) · issuer R11 · verified",
				"• `old:443`: expires", ":red_circle: *expired 2 days ago*", ":warning: certificate has expired", "• `down:443`: :x: connection refused"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, w := range tt.want {
				require.Contains(t, tt.got.Text, w)
			}
			require.Equal(t, tt.alert, tt.got.Alert)
		})
	}
}

// testCert returns a TLS certificate for 127.0.0.1/localhost expiring at
// notAfter and the pool of its issuing CA.
func testCert(t testing.TB, notAfter time.Time) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Triage Test CA"},
		NotBefore: notAfter.AddDate(-1, 0, 0), NotAfter: notAfter.AddDate(1, 0, 0), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: notAfter.AddDate(0, -3, 0), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return tls.Certificate{Certificate: [][]byte{der, caDER}, PrivateKey: key}, pool
}

// loopback is every diagnostic target on loopback: fake GitHub, health and
// Qdrant servers, an HTTPS endpoint whose certificate expires in 10 days,
// the real PostgreSQL and Redis (with BullMQ keys).
type loopback struct {
	cfg    config.Diagnostics
	env    map[string]string
	roots  *x509.CertPool
	prefix string
}

const (
	ghToken = "ghp_loopbackSECRET42"
	pgPass  = "pgPASSWORD77"
)

func newLoopback(t testing.TB, realNow time.Time) loopback { return newSlowLoopback(t, realNow, 0) }

// newSlowLoopback is newLoopback whose HTTP fakes answer after a latency:
// health after delay, GitHub after delay/2, Qdrant's collection list after
// delay/2.
func newSlowLoopback(t testing.TB, realNow time.Time, delay time.Duration) loopback {
	t.Helper()
	cert, roots := testCert(t, realNow.Add(10*24*time.Hour+2*time.Hour))

	gh := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay / 2) // simulated network latency
		if r.URL.Path != "/api/v3/repos/acme/infra/actions/runs" || r.Header.Get("Authorization") != "Bearer "+ghToken {
			http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
			return
		}
		fmt.Fprintf(w, `{"total_count":1,"workflow_runs":[{"id":9,"name":"Deploy production","status":"completed","conclusion":"success",
			"html_url":"https://github.com/acme/infra/actions/runs/9","created_at":%q,"updated_at":%q,"run_started_at":%q,"actor":{"login":"octocat","id":1}}]}`,
			realNow.Add(-20*time.Minute).Format(time.RFC3339), realNow.Add(-10*time.Minute).Format(time.RFC3339), realNow.Add(-20*time.Minute).Format(time.RFC3339))
	}))
	t.Cleanup(gh.Close)

	api := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay) // simulated network latency
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"status":"ok","postgres":"ok"}`)
	}))
	api.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	api.StartTLS()
	t.Cleanup(api.Close)

	qd := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			fmt.Fprint(w, "healthz check passed")
		case "/":
			fmt.Fprint(w, `{"result":{"title":"qdrant - vector search engine","version":"1.19.0"},"status":"ok","time":0.0}`)
		case "/collections":
			time.Sleep(delay / 2) // simulated network latency
			fmt.Fprint(w, `{"result":{"collections":[{"name":"chunks"}]},"status":"ok","time":0.0}`)
		case "/collections/chunks":
			fmt.Fprint(w, `{"result":{"status":"yellow","optimizer_status":"ok","segments_count":3,"points_count":42,"config":{},"payload_schema":{}},"status":"ok","time":0.0}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(qd.Close)

	pgURL, err := url.Parse(storetest.FreshURL(t))
	require.NoError(t, err)
	pgURL.User = url.UserPassword(pgURL.User.Username(), pgPass) // trust auth ignores it

	rdb, prefix := storetest.Redis(t)
	ctx := context.Background()
	for i := 0; i < 7; i++ {
		require.NoError(t, rdb.RPush(ctx, prefix+"bull:ingest-document:wait", fmt.Sprint(i)).Err())
	}
	require.NoError(t, rdb.RPush(ctx, prefix+"bull:ingest-document:active", "a").Err())
	require.NoError(t, rdb.ZAdd(ctx, prefix+"bull:ingest-document:failed", redis.Z{Score: 1, Member: "f1"}, redis.Z{Score: 2, Member: "f2"}).Err())
	require.NoError(t, rdb.HSet(ctx, prefix+"bull:ingest-document:meta", "version", "bullmq:5.20.0").Err())

	return loopback{
		cfg: config.Diagnostics{
			APIHealth: api.URL + "/health",
			TLS:       []string{strings.TrimPrefix(api.URL, "https://")},
			Postgres:  &config.DiagPostgres{URLEnv: "DIAG_POSTGRES_URL"},
			Redis:     &config.DiagRedis{URLEnv: "DIAG_REDIS_URL", Queues: []string{"ingest-document"}},
			Qdrant:    &config.DiagQdrant{URL: qd.URL},
			GitHub:    &config.DiagGitHub{Repo: "acme/infra"},
			Timeout:   config.Duration(5 * time.Second),
		},
		env: map[string]string{
			"GITHUB_TOKEN": ghToken, "GITHUB_API_URL": gh.URL + "/api/v3/",
			"DIAG_POSTGRES_URL": pgURL.String(), "DIAG_REDIS_URL": storetest.DefaultRedisURL,
		},
		roots:  roots,
		prefix: prefix,
	}
}

func (l loopback) build(now func() time.Time) *Diagnostics {
	return BuildDiagnostics(l.cfg, BuildOptions{
		Getenv: func(k string) string { return l.env[k] }, Now: now, TLSRoots: l.roots, BullPrefix: l.prefix + "bull",
	})
}

func TestBuildDiagnosticsAgainstLoopback(t *testing.T) {
	realNow := time.Now()
	l := newLoopback(t, realNow)
	d := l.build(func() time.Time { return realNow })
	defer d.Close()

	out := d.Run(context.Background(), allChecks())
	want := map[string][]string{
		"deploys":  {":warning: *Recent deploys*", "Deploy production", "by octocat", "*finished 10 min ago*"},
		"health":   {":white_check_mark: *API health*", "→ *200 OK*", "TLS ", "postgres=ok · status=ok"},
		"postgres": {":white_check_mark: *PostgreSQL*", "Connections *", "Waiting locks: none"},
		"redis":    {":white_check_mark: *Redis*", "memory *", "round trip"},
		"queue":    {":white_check_mark: *BullMQ queues*", "• `ingest-document`: waiting *7* · active 1 · delayed 0 · failed 2 · bullmq:5.20.0"},
		"qdrant":   {"*Qdrant*", "Qdrant 1.19.0 · /healthz healthy", "`chunks`: :large_yellow_circle: yellow · optimizer ok · 42 points"},
		"tls":      {":warning: *TLS certificates*", "(:warning: *10 days left*) · issuer Triage Test CA · verified"},
	}
	for _, o := range out {
		text := RenderOutcome(o)
		require.True(t, o.OK(), "%s: %s", o.Name, text)
		for _, w := range want[o.Name] {
			require.Contains(t, text, w, o.Name)
		}
		require.LessOrEqual(t, len([]rune(text)), maxSection, o.Name)
		for _, secret := range []string{ghToken, pgPass} {
			require.NotContains(t, text, secret, o.Name)
		}
	}

	sizes := d.RunOne(context.Background(), "postgres-sizes")
	require.True(t, sizes.OK(), RenderOutcome(sizes))
	require.Contains(t, sizes.Report.Text, "Database size *")
	require.Contains(t, sizes.Report.Text, "largest tables:")
}

func TestBuildDiagnosticsNotConfigured(t *testing.T) {
	d := BuildDiagnostics(config.Diagnostics{
		Postgres: &config.DiagPostgres{URLEnv: "DIAG_POSTGRES_URL"},
		Redis:    &config.DiagRedis{URLEnv: "DIAG_REDIS_URL"},
		GitHub:   &config.DiagGitHub{Repo: "acme/infra"},
		Timeout:  config.Duration(time.Second),
	}, BuildOptions{Getenv: func(k string) string {
		if k == "DIAG_REDIS_URL" {
			return "redis://127.0.0.1:6379/0"
		}
		return ""
	}})
	out := d.Run(context.Background(), allChecks())
	got := map[string]string{}
	for _, o := range out {
		got[o.Name] = RenderOutcome(o)
	}
	require.Equal(t, map[string]string{
		"deploys":  ":heavy_minus_sign: *Recent deploys* is not configured: set GITHUB_TOKEN (GitHub checks are off without it).",
		"health":   ":heavy_minus_sign: *API health* is not configured: set diagnostics.api_health in the configuration.",
		"postgres": ":heavy_minus_sign: *PostgreSQL* is not configured: diagnostics.postgres.url_env names DIAG_POSTGRES_URL, which is not set.",
		"redis":    got["redis"], // configured: runs against the local Redis
		"queue":    ":heavy_minus_sign: *BullMQ queues* is not configured: list the BullMQ queues in diagnostics.redis.queues.",
		"qdrant":   ":heavy_minus_sign: *Qdrant* is not configured: set diagnostics.qdrant.url in the configuration.",
		"tls":      ":heavy_minus_sign: *TLS certificates* is not configured: list host:port endpoints in diagnostics.tls.",
	}, got)
	require.Contains(t, got["redis"], "*Redis*")
}

func TestHangingTargetIsCutAtTimeout(t *testing.T) {
	hang := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(hang)
	realNow := time.Now()
	l := newLoopback(t, realNow)
	l.cfg.Qdrant.URL = slow.URL
	l.cfg.APIHealth = slow.URL + "/health"
	l.cfg.Timeout = config.Duration(400 * time.Millisecond)
	d := l.build(func() time.Time { return realNow })
	defer d.Close()

	start := time.Now()
	out := d.Run(context.Background(), allChecks())
	wall := time.Since(start)
	require.Less(t, wall, 400*time.Millisecond+1500*time.Millisecond, "bounded by the timeout")
	for _, o := range out {
		switch o.Name {
		case "qdrant", "health":
			require.True(t, o.TimedOut, o.Name)
			require.Contains(t, RenderOutcome(o), "timed out after 400 ms")
		default:
			require.True(t, o.OK(), "%s still reports: %s", o.Name, RenderOutcome(o))
		}
	}
}

// BenchmarkPlaybookDiagnosticsLoopback runs all seven checks against their
// loopback targets (real PostgreSQL and Redis, HTTP fakes answering in
// 50–100 ms) and reports the wall time against the slowest check of the
// same run (SPEC §14: at most slowest + 20 %).
func BenchmarkPlaybookDiagnosticsLoopback(b *testing.B) {
	realNow := time.Now()
	l := newSlowLoopback(b, realNow, 100*time.Millisecond)
	d := l.build(func() time.Time { return realNow })
	defer d.Close()
	names := allChecks()
	d.Run(context.Background(), names) // warm the pools
	var sumWall, sumSlowest, sumAll, worstRatio float64
	for b.Loop() {
		start := time.Now()
		out := d.Run(context.Background(), names)
		wall := time.Since(start)
		var slowest time.Duration
		for _, o := range out {
			if !o.OK() {
				b.Fatalf("%s: %s", o.Name, RenderOutcome(o))
			}
			slowest = max(slowest, o.Elapsed)
			sumAll += o.Elapsed.Seconds()
		}
		sumWall += wall.Seconds()
		sumSlowest += slowest.Seconds()
		worstRatio = max(worstRatio, wall.Seconds()/slowest.Seconds())
	}
	n := float64(b.N)
	b.ReportMetric(sumWall/n*1000, "wall-ms")
	b.ReportMetric(sumSlowest/n*1000, "slowest-ms")
	b.ReportMetric(sumAll/n*1000, "sequential-ms")
	b.ReportMetric(sumWall/sumSlowest, "wall/slowest")
	b.ReportMetric(worstRatio, "worst-wall/slowest")
	if sumWall > sumSlowest*1.2 {
		b.Errorf("wall %.1f ms exceeds the slowest check %.1f ms + 20%%", sumWall/n*1000, sumSlowest/n*1000)
	}
}
