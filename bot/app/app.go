// Package app assembles the bot: storage, the Slack transport, River, the
// HTTP server and every feature module, with an ordered start and shutdown.
// cmd/oncallbot calls it for real Slack and for the local workspace; the
// end-to-end tests and benchmarks call it against the simulated Slack.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"github.com/riverqueue/river"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/contextinject/oncallbot/bot"
	"github.com/contextinject/oncallbot/commands"
	"github.com/contextinject/oncallbot/commands/calendar"
	"github.com/contextinject/oncallbot/commands/config"
	"github.com/contextinject/oncallbot/commands/incident"
	"github.com/contextinject/oncallbot/commands/monitoring"
	"github.com/contextinject/oncallbot/commands/oncall"
	"github.com/contextinject/oncallbot/commands/swap"
	"github.com/contextinject/oncallbot/commands/triage"
	"github.com/contextinject/oncallbot/integrations/pagerduty"
	"github.com/contextinject/oncallbot/store"
)

// Options configure an App. Secrets arrive here from the environment only.
type Options struct {
	Config      *config.Config
	DatabaseURL string
	RedisURL    string // "" disables Redis
	SlackAPIURL string // must end with "/"
	AppToken    string
	BotToken    string
	HTTPAddr    string // "" disables the HTTP server; "127.0.0.1:0" picks a port
	Log         *slog.Logger
	Now         func() time.Time
	// Getenv reads optional integration settings (PAGERDUTY_TOKEN, …).
	Getenv func(string) string
	// Drain bounds graceful shutdown (default 10s).
	Drain time.Duration
	// PingInterval is the longest gap between Slack's WebSocket pings before
	// the connection counts as dead (slack-go default 30s).
	PingInterval time.Duration
}

// App is a running bot.
type App struct {
	o        Options
	DB       *store.DB
	Redis    *redis.Client
	Jobs     *river.Client[pgx.Tx]
	Bot      *bot.Bot
	Health   *bot.Health
	Registry *commands.Registry
	Metrics  *bot.Metrics
	Gatherer prometheus.Gatherer
	Deps     commands.Deps
	Oncall   *oncall.Module
	Roster   *oncall.Roster
	// Incident runs incidents, paging and the alert webhooks.
	Incident *incident.Module
	Calendar *calendar.Module
	Swap     *swap.Module
	// Monitoring posts non-paging alert groups in #monitoring (the
	// Alertmanager webhook calls Monitoring.Alert).
	Monitoring *monitoring.Module
	// Handoffs are the weekly and emergency handoffs and the customer update templates.
	Handoffs *HandoffModules
	// Triage runs alert playbooks (/triage) and diagnostics (/diag); the
	// Alertmanager webhook uses Triage.Route and Triage.Start.
	Triage *triage.Module
	// Hooks are console `run NAME` actions.
	Hooks map[string]func(ctx context.Context) error

	pd       *pagerduty.Client // shared PagerDuty client, built on first use
	httpSrv  *http.Server
	httpAddr string
	cancel   context.CancelFunc
	done     chan struct{}
	runErr   error
	stopOnce sync.Once
}

// Start opens storage (creating and migrating the database), builds every
// module, and starts River, the HTTP server and the Socket Mode connection.
func Start(ctx context.Context, o Options) (*App, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Drain <= 0 {
		o.Drain = 10 * time.Second
	}
	a := &App{o: o, Health: bot.NewHealth(), Registry: commands.NewRegistry(), Hooks: map[string]func(context.Context) error{}}

	db, err := store.Open(ctx, o.DatabaseURL, o.Log)
	if err != nil {
		return nil, err
	}
	a.DB = db
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate database: %w", err)
	}
	if o.RedisURL != "" {
		rdb, err := store.OpenRedis(ctx, o.RedisURL, o.Log)
		if err != nil {
			o.Log.Warn(err.Error())
		}
		a.Redis = rdb
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.Gatherer = reg
	a.Metrics = bot.NewMetrics(reg)

	httpClient := &http.Client{Timeout: 15 * time.Second, Transport: &bot.CountingTransport{API: "slack", Calls: a.Metrics.APICalls}}
	retry := slack.DefaultRetryConfig()
	retry.MaxRetries = 4
	retry.RetryAfterDuration = 5 * time.Second
	retry.BackoffMax = 10 * time.Second
	retry.Handlers = append(slack.AllBuiltinRetryHandlers(retry), slack.NewServerErrorRetryHandler(retry))
	api := slack.New(o.BotToken,
		slack.OptionAPIURL(o.SlackAPIURL),
		slack.OptionAppLevelToken(o.AppToken),
		slack.OptionHTTPClient(httpClient),
		slack.OptionRetryConfig(retry),
	)
	smOpts := []socketmode.Option{}
	if o.PingInterval > 0 {
		smOpts = append(smOpts, socketmode.OptionPingInterval(o.PingInterval))
	}
	sm := socketmode.New(api, smOpts...)
	messenger := bot.NewMessenger(api, &http.Client{Timeout: 10 * time.Second}, o.SlackAPIURL)

	workers := river.NewWorkers()
	jobs, err := store.NewRiver(db, workers, o.Log, store.RiverOptions{})
	if err != nil {
		a.closeStores()
		return nil, fmt.Errorf("river: %w", err)
	}
	a.Jobs = jobs

	a.Deps = commands.Deps{
		Config: o.Config, DB: db, Jobs: jobs, Workers: workers, Slack: messenger,
		Now: o.Now, Log: o.Log, Notes: a.Health.Note,
	}
	if err := a.buildModules(ctx); err != nil {
		a.closeStores()
		return nil, err
	}

	a.Bot = bot.New(bot.Options{
		Client: sm, Registry: a.Registry, Dedup: store.NewDedup(db, a.Redis, 0, o.Log),
		Log: o.Log, Metrics: a.Metrics, Messenger: messenger, Now: o.Now,
	})
	a.Health.AddCheck(bot.Check{Name: "slack", Critical: true, Func: func(context.Context) error {
		if !a.Bot.Connected() {
			return errors.New("socket mode not connected")
		}
		return nil
	}})
	a.Health.AddCheck(bot.Check{Name: "postgres", Critical: true, Func: db.Ping})
	if a.Redis != nil {
		a.Health.AddCheck(bot.Check{Name: "redis", Func: func(ctx context.Context) error { return a.Redis.Ping(ctx).Err() }})
	}

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.cancel = cancel
	if err := jobs.Start(runCtx); err != nil {
		cancel()
		a.closeStores()
		return nil, fmt.Errorf("start river: %w", err)
	}
	if o.HTTPAddr != "" {
		ln, err := net.Listen("tcp", o.HTTPAddr)
		if err != nil {
			cancel()
			_ = jobs.Stop(context.Background())
			a.closeStores()
			return nil, fmt.Errorf("listen on HTTP_ADDR %s: %w", o.HTTPAddr, err)
		}
		a.httpAddr = ln.Addr().String()
		a.httpSrv = &http.Server{Handler: a.mux(), ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := a.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				o.Log.Error("http server stopped", "err", err)
			}
		}()
	}
	a.done = make(chan struct{})
	go func() {
		defer close(a.done)
		a.runErr = a.Bot.Run(runCtx, o.Drain)
	}()
	return a, nil
}

// HTTPAddr is the address the HTTP server listens on ("" when disabled).
func (a *App) HTTPAddr() string { return a.httpAddr }

// Done is closed when the Slack connection has stopped for good.
func (a *App) Done() <-chan struct{} { return a.done }

// Err is why the Slack connection stopped (after Done), nil on shutdown.
func (a *App) Err() error { return a.runErr }

// WaitConnected waits until Socket Mode is connected or timeout passes.
func (a *App) WaitConnected(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for !a.Bot.Connected() {
		if time.Now().After(deadline) {
			return errors.New("slack socket mode did not connect in time")
		}
		select {
		case <-a.done:
			return fmt.Errorf("slack connection ended: %v", a.runErr)
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// Stop shuts down in order: Slack intake first (draining handlers), then
// River, the HTTP server, Redis and PostgreSQL, all under ctx's deadline.
func (a *App) Stop(ctx context.Context) error {
	var err error
	a.stopOnce.Do(func() {
		a.cancel()
		select {
		case <-a.done:
		case <-ctx.Done():
		}
		if e := a.Jobs.Stop(ctx); e != nil && !errors.Is(e, context.Canceled) {
			err = errors.Join(err, fmt.Errorf("stop river: %w", e))
		}
		if a.httpSrv != nil {
			if e := a.httpSrv.Shutdown(ctx); e != nil {
				err = errors.Join(err, fmt.Errorf("stop http: %w", e))
			}
		}
		a.closeStores()
	})
	return err
}

func (a *App) closeStores() {
	if a.Redis != nil {
		_ = a.Redis.Close()
	}
	if a.DB != nil {
		a.DB.Close()
	}
}
