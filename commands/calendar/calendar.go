// Package calendar puts the on-call schedule where people already look:
// iCalendar feeds of their own shifts and of the whole team (SPEC §6
// `/oncall calendar`, §11 `GET /calendar/<token>.ics`), a DM when a change
// moves one of their future shifts, and a weekly look-ahead in
// #engineering that is edited in place when the week's shifts change.
//
// Everything is computed from the rotation and the overrides stored in
// PostgreSQL (swaps, undos, emergency handoffs, PagerDuty), so the feature
// follows changes made by any other feature without being called by it: a
// periodic Check diffs each person's future shifts against a stored
// snapshot. Features that want the DMs out sooner may call RequestCheck
// after committing a change.
package calendar

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/contextinject/oncallbot/commands"
	"github.com/contextinject/oncallbot/commands/rotation"
	"github.com/contextinject/oncallbot/store"
)

// Usage of the command this package answers.
const usage = "/oncall calendar [reset] — your calendar feed URLs (reset: revoke yours and issue new ones)"

// Defaults of Options.
const (
	DefaultCheckInterval  = time.Minute
	DefaultLookAheadGrace = 12 * time.Hour
	// lookAheadShifts is how many shifts the weekly look-ahead lists.
	lookAheadShifts = 4
	// staleClaim is how long a notice claimed by a sender that never
	// finished (a crash) waits before another sender may take it.
	staleClaim = 2 * time.Minute
	// maxAttempts bounds the delivery attempts of one notice.
	maxAttempts = 5
)

// Options configure the module.
type Options struct {
	// BaseURL returns the public base URL of the HTTP server without a
	// trailing slash (config.PublicURL of HTTP_ADDR). It is called for each
	// answer because the listener's port is known only once it listens.
	BaseURL func() string
	// CheckInterval is how often Check runs (DefaultCheckInterval).
	CheckInterval time.Duration
	// LookAheadGrace is how late a missed look-ahead is still posted after
	// its reminder slot, when the bot was down at the slot
	// (DefaultLookAheadGrace).
	LookAheadGrace time.Duration
}

// schedule is the part of a cron schedule the look-ahead needs.
type schedule interface {
	Next(time.Time) time.Time
}

// Module serves the calendar feeds, answers /oncall calendar, tells people
// when their shifts move and keeps the weekly look-ahead.
type Module struct {
	d     commands.Deps
	o     Options
	rot   rotation.Rotation
	sched schedule
}

// New returns the module. The look-ahead runs on the configuration's
// handoff.reminder schedule.
func New(d commands.Deps, o Options) (*Module, error) {
	if d.Config == nil || d.DB == nil || d.Slack == nil || d.Now == nil || d.Log == nil {
		return nil, errors.New("calendar: config, database, Slack, clock and logger are required")
	}
	if o.BaseURL == nil {
		return nil, errors.New("calendar: BaseURL is required")
	}
	if o.CheckInterval <= 0 {
		o.CheckInterval = DefaultCheckInterval
	}
	if o.LookAheadGrace <= 0 {
		o.LookAheadGrace = DefaultLookAheadGrace
	}
	m := &Module{d: d, o: o, rot: d.Config.RotationSchedule()}
	if s := d.Config.ReminderSchedule(); s != nil {
		m.sched = s
	}
	return m, nil
}

// Register adds `/oncall calendar` to r.
func (m *Module) Register(r *commands.Registry) {
	r.Slash("/oncall", "calendar", usage, m.command)
}

// CheckArgs is the River job running Check.
type CheckArgs struct{}

// Kind implements river.JobArgs.
func (CheckArgs) Kind() string { return "calendar_check" }

// LookAheadArgs is the River job running LookAhead at each handoff reminder.
type LookAheadArgs struct{}

// Kind implements river.JobArgs.
func (LookAheadArgs) Kind() string { return "calendar_lookahead" }

type checkWorker struct {
	river.WorkerDefaults[CheckArgs]
	m *Module
}

func (w *checkWorker) Work(ctx context.Context, _ *river.Job[CheckArgs]) error { return w.m.Check(ctx) }

type lookAheadWorker struct {
	river.WorkerDefaults[LookAheadArgs]
	m *Module
}

func (w *lookAheadWorker) Work(ctx context.Context, _ *river.Job[LookAheadArgs]) error {
	return w.m.LookAhead(ctx)
}

// RegisterJobs adds the workers and their periodic schedules: Check every
// CheckInterval, LookAhead at every handoff.reminder (both also at start, so
// a look-ahead missed while the bot was down goes out within the grace).
func (m *Module) RegisterJobs(workers *river.Workers, jobs *river.Client[pgx.Tx]) error {
	if err := river.AddWorkerSafely(workers, &checkWorker{m: m}); err != nil {
		return fmt.Errorf("add calendar check worker: %w", err)
	}
	if err := river.AddWorkerSafely(workers, &lookAheadWorker{m: m}); err != nil {
		return fmt.Errorf("add calendar look-ahead worker: %w", err)
	}
	jobs.PeriodicJobs().Add(river.NewPeriodicJob(river.PeriodicInterval(m.o.CheckInterval),
		func() (river.JobArgs, *river.InsertOpts) { return CheckArgs{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true, ID: "calendar_check"}))
	if m.sched != nil {
		jobs.PeriodicJobs().Add(river.NewPeriodicJob(m.sched,
			func() (river.JobArgs, *river.InsertOpts) { return LookAheadArgs{}, nil },
			&river.PeriodicJobOpts{RunOnStart: true, ID: "calendar_lookahead"}))
	}
	return nil
}

// RequestCheck asks for a Check soon (after a swap or a handoff committed).
func (m *Module) RequestCheck(ctx context.Context) error {
	if m.d.Jobs == nil {
		return m.Check(ctx)
	}
	if _, err := m.d.Jobs.Insert(ctx, CheckArgs{}, nil); err != nil {
		return fmt.Errorf("enqueue calendar check: %w", err)
	}
	return nil
}

// command answers `/oncall calendar [reset]`.
func (m *Module) command(ctx context.Context, req commands.Slash) (commands.Response, error) {
	args := commands.Fields(req.Args)
	reset := false
	switch {
	case len(args) == 0:
	case len(args) == 1 && strings.EqualFold(args[0], "reset"):
		reset = true
	default:
		return commands.Response{}, commands.Errorf(commands.Invalid,
			"`/oncall calendar` takes nothing or `reset`, not `%s`.\nUsage: %s", clip(req.Args, 40), usage)
	}
	if !m.d.Config.Known(req.UserID) {
		return commands.Response{}, commands.Errorf(commands.Forbidden,
			"Calendar feeds are for the people of the on-call configuration; ask an admin to add you.")
	}
	now := m.d.Now()
	var tok issued
	err := m.d.DB.InTx(ctx, func(tx pgx.Tx) error {
		var err error
		tok, err = issue(ctx, tx, req.UserID, reset, now)
		return err
	})
	if errors.Is(err, errTooMany) {
		return commands.Response{}, commands.Errorf(commands.Conflict,
			"You already have %d calendar links. Run `/oncall calendar reset` to revoke them all and get new ones.", maxActive)
	}
	if err != nil {
		return commands.Response{}, fmt.Errorf("issue calendar tokens for %s: %w", req.UserID, err)
	}
	return commands.Response{Ephemeral: &commands.Message{Text: m.answer(tok, reset)}}, nil
}

// FeedURL returns the URL of a feed token.
func (m *Module) FeedURL(token string) string {
	return strings.TrimRight(m.o.BaseURL(), "/") + "/calendar/" + token + ".ics"
}

func (m *Module) answer(tok issued, reset bool) string {
	var b strings.Builder
	if reset {
		b.WriteString("Done: every calendar link you had is revoked. Your new ones:\n")
	} else {
		b.WriteString("*Your on-call calendar*\n")
	}
	if h := m.d.Config.Handoff.HeadsUp.D(); h > 0 {
		fmt.Fprintf(&b, "• Your shifts (with a reminder %s before each): %s\n", humanDuration(h), m.FeedURL(tok.Personal))
	} else {
		fmt.Fprintf(&b, "• Your shifts: %s\n", m.FeedURL(tok.Personal))
	}
	fmt.Fprintf(&b, "• The whole team's rota: %s\n", m.FeedURL(tok.Team))
	b.WriteString("Keep them private: anyone with a link can read the schedule. ")
	if !reset {
		b.WriteString("Links you got before keep working; ")
	}
	b.WriteString("`/oncall calendar reset` revokes all of yours and issues new ones.\n")
	b.WriteString("*Subscribe* (the calendar then follows swaps and handoffs by itself):\n")
	b.WriteString("• Google Calendar: Settings → Add calendar → From URL, paste the link, Add calendar (Google refreshes every few hours).\n")
	b.WriteString("• Outlook: Add calendar → Subscribe from web, paste the link, Import.\n")
	b.WriteString("• Apple Calendar: File → New Calendar Subscription…, paste the link, set Auto-refresh to every hour (iPhone: Settings → Calendar → Accounts → Add Account → Other → Add Subscribed Calendar).")
	return b.String()
}

// host is the domain of event UIDs: the public URL's host name.
func (m *Module) host() string {
	u, err := url.Parse(m.o.BaseURL())
	if err != nil || u.Hostname() == "" {
		return "oncallbot"
	}
	return u.Hostname()
}

func (m *Module) feed(name string) Feed {
	cfg := m.d.Config
	return Feed{
		Name: name, Timezone: cfg.Timezone, Location: cfg.Location, Host: m.host(),
		HeadsUp: cfg.Handoff.HeadsUp.D(), NameOf: cfg.Name, Since: m.rot.Start,
	}
}

// Render returns the iCalendar text of a feed at now: user's own shifts
// (Personal) or every shift (Team), over the horizon around now.
func (m *Module) Render(ctx context.Context, kind Kind, user string, now time.Time) (string, error) {
	from, to := Window(now)
	rows, err := store.ListOverrides(ctx, m.d.DB.Pool, from, to)
	if err != nil {
		return "", fmt.Errorf("render %s feed: %w", kind, err)
	}
	ovs := FromStore(rows)
	switch kind {
	case Personal:
		f := m.feed("On call: " + m.d.Config.Name(user))
		return f.Personal(user, RunsOf(Runs(m.rot, from, to, ovs), user), ovs), nil
	case Team:
		name := "On call: team"
		if n := m.d.Config.Escalation.Name; n != "" {
			name = "On call: " + n
		}
		return m.feed(name).Team(m.rot.Segments(from, to, plain(ovs)), ovs), nil
	}
	return "", fmt.Errorf("render feed: unknown kind %q", kind)
}

// clip shortens s to n runes for quoting user input back.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
