package handoff

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/contextinject/oncallbot/commands"
	"github.com/contextinject/oncallbot/commands/config"
	"github.com/contextinject/oncallbot/commands/oncall"
)

// FuzzEmergencyCommand runs the `/oncall emergency <reason>` and
// `/oncall handoff` handlers for an admin before the rotation starts (so a
// well-formed request stops at "nobody is on call" without writing): no
// panic; an empty or over-long reason is Invalid with the usage, any other
// reason gets through to the handoff itself; `/oncall handoff` refuses every
// argument. Every answer is a printable user-facing sentence.
func FuzzEmergencyCommand(f *testing.F) {
	for _, s := range []string{"", "sick", "  flu,\tgoing home  ", "\u00a0\u2003", strings.Repeat("x", maxReason), strings.Repeat("é", maxReason+1),
		"<@U0ENGB> please take over", "`code` *bold* <!channel>", "\x00"} {
		f.Add(s)
	}
	cfg := config.Default()
	log := slog.New(slog.DiscardHandler)
	before := cfg.Rotation.Start.Add(-time.Hour)
	m, err := New(commands.Deps{Config: cfg, Now: func() time.Time { return before }, Log: log},
		Options{Roster: oncall.NewRoster(cfg, nil, log)})
	if err != nil {
		f.Fatal(err)
	}
	const admin = "U0LEAD"
	f.Fuzz(func(t *testing.T, text string) {
		ctx := context.Background()
		_, err := m.slashEmergency(ctx, commands.Slash{Command: "/oncall", UserID: admin, Args: text})
		reason := strings.Join(strings.Fields(text), " ")
		want := commands.Conflict
		if reason == "" || utf8.RuneCountInString(reason) > maxReason {
			want = commands.Invalid
		}
		msg := wantCode(t, text, err, want)
		if want == commands.Invalid && !strings.Contains(msg, "Usage: "+usageEmergency) {
			t.Fatalf("%q: no usage in %q", text, msg)
		}
		if text == "" {
			return // opens the handoff form from the database
		}
		_, err = m.slashHandoff(ctx, commands.Slash{Command: "/oncall", UserID: admin, Args: text})
		wantCode(t, text, err, commands.Invalid)
	})
}

// wantCode fails unless err is a user-facing error of code with a printable
// sentence, and returns the sentence.
func wantCode(t *testing.T, in string, err error, code commands.Code) string {
	t.Helper()
	var e *commands.Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("%q: want a user-facing %s error, got %v", in, code, err)
	}
	if strings.TrimSpace(e.Message) == "" || strings.Contains(e.Message, "%!") || (utf8.ValidString(in) && !utf8.ValidString(e.Message)) {
		t.Fatalf("%q: bad sentence %q", in, e.Message)
	}
	return e.Message
}
