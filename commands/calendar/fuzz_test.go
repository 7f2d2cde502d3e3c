package calendar

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/contextinject/oncallbot/commands"
	"github.com/contextinject/oncallbot/commands/config"
)

// FuzzCalendarCommand runs the `/oncall calendar [reset]` handler for a
// caller outside the configuration, which it answers before touching the
// database: nothing or `reset` is Forbidden, anything else is Invalid with
// the usage; never a panic, always a printable user-facing sentence.
func FuzzCalendarCommand(f *testing.F) {
	for _, s := range []string{"", "reset", "RESET", " reset\t", "reset now", "resett", "<@U0ENGA>", strings.Repeat("ß", 45), "\u00a0reset\u00a0"} {
		f.Add(s)
	}
	m := &Module{d: commands.Deps{Config: config.Default()}}
	f.Fuzz(func(t *testing.T, text string) {
		_, err := m.command(context.Background(), commands.Slash{Command: "/oncall", UserID: "U0OUTSIDER", Args: text})
		var e *commands.Error
		if !errors.As(err, &e) {
			t.Fatalf("%q: want a user-facing error, got %v", text, err)
		}
		args := commands.Fields(text)
		wellFormed := len(args) == 0 || (len(args) == 1 && strings.EqualFold(args[0], "reset"))
		switch {
		case wellFormed && e.Code != commands.Forbidden:
			t.Fatalf("%q: well-formed, want Forbidden, got %v", text, err)
		case !wellFormed && (e.Code != commands.Invalid || !strings.Contains(e.Message, "Usage: "+usage)):
			t.Fatalf("%q: malformed, want Invalid with the usage, got %v", text, err)
		}
		if strings.Contains(e.Message, "%!") || (utf8.ValidString(text) && !utf8.ValidString(e.Message)) {
			t.Fatalf("%q: bad sentence %q", text, e.Message)
		}
	})
}

// FuzzParseToken checks the feed token decoder behind /calendar/<token>.ics:
// it never panics, accepts only canonical tokens (a token re-encodes to
// itself), and a freshly issued token parses to its own selector and hash.
func FuzzParseToken(f *testing.F) {
	tok, wantSel, wantHash, err := newToken()
	if err != nil {
		f.Fatal(err)
	}
	if sel, hash, ok := parseToken(tok); !ok || sel != wantSel || string(hash) != string(wantHash) {
		f.Fatalf("issued token %q does not round-trip", tok)
	}
	for _, s := range []string{tok, tok[:len(tok)-1] + "A", strings.Repeat("A", tokenLen), strings.Repeat("_", tokenLen), strings.Repeat("=", tokenLen), "", "../../etc/passwd"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sel, hash, ok := parseToken(s)
		if !ok {
			return
		}
		raw, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || base64.RawURLEncoding.EncodeToString(raw) != s {
			t.Fatalf("accepted a non-canonical token %q", s)
		}
		if len(hash) == 0 || len(sel) != 2*selectorBytes {
			t.Fatalf("%q: selector %q, hash %x", s, sel, hash)
		}
	})
}
