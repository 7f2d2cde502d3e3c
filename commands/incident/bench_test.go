package incident

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/contextinject/oncallbot/commands"
	"github.com/contextinject/oncallbot/commands/config"
	"github.com/contextinject/oncallbot/commands/severity"
	"github.com/contextinject/oncallbot/store"
	"github.com/contextinject/oncallbot/store/storetest"
)

// BenchmarkEscalationLag measures how late escalation steps fire behind
// their deadline (SPEC §14: p99 under 1 s) with 1,000 open incidents whose
// first steps fall due within two seconds of each other, on the real River
// and PostgreSQL, with the app's pool and queue settings. Slack is an
// in-memory fake so that only the scheduling path is measured.
// Run: go test -run '^$' -bench EscalationLag -benchtime 1x ./commands/incident/
// The pool is the app's default (store.DefaultMaxConns); see
// BenchmarkEscalationLagPool20 for a pool of 20.
func BenchmarkEscalationLag(b *testing.B) { benchLag(b, "default") }

// BenchmarkEscalationLagPool20 is BenchmarkEscalationLag with a pool of 20
// connections (DATABASE_URL's pool_max_conns), to see how the lag depends
// on the pool.
func BenchmarkEscalationLagPool20(b *testing.B) { benchLag(b, "20") }

func benchLag(b *testing.B, pool string) {
	const incidents = 1000
	const spread = 2 * time.Second
	var lags []time.Duration
	for range b.N {
		lags = append(lags, escalationLagRound(b, pool, incidents, spread)...)
	}
	slices.Sort(lags)
	pct := func(p float64) time.Duration { return lags[int(float64(len(lags)-1)*p)] }
	b.ReportMetric(float64(lags[0].Microseconds())/1000, "min-lag-ms")
	b.ReportMetric(float64(pct(0.50).Microseconds())/1000, "p50-lag-ms")
	b.ReportMetric(float64(pct(0.99).Microseconds())/1000, "p99-lag-ms")
	b.ReportMetric(float64(lags[len(lags)-1].Microseconds())/1000, "max-lag-ms")
	b.ReportMetric(float64(len(lags)), "steps")
}

func escalationLagRound(b *testing.B, pool string, n int, spread time.Duration) []time.Duration {
	b.StopTimer()
	ctx := context.Background()
	url := storetest.FreshURL(b)
	if pool != "default" {
		sep := "?"
		if strings.Contains(url, "?") {
			sep = "&"
		}
		url += sep + "pool_max_conns=" + pool
	}
	db, err := store.Open(ctx, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	cfg := config.Default()
	log := slog.New(slog.DiscardHandler)
	workers := river.NewWorkers()
	jobs, err := store.NewRiver(db, workers, log, store.RiverOptions{})
	if err != nil {
		b.Fatal(err)
	}
	m := New(commands.Deps{Config: cfg, DB: db, Jobs: jobs, Workers: workers, Slack: &fakeSlack{}, Now: time.Now, Log: log},
		Options{Roster: fakeRoster{cfg}, Gauges: func(int, int) {}, PublishHome: func(context.Context, string) error { return nil }})
	if err := m.RegisterJobs(workers); err != nil {
		b.Fatal(err)
	}

	// River runs from the start, as in a bot that has been up for a while
	// (its leader elected, its scheduler ticking).
	if err := jobs.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = jobs.Stop(sctx)
	}()

	// n open incidents (parents posted), then their first steps scheduled
	// in one batch to fall due between t0 and t0+spread.
	sev, _ := cfg.Severity("P2")
	ids := make([]int64, 0, n)
	for range n {
		now := time.Now()
		inc := &Incident{
			Severity: "P2", Title: "Benchmark incident", Source: SourceSlash, OpenedBy: "U0ENGA", Channel: cfg.Channels.Incidents,
			CreatedAt: now, Deadlines: severity.Compute(sev, now, severity.HoursFrom(cfg)), Notes: map[string]string{},
			Paging: PagingBot, Esc: Position{State: escRunning, Due: now.Add(time.Hour)},
		}
		if err := db.InTx(ctx, func(tx pgx.Tx) error { return insertIncident(ctx, tx, inc) }); err != nil {
			b.Fatal(err)
		}
		if err := m.ensureParent(ctx, inc.ID); err != nil {
			b.Fatal(err)
		}
		ids = append(ids, inc.ID)
	}
	t0 := time.Now().Add(15 * time.Second)
	due := make(map[int64]time.Time, n)
	for i, id := range ids {
		due[id] = t0.Add(spread * time.Duration(i) / time.Duration(n))
	}
	for chunk := range slices.Chunk(ids, 50) {
		err = db.InTx(ctx, func(tx pgx.Tx) error {
			for _, id := range chunk {
				at := due[id]
				if _, err := tx.Exec(ctx, `UPDATE incidents SET esc_due = $2 WHERE id = $1`, id, at); err != nil {
					return err
				}
				// The engine's own scheduling path.
				if err := m.insertAt(ctx, tx, stepArgs{IncidentID: id, At: m.schedAt(at)}, at); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if left := time.Until(t0); left < shortHorizon {
		b.Fatalf("scheduling took too long: only %s left before the first step", left)
	}
	if time.Now().After(t0) {
		b.Fatalf("setup took too long: the first step fell due %s before River started", time.Since(t0))
	}
	b.StartTimer()
	deadline := time.Now().Add(time.Minute)
	for {
		var fired int
		if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM incident_pages WHERE loop = 0 AND step = 0`).Scan(&fired); err != nil {
			b.Fatal(err)
		}
		if fired == n {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d steps fired within a minute", fired, n)
		}
		time.Sleep(50 * time.Millisecond) // polling the database for the benchmark's own progress
	}
	b.StopTimer()
	rows, err := db.Pool.Query(ctx, `SELECT incident_id, fired_at FROM incident_pages WHERE loop = 0 AND step = 0`)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	var lags []time.Duration
	for rows.Next() {
		var id int64
		var fired time.Time
		if err := rows.Scan(&id, &fired); err != nil {
			b.Fatal(err)
		}
		lags = append(lags, max(fired.Sub(due[id]), 0))
	}
	return lags
}
