package swap

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/contextinject/oncallbot/commands"
	"github.com/contextinject/oncallbot/commands/config"
)

// fuzzCaller is not in the configuration: the commands answer it before
// they touch the database.
const fuzzCaller = "U0OUTSIDER"

// userFacing fails unless err is a user-facing error of one of codes whose
// sentence is printable (valid UTF-8 when the input was, no fmt mistakes).
func userFacing(t *testing.T, in string, err error, codes ...commands.Code) string {
	t.Helper()
	msg, ok := commands.UserMessage(err)
	if !ok {
		t.Fatalf("%q: error %v is not user-facing", in, err)
	}
	var e *commands.Error
	errors.As(err, &e)
	if !containsCode(codes, e.Code) {
		t.Fatalf("%q: code %s, want one of %v (%s)", in, e.Code, codes, msg)
	}
	if strings.TrimSpace(msg) == "" || strings.Contains(msg, "%!") {
		t.Fatalf("%q: bad sentence %q", in, msg)
	}
	if utf8.ValidString(in) && !utf8.ValidString(msg) {
		t.Fatalf("%q: sentence is not valid UTF-8: %q", in, msg)
	}
	return msg
}

func containsCode(codes []commands.Code, c commands.Code) bool {
	for _, x := range codes {
		if x == c {
			return true
		}
	}
	return false
}

var swapSeeds = []string{
	"<@U0ENGB>", "<@U0ENGB> 2026-12-01", "<@U0ENGA|Engineer A> <@U0ENGB|Engineer B> 2026-11-30",
	"@U0ENGB 2026-02-30", "<@U0ENGB> 2026-13-01", "<@U0ENGB> 26-12-01", "<@U0ENGB> 2026-12-01 2026-12-08",
	"2026-12-01 <@U0ENGB>", "<@U0ENGB> 2026-12-01 <@U0ENGA>", "<@U1> <@U2> <@U3>", "bob", "<@U0ENGB> tomorrow",
	"<@U0ENGB> ２０２６-１２-０１", "<@U0ENGB> 9999-12-31", "<@U0ENGB> 0000-01-01", "undo", "undo #3", "undo 3 4", "undo x",
	"<@U0ENGB|" + strings.Repeat("é", 30) + ">", strings.Repeat("é", 41), "",
}

// FuzzParseSwap checks the syntax of `/oncall swap`: it never panics,
// refusals are user-facing Invalid sentences with the usage, at most two
// people are named, and a date round-trips: the parsed day formats back to
// the text given and is a day of the configured timezone.
func FuzzParseSwap(f *testing.F) {
	for _, s := range swapSeeds {
		f.Add(s)
	}
	cfg := config.Default()
	m := &Module{d: commands.Deps{Config: cfg}}
	f.Fuzz(func(t *testing.T, text string) {
		args := commands.Fields(text)
		r, err := m.parseSwap(args)
		if err != nil {
			msg := userFacing(t, text, err, commands.Invalid)
			if !strings.Contains(msg, "Usage: `"+usageSwap+"`") {
				t.Fatalf("%q: no usage in %q", text, msg)
			}
			return
		}
		if len(r.people) < 1 || len(r.people) > 2 {
			t.Fatalf("%q: %d people", text, len(r.people))
		}
		for i, id := range r.people {
			if want, ok := commands.ParseMention(args[i]); !ok || want != id {
				t.Fatalf("%q: person %d is %q, field says %q", text, i, id, args[i])
			}
		}
		if r.day.IsZero() {
			if len(args) != len(r.people) {
				t.Fatalf("%q: %d fields but %d people and no date", text, len(args), len(r.people))
			}
			return
		}
		last := args[len(args)-1]
		if got := r.day.Format("2006-01-02"); got != last {
			t.Fatalf("%q: date %q parsed to %s", text, last, got)
		}
		if r.day.Location() != cfg.Location {
			t.Fatalf("%q: day in %v, want %v", text, r.day.Location(), cfg.Location)
		}
		if again, err := time.ParseInLocation("2006-01-02", r.day.Format("2006-01-02"), cfg.Location); err != nil || !again.Equal(r.day) {
			t.Fatalf("%q: %v does not round-trip: %v, %v", text, r.day, again, err)
		}
	})
}

// FuzzSwapCommand runs the `/oncall swap` handler itself for a caller
// outside the configuration: whatever follows, the answer is a user-facing
// refusal (a malformed undo, or Forbidden), never a panic or an internal
// error. The two undo forms that read the database are left out.
func FuzzSwapCommand(f *testing.F) {
	for _, s := range swapSeeds {
		f.Add(s)
	}
	m := &Module{d: commands.Deps{Config: config.Default()}}
	f.Fuzz(func(t *testing.T, text string) {
		args := commands.Fields(text)
		if len(args) > 0 && strings.EqualFold(args[0], "undo") {
			if len(args) == 1 {
				t.Skip("lists the caller's swaps from the database")
			}
			if id, err := strconv.ParseInt(strings.TrimPrefix(args[1], "#"), 10, 64); len(args) == 2 && err == nil && id > 0 {
				t.Skip("reads swap #N from the database")
			}
		}
		res, err := m.swapCmd(context.Background(), commands.Slash{Command: "/oncall", UserID: fuzzCaller, Args: text})
		if err == nil {
			t.Fatalf("%q: answered %+v for a caller outside the configuration", text, res)
		}
		userFacing(t, text, err, commands.Invalid, commands.Forbidden)
	})
}

// FuzzStatsCommand runs the `/oncall stats [@eng]` handler: anything but a
// mention of a configured person is refused with a user-facing sentence
// (that case reads the database and is left out).
func FuzzStatsCommand(f *testing.F) {
	for _, s := range []string{"", "<@U0ENGA>", "<@U0NOBODY>", "@U0ENGB extra", "bob", "<@U1|" + strings.Repeat("ü", 50) + ">", "<@U0ENGA|a b>"} {
		f.Add(s)
	}
	cfg := config.Default()
	m := &Module{d: commands.Deps{Config: cfg}}
	f.Fuzz(func(t *testing.T, text string) {
		args := commands.Fields(text)
		if len(args) == 1 {
			if id, ok := commands.ParseMention(args[0]); ok && cfg.Known(id) {
				t.Skip("reads the stats from the database")
			}
		}
		res, err := m.statsCmd(context.Background(), commands.Slash{Command: "/oncall", UserID: fuzzCaller, Args: text})
		if err == nil {
			t.Fatalf("%q: answered %+v", text, res)
		}
		msg := userFacing(t, text, err, commands.Invalid, commands.Forbidden)
		if !strings.Contains(msg, usageStats) {
			t.Fatalf("%q: no usage in %q", text, msg)
		}
	})
}

// FuzzParseID checks the swap number read from a button value: never a
// panic, only positive numbers, and a number round-trips.
func FuzzParseID(f *testing.F) {
	for _, s := range []string{"1", "#12", " 7 ", "0", "-3", "9223372036854775808", "x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		id, err := parseID(v)
		if err != nil {
			userFacing(t, v, err, commands.Invalid)
			return
		}
		if id <= 0 {
			t.Fatalf("%q: id %d", v, id)
		}
		if again, err := parseID(strconv.FormatInt(id, 10)); err != nil || again != id {
			t.Fatalf("%d does not round-trip: %d, %v", id, again, err)
		}
	})
}
