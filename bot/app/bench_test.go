package app_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/contextinject/oncallbot/bot/app/apptest"
	"github.com/contextinject/oncallbot/bot/slacksim"
)

// The load of SPEC §14: 200 envelopes per second for 10 seconds. Set
// ONCALLBOT_BENCH_SECONDS to shorten it while developing.
const benchRate = 200

func benchSeconds() int {
	if n, err := strconv.Atoi(os.Getenv("ONCALLBOT_BENCH_SECONDS")); err == nil && n > 0 {
		return n
	}
	return 10
}

type sample struct {
	id string
	t0 time.Time
}

// drive sends /oncall at benchRate for the configured time and returns the
// envelopes with their send instants.
func drive(b *testing.B, sim *slacksim.Server, text string) []sample {
	b.Helper()
	total := benchRate * benchSeconds()
	users := []string{"U0ENGA", "U0ENGB", "U0LEAD", "U0CTO"}
	out := make([]sample, 0, total)
	tick := time.NewTicker(time.Second / benchRate)
	defer tick.Stop()
	for i := range total {
		<-tick.C
		t0 := time.Now()
		id, err := sim.SlashCommand(users[i%len(users)], "C0INCIDENTS", "/oncall", text)
		if err != nil {
			b.Fatalf("send: %v", err)
		}
		out = append(out, sample{id: id, t0: t0})
	}
	return out
}

func ackLatencies(b *testing.B, sim *slacksim.Server, samples []sample) []time.Duration {
	b.Helper()
	out := make([]time.Duration, 0, len(samples))
	for _, s := range samples {
		a, err := sim.WaitAck(s.id, 10*time.Second)
		if err != nil {
			b.Fatalf("ack of %s: %v", s.id, err)
		}
		out = append(out, a.At.Sub(s.t0))
	}
	return out
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p)
	return s[i]
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

// BenchmarkAckFloor is the do-nothing slack-go Socket Mode handler on the
// same simulator: it acks every envelope and does nothing else. It is the
// floor our ack latency is compared with (SPEC §14: at most twice its p99).
func BenchmarkAckFloor(b *testing.B) {
	cfgSim := apptest.SimOptions(apptest.DefaultConfig())
	sim, err := slacksim.New(cfgSim)
	if err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	api := slack.New(slacksim.BotToken, slack.OptionAPIURL(sim.APIURL()), slack.OptionAppLevelToken(slacksim.AppToken))
	client := socketmode.New(api)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = client.RunContext(ctx) })
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case evt := <-client.Events:
				if evt.Request != nil && evt.Request.EnvelopeID != "" {
					actx, c := context.WithTimeout(ctx, 2*time.Second)
					_ = client.AckCtx(actx, evt.Request.EnvelopeID, nil)
					c()
				}
			}
		}
	})
	defer func() { cancel(); wg.Wait() }()
	for sim.Connections() == 0 {
		time.Sleep(time.Millisecond)
	}
	b.ResetTimer()
	for range b.N {
		samples := drive(b, sim, "")
		lat := ackLatencies(b, sim, samples)
		b.ReportMetric(us(pct(lat, .5)), "ack-p50-µs")
		b.ReportMetric(us(pct(lat, .99)), "ack-p99-µs")
	}
}

// BenchmarkAck runs the whole bot (PostgreSQL, Redis, River) under the SPEC
// §14 load: ack latency from envelope written to ack read, and /oncall
// answer latency from envelope written to the answer posted.
func BenchmarkAck(b *testing.B) {
	h := apptest.New(b, apptest.Options{Now: time.Now().UTC()})
	// Warm up connections and caches.
	for range 20 {
		h.Slash(b, "U0ENGA", "C0INCIDENTS", "/oncall")
	}
	time.Sleep(200 * time.Millisecond)
	b.ResetTimer()
	for range b.N {
		samples := drive(b, h.Sim, "")
		lat := ackLatencies(b, h.Sim, samples)
		answers := answerLatencies(b, h.Sim, samples)
		b.ReportMetric(us(pct(lat, .5)), "ack-p50-µs")
		b.ReportMetric(us(pct(lat, .99)), "ack-p99-µs")
		b.ReportMetric(us(pct(answers, .5)), "answer-p50-µs")
		b.ReportMetric(us(pct(answers, .99)), "answer-p99-µs")
		slow := 0
		for _, d := range answers {
			if d > 10*time.Millisecond {
				slow++
			}
		}
		b.ReportMetric(float64(slow), "answers-over-10ms")
		fmt.Fprintf(os.Stderr, "bench: %d envelopes at %d/s: ack p50 %v p99 %v; /oncall answer p50 %v p99 %v, %d over 10 ms\n",
			len(samples), benchRate, pct(lat, .5), pct(lat, .99), pct(answers, .5), pct(answers, .99), slow)
		if os.Getenv("ONCALLBOT_BENCH_TRACE") != "" {
			for i, s := range samples {
				for _, m := range h.Sim.Messages() {
					if m.InReplyTo == s.id && m.At.Sub(s.t0) > 10*time.Millisecond {
						fmt.Fprintf(os.Stderr, "slow answer #%d at +%v: %v\n", i, s.t0.Sub(samples[0].t0).Round(time.Millisecond), m.At.Sub(s.t0))
					}
				}
			}
		}
	}
}

func answerLatencies(b *testing.B, sim *slacksim.Server, samples []sample) []time.Duration {
	b.Helper()
	want := make(map[string]time.Time, len(samples))
	for _, s := range samples {
		want[s.id] = s.t0
	}
	deadline := time.Now().Add(30 * time.Second)
	var out []time.Duration
	for {
		out = out[:0]
		for _, m := range sim.Messages() {
			if t0, ok := want[m.InReplyTo]; ok {
				out = append(out, m.At.Sub(t0))
			}
		}
		if len(out) >= len(samples) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(out) < len(samples) {
		b.Fatalf("only %d of %d /oncall answers arrived", len(out), len(samples))
	}
	return out
}

// BenchmarkStartToReady measures app start (database open and migrate,
// River, HTTP, Socket Mode connected) against local services.
func BenchmarkStartToReady(b *testing.B) {
	sim, err := slacksim.New(apptest.SimOptions(apptest.DefaultConfig()))
	if err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	h := apptest.New(b, apptest.Options{Sim: sim})
	url := h.DBURL
	var total time.Duration
	for range b.N {
		t0 := time.Now()
		h2 := apptest.New(b, apptest.Options{Sim: sim, DatabaseURL: url})
		total += time.Since(t0)
		_ = h2
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "start-ms")
}
