package securitytest_test

import (
	"context"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/bot/slacksim"
	"github.com/contextinject/oncallbot/commands/triage"
	"github.com/contextinject/oncallbot/store/storetest"
)

// trap is a loopback listener nothing may connect to.
type trap struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []string
	done  chan struct{}
}

func newTrap(t *testing.T) *trap {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	tr := &trap{ln: ln, done: make(chan struct{})}
	go func() {
		defer close(tr.done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tr.mu.Lock()
			tr.conns = append(tr.conns, c.RemoteAddr().String())
			tr.mu.Unlock()
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); <-tr.done })
	return tr
}

func (tr *trap) addr() string { return tr.ln.Addr().String() }

func (tr *trap) connections() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]string(nil), tr.conns...)
}

// TestDiagnosticsReachOnlyTheConfiguredTargets: /diag and /triage with
// arguments that look like URLs, hosts, SQL or shell are answered with the
// usage (or, for /triage's free-text note, shown as text), connect to
// nothing but the configured targets, change no SQL and run no shell.
func TestDiagnosticsReachOnlyTheConfiguredTargets(t *testing.T) {
	t.Parallel()
	tr := newTrap(t)
	var healthHits atomic.Int32
	healthSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		healthHits.Add(1)
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	}))
	t.Cleanup(healthSrv.Close)

	// The monitored database holds a table that nothing may drop.
	diagDB := storetest.FreshURL(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, diagDB)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `CREATE TABLE x (id int)`)
	require.NoError(t, err)
	require.NoError(t, conn.Close(ctx))
	redisURL := os.Getenv("TEST_REDIS_URL")
	if redisURL == "" {
		redisURL = storetest.DefaultRedisURL
	}

	cfg := parse(t, teamYAML(t, fmt.Sprintf(`diagnostics:
  api_health: %s/health
  postgres: {url_env: DIAG_POSTGRES_URL}
  redis: {url_env: DIAG_REDIS_URL, queues: [ingest-document]}
  timeout: 3s`, healthSrv.URL)))
	const webhookToken = "diag-webhook-token"
	e := start(t, options{cfg: cfg, env: map[string]string{"DIAG_POSTGRES_URL": diagDB, "DIAG_REDIS_URL": redisURL, "WEBHOOK_TOKEN": webhookToken}})
	h := e.h
	sentinel := filepath.Join(t.TempDir(), "pwned")
	trapURL := "http://" + tr.addr() + "/"
	_, trapPort, _ := net.SplitHostPort(tr.addr())

	for _, line := range []string{
		"/diag " + trapURL,
		"/diag <" + trapURL + ">",
		"/diag health " + trapURL,
		"/diag tls " + tr.addr(),
		"/diag tls 127.0.0.1 " + trapPort,
		"/diag redis redis://" + tr.addr() + "/0",
		"/diag postgres postgres://postgres@" + tr.addr() + "/x",
		"/diag postgres; DROP TABLE x",
		"/diag postgres;DROP TABLE x",
		"/diag postgres' OR '1'='1",
		"/diag $(touch " + sentinel + ")",
		"/diag health; touch " + sentinel,
		"/diag `touch " + sentinel + "`",
		"/diag ../../../etc/passwd",
	} {
		t.Run(line, func(t *testing.T) {
			e.refused(t, engA, e.slash(engA, chEngineering, line), "Usage: /diag")
		})
	}
	for _, line := range []string{
		"/triage " + trapURL,
		"/triage " + tr.addr(),
		"/triage $(touch " + sentinel + ")",
		"/triage ; DROP TABLE incidents",
	} {
		t.Run(line, func(t *testing.T) {
			e.refused(t, engA, e.slash(engA, chEngineering, line), "I have no playbook for", "Usage: /triage")
		})
	}

	// Free text is text: a note, an incident title, alert labels and links.
	note := "$(touch " + sentinel + ") `touch " + sentinel + "` ; DROP TABLE x; <" + trapURL + ">"
	e.allowed(t, engA, "incident.open", e.slash(engA, chIncidents, "/triage queue-depth P2 "+note))
	step := h.WaitMessage(t, func(m *slacksim.Message) bool {
		return m.Channel == chIncidents && m.ThreadTS != "" && strings.Contains(m.AllText(), "*Step 1/4") && strings.Contains(m.AllText(), "BullMQ queues")
	})
	e.allowed(t, engB, "triage.rerun", e.click(engB, step, triage.ActionRerun))
	e.allowed(t, engB, "incident.open", e.slash(engB, chIncidents, "/incident P3 <"+trapURL+"|dashboard> $(touch "+sentinel+")"))
	e.allowed(t, "alertmanager", "incident.open", func(t *testing.T) {
		body := alertGroup(t, "firing", map[string]string{"alertname": "QueueDepthGrowing", "severity": "P3", "runbook_url": trapURL, "instance": tr.addr()}, trapURL)
		require.Equal(t, http.StatusOK, post(t, "http://"+h.App.HTTPAddr()+"/webhooks/alertmanager", body, map[string]string{"Authorization": "Bearer " + webhookToken}))
	})

	// The configured targets are reached (so the trap would have seen a
	// connection had one gone astray).
	h.Slash(t, engC, chEngineering, "/diag all")
	all := h.WaitEphemeral(t, engC, "Read-only diagnostics against the configured targets")
	require.Contains(t, all.Text, "API health: ok")
	require.Contains(t, all.Text, "PostgreSQL: ok")
	require.Positive(t, healthHits.Load())
	e.settle(t)

	require.Empty(t, tr.connections(), "something connected to a target outside the configuration")
	_, err = os.Stat(sentinel)
	require.ErrorIs(t, err, fs.ErrNotExist, "a shell ran")
	conn, err = pgx.Connect(ctx, diagDB)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var n int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM x`).Scan(&n), "the monitored table is gone")
	require.Positive(t, query[int](t, e, `SELECT count(*) FROM incidents`))
}

// TestNoShellInTheBot: no package of the bot imports os/exec (test helpers
// that start servers, under …test directories, aside).
func TestNoShellInTheBot(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs("../../..")
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(root, "go.mod"))
	require.NoError(t, err, "module root")
	fset := token.NewFileSet()
	checked := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || strings.HasSuffix(name, "test") || name == "scripts") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		checked++
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == "os/exec" || p == "plugin" {
				t.Errorf("%s imports %s", path, p)
			}
		}
		return nil
	})
	require.NoError(t, err)
	require.Greater(t, checked, 50)
}
