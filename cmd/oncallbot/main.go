// Command oncallbot runs the on-call Slack bot. With SLACK_APP_TOKEN and
// SLACK_BOT_TOKEN it connects to Slack over Socket Mode; without them it runs
// the local workspace: a simulated Slack on loopback driven from a console.
//
//	oncallbot                      run the bot (or the local workspace)
//	oncallbot check-config [FILE]  validate a configuration and print the next 4 shifts
//	oncallbot migrate              apply database migrations and exit
//	oncallbot pagerduty diff|apply compare PagerDuty with the configuration, or make it match
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/contextinject/oncallbot/bot/app"
	"github.com/contextinject/oncallbot/bot/console"
	"github.com/contextinject/oncallbot/bot/slacksim"
	"github.com/contextinject/oncallbot/commands/config"
	"github.com/contextinject/oncallbot/commands/playbook"
	"github.com/contextinject/oncallbot/commands/templates"
	"github.com/contextinject/oncallbot/store"
)

const (
	defaultDatabaseURL = "postgres://localhost:5432/oncallbot?sslmode=disable"
	defaultRedisURL    = "redis://localhost:6379/0"
	defaultSlackAPIURL = "https://slack.com/api/"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}

// run is main with its inputs injected, so tests drive the real binary's logic.
func run(args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cmd := ""
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "check-config":
		return checkConfig(args[1:], getenv, stdout, stderr)
	case "migrate":
		return migrate(ctx, getenv, stderr)
	case "pagerduty":
		return pagerdutyCmd(ctx, args[1:], getenv, stdout, stderr)
	case "", "run":
		return serve(ctx, getenv, stdin, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "oncallbot: unknown command %q\n%s", cmd, usage)
		return 2
	}
}

const usage = `usage:
  oncallbot                      run the bot (local workspace when SLACK_APP_TOKEN/SLACK_BOT_TOKEN are unset)
  oncallbot check-config [FILE]  validate a configuration and print the next 4 shifts
  oncallbot migrate              apply database migrations and exit
  oncallbot pagerduty diff       how PagerDuty's escalation policy and schedules differ from the configuration
  oncallbot pagerduty apply      make PagerDuty match the configuration, changing nothing else
`

func env(getenv func(string) string, key, def string) string {
	if v := strings.TrimSpace(getenv(key)); v != "" {
		return v
	}
	return def
}

func newLogger(getenv func(string) string, w io.Writer, local bool) (*slog.Logger, error) {
	level := slog.LevelInfo
	raw := getenv("LOG_LEVEL")
	if raw == "" && local {
		// The console owns stdout; keep stderr for problems only.
		raw = "warn"
	}
	if raw != "" {
		if err := level.UnmarshalText([]byte(raw)); err != nil {
			return nil, fmt.Errorf("LOG_LEVEL %q is not one of debug, info, warn, error", raw)
		}
	}
	opts := &slog.HandlerOptions{Level: level}
	if local {
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return slog.New(slog.NewJSONHandler(w, opts)), nil
}

// loadExtras loads the configuration's extra playbook and customer template
// files, so that a bad one is reported with the rest of the configuration.
func loadExtras(cfg *config.Config) error {
	if _, err := playbook.Load(cfg.Playbooks, cfg.SeverityNames()); err != nil {
		return err
	}
	if _, err := templates.Load(cfg.Templates); err != nil {
		return err
	}
	return nil
}

func loadConfig(getenv func(string) string, stderr io.Writer) (*config.Config, bool) {
	cfg, err := config.Resolve(getenv("ONCALL_CONFIG"))
	if err == nil {
		err = loadExtras(cfg)
	}
	if err != nil {
		fmt.Fprintf(stderr, "oncallbot: invalid configuration; nothing was started or changed:\n%v\n", err)
		return nil, false
	}
	return cfg, true
}

func checkConfig(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var (
		cfg *config.Config
		err error
	)
	switch len(args) {
	case 0:
		cfg, err = config.Resolve(getenv("ONCALL_CONFIG"))
	case 1:
		cfg, err = config.Load(args[0])
	default:
		fmt.Fprintln(stderr, "usage: oncallbot check-config [FILE]")
		return 2
	}
	if err == nil {
		err = loadExtras(cfg)
	}
	if err != nil {
		fmt.Fprintf(stderr, "%v\n", err)
		return 1
	}
	config.Describe(stdout, cfg, time.Now(), nil)
	return 0
}

func migrate(ctx context.Context, getenv func(string) string, stderr io.Writer) int {
	log, _ := newLogger(getenv, stderr, false)
	db, err := store.Open(ctx, env(getenv, "DATABASE_URL", defaultDatabaseURL), log)
	if err != nil {
		fmt.Fprintf(stderr, "oncallbot: %v\n", err)
		return 1
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		fmt.Fprintf(stderr, "oncallbot: migrate: %v\n", err)
		return 1
	}
	fmt.Fprintln(stderr, "oncallbot: database is up to date")
	return 0
}

func serve(ctx context.Context, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	appToken, botToken := getenv("SLACK_APP_TOKEN"), getenv("SLACK_BOT_TOKEN")
	local := appToken == "" && botToken == ""
	if !local && (appToken == "" || botToken == "") {
		fmt.Fprintln(stderr, "oncallbot: set both SLACK_APP_TOKEN (xapp-…) and SLACK_BOT_TOKEN (xoxb-…), or neither to run the local workspace")
		return 2
	}
	log, err := newLogger(getenv, stderr, local)
	if err != nil {
		fmt.Fprintf(stderr, "oncallbot: %v\n", err)
		return 2
	}
	cfg, ok := loadConfig(getenv, stderr)
	if !ok {
		return 1
	}
	// go-redis logs every failed dial through a process-wide logger; route
	// it through ours so a Redis outage is one warning, not a flood.
	redis.SetLogger(store.NewRedisLogger(log))
	opts := app.Options{
		Config:      cfg,
		DatabaseURL: env(getenv, "DATABASE_URL", defaultDatabaseURL),
		RedisURL:    env(getenv, "REDIS_URL", defaultRedisURL),
		SlackAPIURL: env(getenv, "SLACK_API_URL", defaultSlackAPIURL),
		AppToken:    appToken,
		BotToken:    botToken,
		HTTPAddr:    env(getenv, "HTTP_ADDR", ":8080"),
		Log:         log,
		Getenv:      getenv,
	}
	if !strings.HasSuffix(opts.SlackAPIURL, "/") {
		opts.SlackAPIURL += "/"
	}

	var sim *slacksim.Server
	if local && strings.TrimSpace(getenv("HTTP_ADDR")) == "" {
		opts.HTTPAddr = localHTTPAddr(opts.HTTPAddr, log)
	}
	if local {
		sim, err = slacksim.New(simOptions(cfg, log))
		if err != nil {
			fmt.Fprintf(stderr, "oncallbot: start the local workspace: %v\n", err)
			return 1
		}
		defer sim.Close()
		opts.SlackAPIURL, opts.AppToken, opts.BotToken = sim.APIURL(), slacksim.AppToken, slacksim.BotToken
	}

	started := time.Now()
	a, err := app.Start(ctx, opts)
	if err != nil {
		var unreachable *store.UnreachableError
		if errors.As(err, &unreachable) {
			fmt.Fprintf(stderr, "oncallbot: %v\n", err)
		} else {
			fmt.Fprintf(stderr, "oncallbot: start: %v\n", err)
		}
		return 1
	}
	shutdown := func() int {
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := a.Stop(sctx); err != nil {
			log.Error("shutdown", "err", err)
			return 1
		}
		return 0
	}

	if local {
		if err := a.WaitConnected(5 * time.Second); err != nil {
			fmt.Fprintf(stderr, "oncallbot: local workspace: %v\n", err)
			shutdown()
			return 1
		}
		log.Info("local workspace ready", "startup", time.Since(started), "http", a.HTTPAddr())
		if isTerminal(stdin) {
			fmt.Fprintf(stdout, "oncallbot local workspace — %s configuration, HTTP on %s. Type `help` for console commands.\n", cfg.Source, a.HTTPAddr())
		}
		err := console.Run(ctx, console.Options{
			Sim: sim, In: stdin, Out: stdout, User: firstPoolMember(cfg), Channel: cfg.Channels.Incidents, Hooks: a.Hooks,
		})
		code := shutdown()
		if err != nil && !errors.Is(err, context.Canceled) {
			fmt.Fprintf(stderr, "oncallbot: console: %v\n", err)
			return 1
		}
		return code
	}

	log.Info("oncallbot started", "startup", time.Since(started), "http", a.HTTPAddr(), "config", cfg.Source)
	select {
	case <-ctx.Done():
		log.Info("shutting down")
		return shutdown()
	case <-a.Done():
		code := shutdown()
		if a.Err() != nil {
			fmt.Fprintf(stderr, "oncallbot: %v\n", a.Err())
			return 1
		}
		return code
	}
}

// localHTTPAddr keeps the default HTTP address for the local workspace when
// it is free, else takes any free loopback port: trying the bot must not
// fail because something else already listens on :8080.
func localHTTPAddr(addr string, log *slog.Logger) string {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		_ = ln.Close()
		return addr
	}
	log.Warn("HTTP_ADDR default is taken; the local workspace listens on a free loopback port instead", "addr", addr)
	return "127.0.0.1:0"
}

func firstPoolMember(cfg *config.Config) string {
	if len(cfg.Rotation.Pool) > 0 {
		return cfg.Rotation.Pool[0]
	}
	return cfg.People[0].SlackID
}

func simOptions(cfg *config.Config, log *slog.Logger) slacksim.Options {
	o := slacksim.Options{Logger: log}
	for _, p := range cfg.People {
		handle := strings.ToLower(strings.ReplaceAll(p.Name, " ", "."))
		o.Users = append(o.Users, slacksim.User{ID: p.SlackID, Name: handle, RealName: p.Name, Email: p.Email, TZ: cfg.Timezone})
	}
	for name, id := range map[string]string{"incidents": cfg.Channels.Incidents, "engineering": cfg.Channels.Engineering, "monitoring": cfg.Channels.Monitoring} {
		if id != "" {
			o.Channels = append(o.Channels, slacksim.Channel{ID: id, Name: name})
		}
	}
	return o
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
