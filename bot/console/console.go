// Package console is the local workspace console (SPEC §12): it reads lines
// from a reader, acts in a simulated Slack workspace (bot/slacksim) as one of
// its people — slash commands, button clicks, modal input, reactions — and
// prints everything the bot posts, edits, opens or publishes as readable text.
//
// After each line the console waits until the bot is quiet (the envelope is
// acked and no workspace update arrived for Options.Quiet, at most 10s), so
// piped input such as `printf '/oncall\n' | oncallbot` prints the answer and
// exits at end of input.
package console

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/contextinject/oncallbot/bot/slacksim"
)

// Options configures Run.
type Options struct {
	Sim     *slacksim.Server
	In      io.Reader
	Out     io.Writer
	User    string // starting user, e.g. "U0ENGA"
	Channel string // starting channel ID or name, e.g. "C0INCIDENTS" or "#incidents"
	// Hooks are run by `run NAME`, e.g. "handoff-reminder".
	Hooks map[string]func(ctx context.Context) error
	// Quiet is how long without workspace updates counts as "the bot is done
	// answering", default 300ms; each command waits at most maxWait.
	Quiet time.Duration
}

// maxWait bounds how long one input line waits for the bot.
const maxWait = 10 * time.Second

// hookTimeout bounds a `run` hook.
const hookTimeout = 30 * time.Second

type buttonRef struct {
	channel, ts string // message buttons
	viewID      string // modal / home buttons
	actionID    string
	text        string
}

type console struct {
	o        Options
	sim      *slacksim.Server
	outMu    sync.Mutex
	activity chan struct{}

	mu       sync.Mutex
	user     string
	channel  string
	users    map[string]slacksim.User
	channels map[string]slacksim.Channel
	buttons  []buttonRef
	msgs     []buttonRef // [mN] → channel, ts
	msgNum   map[string]int
	values   map[string]map[string]string // view ID → "block_id.action_id" → value
	// homeFor is the user whose App Home was asked for with `home`: the bot
	// republishes every viewer's home on changes, which would flood the
	// console, so only an asked-for home is printed.
	homeFor string
}

// Run runs the console until end of input, `quit`, or ctx is done. It
// returns nil at end of input.
func Run(ctx context.Context, o Options) error {
	if o.Sim == nil || o.In == nil || o.Out == nil {
		return errors.New("console: Sim, In and Out are required")
	}
	if o.Quiet <= 0 {
		o.Quiet = 300 * time.Millisecond
	}
	c := &console{
		o: o, sim: o.Sim, activity: make(chan struct{}, 1),
		users: map[string]slacksim.User{}, channels: map[string]slacksim.Channel{},
		msgNum: map[string]int{}, values: map[string]map[string]string{},
	}
	for _, u := range o.Sim.Users() {
		c.users[u.ID] = u
	}
	for _, ch := range o.Sim.Channels() {
		c.channels[ch.ID] = ch
	}
	if _, ok := c.users[o.User]; !ok {
		return fmt.Errorf("console: unknown starting user %q", o.User)
	}
	c.user = o.User
	ch, ok := o.Sim.ResolveChannel(o.Channel)
	if !ok {
		return fmt.Errorf("console: unknown starting channel %q", o.Channel)
	}
	c.channel = ch

	updates, unsubscribe := o.Sim.Subscribe()
	var printer sync.WaitGroup
	printer.Go(func() {
		for u := range updates {
			c.print(c.renderUpdate(u))
			select {
			case c.activity <- struct{}{}:
			default:
			}
		}
	})
	defer func() {
		unsubscribe()
		printer.Wait()
	}()

	// The reader goroutine ends when In reaches end of input or fails; a
	// terminal read cannot be interrupted, so on ctx cancellation it is left
	// blocked until the process exits.
	lines := make(chan string)
	readErr := make(chan error, 1)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(o.In)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
		readErr <- sc.Err()
	}()

	interactive := isTerminal(o.In)
	c.printf("local workspace: you are %s in %s. Type help for commands.", c.userLabel(c.user), c.channelLabel(c.channel))
	for {
		if interactive {
			c.prompt()
		}
		var line string
		var more bool
		select {
		case <-ctx.Done():
			return ctx.Err()
		case line, more = <-lines:
		}
		if !more {
			c.waitQuiet(ctx, "")
			select {
			case err := <-readErr:
				if err != nil {
					return fmt.Errorf("console: read input: %w", err)
				}
			default:
			}
			return nil
		}
		envID, acted, quit := c.handle(ctx, strings.TrimSpace(line))
		if quit {
			c.waitQuiet(ctx, "")
			return nil
		}
		if acted {
			c.waitQuiet(ctx, envID)
		}
	}
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func (c *console) prompt() {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	_, _ = io.WriteString(c.o.Out, "> ")
}

func (c *console) print(text string) {
	if text == "" {
		return
	}
	c.outMu.Lock()
	defer c.outMu.Unlock()
	_, _ = io.WriteString(c.o.Out, strings.TrimRight(text, "\n")+"\n")
}

func (c *console) printf(format string, args ...any) { c.print(fmt.Sprintf(format, args...)) }

func (c *console) hint(format string, args ...any) { c.print("! " + fmt.Sprintf(format, args...)) }

// waitQuiet waits for the envelope's ack (when envID is set) and then until
// no update arrived for Quiet, at most maxWait overall.
func (c *console) waitQuiet(ctx context.Context, envID string) {
	deadline := time.Now().Add(maxWait)
	if envID != "" {
		if _, err := c.sim.WaitAck(envID, maxWait); err != nil {
			c.hint("the bot did not acknowledge within %s", maxWait)
			return
		}
	}
	for {
		quiet := c.o.Quiet
		if left := time.Until(deadline); left < quiet {
			quiet = left
		}
		if quiet <= 0 {
			return
		}
		t := time.NewTimer(quiet)
		select {
		case <-c.activity:
			t.Stop()
		case <-t.C:
			return
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

const helpText = `commands:
  /oncall …, /triage …, /incident …, /diag …   slash command as the current user in the current channel
  as @U0ENGB                                   act as another person (ID, @name or <@ID>)
  in #incidents                                change channel (name or ID)
  click N                                      press button [N]
  set FIELD VALUE                              fill an input of your open modal (block_id, block_id.action_id or label)
  submit / cancel                              submit or close your open modal
  react M EMOJI / unreact M EMOJI              add or remove a reaction on message [mM]
  home                                         open the bot's App Home
  run NAME                                     run a scheduled job now (%s)
  who                                          list people and channels
  help, quit`

// handle runs one input line. It returns the envelope to wait for, whether
// the line did something in the workspace worth waiting on, and whether to quit.
func (c *console) handle(ctx context.Context, line string) (envID string, acted, quit bool) {
	if line == "" {
		return "", false, false
	}
	c.mu.Lock()
	c.homeFor = ""
	c.mu.Unlock()
	if strings.HasPrefix(line, "/") {
		cmd, text, _ := strings.Cut(line, " ")
		c.mu.Lock()
		user, ch := c.user, c.channel
		c.mu.Unlock()
		id, err := c.sim.SlashCommand(user, ch, cmd, strings.TrimSpace(text))
		id = c.result(id, err)
		return id, id != "", false
	}
	verb, rest, _ := strings.Cut(line, " ")
	rest = strings.TrimSpace(rest)
	switch strings.ToLower(verb) {
	case "help", "?":
		c.printf(helpText, c.hookNames())
	case "quit", "exit":
		return "", false, true
	case "as":
		c.as(rest)
	case "in":
		c.in(rest)
	case "click":
		envID = c.click(rest)
	case "set":
		c.set(rest)
	case "submit":
		envID = c.submit()
	case "cancel":
		acted = c.cancel()
	case "react", "unreact":
		envID = c.react(rest, strings.EqualFold(verb, "react"))
	case "home":
		c.mu.Lock()
		c.homeFor = c.user
		c.mu.Unlock()
		id, err := c.sim.OpenHome(c.currentUser())
		envID = c.result(id, err)
	case "run":
		acted = c.run(ctx, rest)
	case "who":
		c.who()
	default:
		c.hint("unknown command %q; type help for the list", verb)
	}
	return envID, acted || envID != "", false
}

func (c *console) result(id string, err error) string {
	if err != nil {
		c.hint("%s", cleanErr(err))
		return ""
	}
	return id
}

func cleanErr(err error) string { return strings.TrimPrefix(err.Error(), "slacksim: ") }

func (c *console) currentUser() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.user
}

func (c *console) hookNames() string {
	if len(c.o.Hooks) == 0 {
		return "none configured"
	}
	names := make([]string, 0, len(c.o.Hooks))
	for n := range c.o.Hooks {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

func (c *console) findUser(arg string) (string, bool) {
	arg = strings.TrimSpace(arg)
	arg = strings.TrimSuffix(strings.TrimPrefix(arg, "<@"), ">")
	arg = strings.TrimPrefix(arg, "@")
	if _, ok := c.users[arg]; ok {
		return arg, true
	}
	for id, u := range c.users {
		if strings.EqualFold(u.Name, arg) || strings.EqualFold(u.RealName, arg) {
			return id, true
		}
	}
	return "", false
}

func (c *console) as(arg string) {
	if arg == "" {
		c.hint("usage: as @U0ENGB")
		return
	}
	id, ok := c.findUser(arg)
	if !ok {
		c.hint("no such person %q; type who for the list", arg)
		return
	}
	c.mu.Lock()
	c.user = id
	c.mu.Unlock()
	c.printf("you are now %s (%s)", c.userLabel(id), id)
}

func (c *console) in(arg string) {
	if arg == "" {
		c.hint("usage: in #incidents")
		return
	}
	ch, ok := c.sim.ResolveChannel(arg)
	if !ok {
		c.hint("no such channel %q; type who for the list", arg)
		return
	}
	c.mu.Lock()
	c.channel = ch
	c.mu.Unlock()
	c.printf("you are now in %s", c.channelLabel(ch))
}

func (c *console) who() {
	var b strings.Builder
	b.WriteString("people:")
	for _, u := range c.sim.Users() {
		fmt.Fprintf(&b, "\n  %s  @%s  %s", u.ID, u.Name, u.RealName)
	}
	b.WriteString("\nchannels:")
	for _, ch := range c.sim.Channels() {
		fmt.Fprintf(&b, "\n  %s  #%s", ch.ID, strings.TrimPrefix(ch.Name, "#"))
	}
	c.print(b.String())
}

func parseNumber(arg, prefix string) (int, bool) {
	arg = strings.TrimSpace(arg)
	arg = strings.TrimSuffix(strings.TrimPrefix(arg, "["), "]")
	arg = strings.TrimPrefix(strings.ToLower(arg), prefix)
	n, err := strconv.Atoi(arg)
	return n, err == nil && n > 0
}

func (c *console) click(arg string) string {
	n, ok := parseNumber(arg, "")
	if !ok {
		c.hint("usage: click N, where [N] is a button number shown above")
		return ""
	}
	c.mu.Lock()
	user := c.user
	var ref buttonRef
	if n <= len(c.buttons) {
		ref = c.buttons[n-1]
	}
	c.mu.Unlock()
	if ref.actionID == "" {
		c.hint("no button [%d] has been shown", n)
		return ""
	}
	if ref.viewID != "" {
		id, err := c.sim.ClickView(user, ref.viewID, ref.actionID)
		return c.result(id, err)
	}
	id, err := c.sim.Click(user, &slacksim.Message{Channel: ref.channel, TS: ref.ts}, ref.actionID)
	if err != nil {
		c.hint("button [%d] %q is gone: %s", n, ref.text, cleanErr(err))
		return ""
	}
	return id
}

// topModal is the current user's top open modal.
func (c *console) topModal() (*slacksim.View, bool) {
	views := c.sim.Views(c.currentUser())
	if len(views) == 0 {
		c.hint("you have no open modal")
		return nil, false
	}
	return views[len(views)-1], true
}

func (c *console) set(arg string) {
	v, ok := c.topModal()
	if !ok {
		return
	}
	if arg == "" {
		c.hint("usage: set FIELD VALUE (fields: %s)", fieldNames(v))
		return
	}
	lower := strings.ToLower(arg)
	var best slacksim.InputField
	bestLen := 0
	for _, f := range v.Inputs() {
		for _, name := range []string{f.BlockID, f.BlockID + "." + f.ActionID, f.Label, `"` + f.Label + `"`} {
			n := strings.ToLower(name)
			if n == "" || n == `""` || !strings.HasPrefix(lower, n) {
				continue
			}
			if len(lower) > len(n) && lower[len(n)] != ' ' {
				continue
			}
			if len(n) > bestLen {
				best, bestLen = f, len(n)
			}
		}
	}
	if bestLen == 0 {
		c.hint("no field %q in this modal (fields: %s)", strings.Fields(arg)[0], fieldNames(v))
		return
	}
	value := strings.TrimSpace(arg[bestLen:])
	if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
		value = value[1 : len(value)-1]
	}
	c.mu.Lock()
	if c.values[v.ID] == nil {
		c.values[v.ID] = map[string]string{}
	}
	c.values[v.ID][best.BlockID+"."+best.ActionID] = value
	c.mu.Unlock()
	c.printf("  %s = %q", fieldLabel(best), value)
}

func fieldLabel(f slacksim.InputField) string {
	if f.Label != "" {
		return fmt.Sprintf("%s (%s)", f.BlockID, f.Label)
	}
	return f.BlockID
}

func fieldNames(v *slacksim.View) string {
	var names []string
	for _, f := range v.Inputs() {
		names = append(names, f.BlockID)
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func (c *console) submit() string {
	v, ok := c.topModal()
	if !ok {
		return ""
	}
	// A view replaced in place (response_action update) keeps its ID but may
	// have other inputs: send only what the current view still has.
	current := map[string]bool{}
	for _, in := range v.Inputs() {
		current[in.BlockID+"."+in.ActionID] = true
	}
	c.mu.Lock()
	values := map[string]string{}
	for k, val := range c.values[v.ID] {
		if current[k] {
			values[k] = val
		}
	}
	c.mu.Unlock()
	id, err := c.sim.SubmitView(c.currentUser(), v.ID, values)
	return c.result(id, err)
}

func (c *console) cancel() bool {
	v, ok := c.topModal()
	if !ok {
		return false
	}
	if err := c.sim.CloseView(c.currentUser(), v.ID); err != nil {
		c.hint("%s", cleanErr(err))
		return false
	}
	return true
}

func (c *console) react(arg string, add bool) string {
	fields := strings.Fields(arg)
	verb := "react"
	if !add {
		verb = "unreact"
	}
	if len(fields) != 2 {
		c.hint("usage: %s M EMOJI, where [mM] is a message number shown above", verb)
		return ""
	}
	n, ok := parseNumber(fields[0], "m")
	if !ok {
		c.hint("usage: %s M EMOJI, where [mM] is a message number shown above", verb)
		return ""
	}
	c.mu.Lock()
	user := c.user
	var ref buttonRef
	if n <= len(c.msgs) {
		ref = c.msgs[n-1]
	}
	c.mu.Unlock()
	if ref.ts == "" {
		c.hint("no message [m%d] has been shown", n)
		return ""
	}
	id, err := c.sim.React(user, ref.channel, ref.ts, fields[1], add)
	return c.result(id, err)
}

func (c *console) run(ctx context.Context, name string) bool {
	hook, ok := c.o.Hooks[name]
	if name == "" || !ok {
		c.hint("usage: run NAME (available: %s)", c.hookNames())
		return false
	}
	hctx, cancel := context.WithTimeout(ctx, hookTimeout)
	defer cancel()
	if err := hook(hctx); err != nil {
		c.hint("%s failed: %v", name, err)
		return false
	}
	c.printf("ran %s", name)
	return true
}
