package oncall

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/contextinject/oncallbot/commands"
	"github.com/contextinject/oncallbot/commands/config"
)

// FuzzScheduleCommand runs the `/oncall schedule [N]` handler over a roster
// without a database (the plain rotation): it never panics; a number from 1
// to 52 lists exactly that many shifts, anything else is a user-facing
// Invalid sentence, in valid UTF-8, that carries the usage.
func FuzzScheduleCommand(f *testing.F) {
	for _, s := range []string{"", "4", "1", "52", "53", "0", "-1", "+3", "007", "4 5", "four", "99999999999999999999",
		"  12\t", strings.Repeat("ü", 30), "0x10", "1_0"} {
		f.Add(s)
	}
	cfg := config.Default()
	log := slog.New(slog.DiscardHandler)
	now := time.Date(2026, 11, 4, 12, 0, 0, 0, time.UTC)
	m := New(commands.Deps{Config: cfg, Now: func() time.Time { return now }, Log: log}, NewRoster(cfg, nil, log))
	f.Fuzz(func(t *testing.T, text string) {
		res, err := m.schedule(context.Background(), commands.Slash{Command: "/oncall", UserID: "U0ENGA", Args: text})
		args := commands.Fields(text)
		want := 4
		valid := len(args) == 0
		if len(args) == 1 {
			if n, err := strconv.Atoi(args[0]); err == nil && n >= 1 && n <= maxSchedule {
				want, valid = n, true
			}
		}
		if !valid {
			var e *commands.Error
			if !errors.As(err, &e) || e.Code != commands.Invalid {
				t.Fatalf("%q: want an Invalid user-facing error, got %v", text, err)
			}
			if !strings.Contains(e.Message, usageSchedule) || strings.Contains(e.Message, "%!") {
				t.Fatalf("%q: bad sentence %q", text, e.Message)
			}
			if utf8.ValidString(text) && !utf8.ValidString(e.Message) {
				t.Fatalf("%q: sentence is not valid UTF-8: %q", text, e.Message)
			}
			return
		}
		if err != nil || res.Ephemeral == nil {
			t.Fatalf("%q: %v, %+v", text, err, res)
		}
		out := res.Ephemeral.Text
		if !strings.HasPrefix(out, fmt.Sprintf("*Next %d shifts*\n", want)) || strings.Count(out, "\n• ") != want {
			t.Fatalf("%q: want %d shifts, got %q", text, want, out)
		}
	})
}
