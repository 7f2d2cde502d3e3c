package triage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// delayed is a check that answers after d, or stops at its deadline.
func delayed(d time.Duration, text string) CheckFunc {
	return func(ctx context.Context) (Report, error) {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return Report{Text: text}, nil
		case <-ctx.Done():
			return Report{}, fmt.Errorf("wait: %w", ctx.Err())
		}
	}
}

func TestRunIsConcurrentAndBoundsEachCheck(t *testing.T) {
	stuck := make(chan struct{})
	defer close(stuck)
	d := &Diagnostics{
		Timeout: 300 * time.Millisecond,
		Checks: map[string]CheckFunc{
			"deploys":  delayed(50*time.Millisecond, "fast"),
			"health":   delayed(100*time.Millisecond, "slower"),
			"postgres": delayed(time.Hour, "never"), // honours its context
			"redis": func(context.Context) (Report, error) { // ignores it
				<-stuck
				return Report{}, nil
			},
			"queue": func(context.Context) (Report, error) {
				return Report{}, errors.New("Redis at 10.0.0.1:6379 refused the connection")
			},
			"qdrant": func(context.Context) (Report, error) { panic("boom") },
		},
		Missing: map[string]string{"tls": "list host:port endpoints in diagnostics.tls."},
	}
	start := time.Now()
	out := d.Run(context.Background(), []string{"deploys", "health", "postgres", "redis", "queue", "qdrant", "tls"})
	wall := time.Since(start)

	require.Less(t, wall, 300*time.Millisecond+time.Second, "bounded by the timeout, not by the stuck checks")
	require.GreaterOrEqual(t, wall, 300*time.Millisecond)

	require.True(t, out[0].OK())
	require.Equal(t, "fast", out[0].Report.Text)
	require.Equal(t, "slower", out[1].Report.Text)
	require.True(t, out[2].TimedOut, "postgres")
	require.True(t, out[3].TimedOut, "redis")
	require.LessOrEqual(t, out[3].Elapsed, 300*time.Millisecond)
	require.Equal(t, "Redis at 10.0.0.1:6379 refused the connection", out[4].Err)
	require.Equal(t, "the check crashed", out[5].Err)
	require.Equal(t, "list host:port endpoints in diagnostics.tls.", out[6].NotConfigured)

	require.Contains(t, RenderOutcome(out[2]), ":hourglass: *PostgreSQL* timed out after 300 ms (diagnostics.timeout); the other checks still report.")
	require.Contains(t, RenderOutcome(out[4]), ":x: *BullMQ queues* failed after")
	require.Equal(t, ":heavy_minus_sign: *TLS certificates* is not configured: list host:port endpoints in diagnostics.tls.", RenderOutcome(out[6]))
	require.True(t, strings.HasPrefix(RenderOutcome(out[0]), ":white_check_mark: *Recent deploys* · "))
}

func TestRunHidesSecretsAndBoundsLength(t *testing.T) {
	d := &Diagnostics{
		Timeout: time.Second,
		Secrets: []string{"ghp_TOKEN123", "pw0rd"},
		Checks: map[string]CheckFunc{
			"health": func(context.Context) (Report, error) {
				return Report{Text: "token ghp_TOKEN123 at https://bob:pw0rd@db.internal:5432/app?sslmode=disable&key=k1 " + strings.Repeat("x\n", 3000)}, nil
			},
			"deploys": func(context.Context) (Report, error) {
				return Report{}, errors.New("GET https://api.example.com/x?access_token=abc failed with ghp_TOKEN123")
			},
		},
	}
	out := d.Run(context.Background(), []string{"health", "deploys"})
	text := RenderOutcome(out[0]) + RenderOutcome(out[1])
	for _, secret := range []string{"ghp_TOKEN123", "pw0rd", "bob:", "key=k1", "access_token", "abc"} {
		require.NotContains(t, text, secret)
	}
	require.Contains(t, text, "https://db.internal:5432/app")
	require.LessOrEqual(t, len([]rune(out[0].Report.Text)), MaxReport)
	require.LessOrEqual(t, len([]rune(RenderOutcome(out[0]))), maxSection)
	require.True(t, strings.HasSuffix(out[0].Report.Text, "\n…"))
}

func TestRunStopsWithItsCaller(t *testing.T) {
	d := &Diagnostics{Timeout: time.Hour, Checks: map[string]CheckFunc{"health": delayed(time.Hour, "")}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out := d.RunOne(ctx, "health")
	require.False(t, out.OK())
	require.False(t, out.TimedOut, "cancelled by the caller is not the check's timeout")
	require.Equal(t, "cancelled before it answered", out.Err)
}

// BenchmarkPlaybookDiagnostics measures a playbook's diagnostics wall time
// against its slowest check (SPEC §14: at most slowest + 20 %). Seven
// checks of 10–70 ms run concurrently; the reported ratio is wall/slowest.
func BenchmarkPlaybookDiagnostics(b *testing.B) {
	names := []string{"deploys", "health", "postgres", "redis", "queue", "qdrant", "tls"}
	checks := map[string]CheckFunc{}
	var slowest time.Duration
	for i, n := range names {
		d := time.Duration(i+1) * 10 * time.Millisecond
		checks[n] = delayed(d, n)
		slowest = max(slowest, d)
	}
	d := &Diagnostics{Timeout: time.Second, Checks: checks}
	var worst time.Duration
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		out := d.Run(context.Background(), names)
		wall := time.Since(start)
		worst = max(worst, wall)
		for _, o := range out {
			if !o.OK() {
				b.Fatalf("%s: %+v", o.Name, o)
			}
		}
	}
	b.ReportMetric(float64(slowest.Microseconds())/1000, "slowest-ms")
	b.ReportMetric(float64(worst.Microseconds())/1000, "worst-wall-ms")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "mean-wall-ms")
	b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(slowest), "wall/slowest")
	if mean := b.Elapsed() / time.Duration(b.N); mean > slowest*12/10 {
		b.Errorf("mean wall %s exceeds slowest %s + 20%%", mean, slowest)
	}
}
