package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/contextinject/oncallbot/commands/pdcode"
	"github.com/contextinject/oncallbot/integrations/pagerduty"
	"github.com/contextinject/oncallbot/store"
)

// Exit statuses of `oncallbot pagerduty diff|apply`.
const (
	pdEqual  = 0 // diff: PagerDuty matches; apply: PagerDuty matches now
	pdDiffer = 1 // diff: PagerDuty differs
	pdError  = 2 // bad usage, configuration or PagerDuty answer; apply: not everything was changed
)

const pagerdutyUsage = `usage:
  oncallbot pagerduty diff    print how PagerDuty differs from the configuration (exit 0 equal, 1 different, 2 error)
  oncallbot pagerduty apply   show the differences and make PagerDuty match, changing nothing else
`

// pagerdutyTimeout bounds a whole diff or apply, retries included.
const pagerdutyTimeout = 3 * time.Minute

// pagerdutyCmd runs `oncallbot pagerduty diff|apply`.
func pagerdutyCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) != 1 || (args[0] != "diff" && args[0] != "apply") {
		fmt.Fprint(stderr, pagerdutyUsage)
		return pdError
	}
	verb := args[0]
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "oncallbot pagerduty %s: %s\n", verb, fmt.Sprintf(format, a...))
		return pdError
	}
	token := strings.TrimSpace(getenv("PAGERDUTY_TOKEN"))
	if token == "" {
		return fail("PAGERDUTY_TOKEN is not set: PagerDuty as code needs a PagerDuty REST API token (a read-only key is enough for diff). Nothing was read or changed.")
	}
	cfg, ok := loadConfig(getenv, stderr)
	if !ok {
		return pdError
	}
	client := pagerduty.New(pagerduty.Options{Token: token, BaseURL: env(getenv, "PAGERDUTY_API_URL", pagerduty.DefaultAPIURL)})
	ctx, cancel := context.WithTimeout(ctx, pagerdutyTimeout)
	defer cancel()

	now := time.Now()
	rep, err := pdcode.Check(ctx, cfg, client, now)
	if err != nil {
		return fail("%v\nNothing was changed in PagerDuty.", err)
	}
	fmt.Fprintln(stdout, rep.Text())
	if verb == "diff" {
		if rep.Equal() {
			return pdEqual
		}
		return pdDiffer
	}
	if rep.Equal() {
		fmt.Fprintln(stdout, "Nothing to change.")
		return pdEqual
	}
	res := pdcode.Apply(ctx, client, rep)
	fmt.Fprintln(stdout, res.Text())
	auditApply(ctx, getenv, stderr, rep, res, now)
	if res.Failed != "" {
		return pdError
	}
	return pdEqual
}

// auditApply records the apply in the bot's audit log when its database is
// reachable; PagerDuty was changed either way, so a missing database is a
// warning, not a failure.
func auditApply(ctx context.Context, getenv func(string) string, stderr io.Writer, rep pdcode.Report, res pdcode.Result, now time.Time) {
	if len(res.Changed) == 0 {
		return
	}
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	db, err := store.Open(actx, env(getenv, "DATABASE_URL", defaultDatabaseURL), slog.New(slog.DiscardHandler))
	if err == nil {
		defer db.Close()
		if err = db.Migrate(actx); err == nil {
			err = store.Audit(actx, db.Pool, store.AuditEntry{At: now, Actor: "cli", Action: "pagerduty.apply", Subject: "pagerduty",
				Details: map[string]any{"changed": res.Changed, "failed": res.Failed, "not_attempted": res.NotAttempted, "differences": rep.Count()}})
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "oncallbot pagerduty apply: warning: PagerDuty was changed but the audit log could not be written: %v\n", err)
	}
}
