package triage

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/contextinject/oncallbot/commands"
	"github.com/contextinject/oncallbot/commands/config"
	"github.com/contextinject/oncallbot/commands/playbook"
)

// fuzzModule is the module with the built-in playbooks and no incidents
// module: /triage parses fully and then answers that incidents are
// unavailable, so the handler can be fuzzed without a database.
func fuzzModule(f *testing.F) (*Module, *config.Config) {
	f.Helper()
	cfg := config.Default()
	books, err := playbook.Load(nil, cfg.SeverityNames())
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2026, 11, 4, 12, 0, 0, 0, time.UTC)
	d := commands.Deps{Config: cfg, Now: func() time.Time { return now }, Log: slog.New(slog.DiscardHandler)}
	return New(d, books, &Diagnostics{Timeout: time.Second, Missing: map[string]string{}}), cfg
}

// userError fails unless err is a user-facing error of one of codes with a
// printable sentence.
func userError(t *testing.T, in string, err error, codes ...commands.Code) *commands.Error {
	t.Helper()
	var e *commands.Error
	if !errors.As(err, &e) || !slices.Contains(codes, e.Code) {
		t.Fatalf("%q: want a user-facing error of %v, got %v", in, codes, err)
	}
	if strings.TrimSpace(e.Message) == "" || strings.Contains(e.Message, "%!") || (utf8.ValidString(in) && !utf8.ValidString(e.Message)) {
		t.Fatalf("%q: bad sentence %q", in, e.Message)
	}
	return e
}

var triageSeeds = []string{
	"", "high-error-rate", "5xx P1 checkout is down", "disk p2", "cert P9 expiring", "latency P01", "queue    P3\tbacklog\nsince noon",
	"nope P1", "HIGH-ERROR-RATE", "disk " + strings.Repeat("n", maxNote+1), "disk P2 " + strings.Repeat("ñ", maxNote), "list", "help",
	"disk\u00a0P1", "tls P", "`x` <!channel>",
}

// FuzzParseTriage checks `/triage <alert> [P1-P4] [note]`: it never panics;
// an accepted line names a playbook, a configured severity and a trimmed
// note within the limit; a refusal is a user-facing Invalid or NotFound.
func FuzzParseTriage(f *testing.F) {
	for _, s := range triageSeeds {
		f.Add(s)
	}
	m, cfg := fuzzModule(f)
	f.Fuzz(func(t *testing.T, text string) {
		a, err := m.parseTriage(text)
		if err != nil {
			userError(t, text, err, commands.Invalid, commands.NotFound)
			return
		}
		alert, _ := cutWord(text)
		if pb, ok := m.books.Find(alert); !ok || pb.Name != a.Playbook.Name {
			t.Fatalf("%q: playbook %q, but %q finds %q", text, a.Playbook.Name, alert, pb.Name)
		}
		if _, ok := cfg.Severity(a.Severity); !ok {
			t.Fatalf("%q: severity %q is not configured", text, a.Severity)
		}
		if a.Note != strings.TrimSpace(a.Note) || utf8.RuneCountInString(a.Note) > maxNote {
			t.Fatalf("%q: note %q", text, a.Note)
		}
	})
}

// FuzzTriageCommand runs the /triage handler: whatever the text, the answer
// is a user-facing refusal or "incidents unavailable" — never a panic; and
// `/triage list` refuses any argument.
func FuzzTriageCommand(f *testing.F) {
	for _, s := range triageSeeds {
		f.Add(s)
	}
	m, _ := fuzzModule(f)
	f.Fuzz(func(t *testing.T, text string) {
		_, err := m.triage(context.Background(), commands.Slash{Command: "/triage", UserID: "U0ENGA", Args: text})
		e := userError(t, text, err, commands.Invalid, commands.NotFound, commands.Unavailable)
		if _, perr := m.parseTriage(text); (perr == nil) != (e.Code == commands.Unavailable) {
			t.Fatalf("%q: handler said %v, parser said %v", text, err, perr)
		}
		if text != "" {
			_, err := m.list(context.Background(), commands.Slash{Command: "/triage", UserID: "U0ENGA", Args: text})
			userError(t, text, err, commands.Invalid)
		}
	})
}

// FuzzDiagCommand runs /diag for a caller outside the configuration, which
// it answers before running any check: one known check name (any case) or
// `all` is Forbidden, anything else is Invalid with the usage.
func FuzzDiagCommand(f *testing.F) {
	for _, s := range []string{"", "all", "ALL", "health", "postgres redis", "postgres_sizes", "tls ", "x", strings.Repeat("Ä", 60), "İ"} {
		f.Add(s)
	}
	m, _ := fuzzModule(f)
	checks := allChecks()
	f.Fuzz(func(t *testing.T, text string) {
		_, err := m.diagCmd(context.Background(), commands.Slash{Command: "/diag", UserID: "U0OUTSIDER", Args: text})
		args := strings.Fields(strings.ToLower(text))
		if len(args) == 1 && (args[0] == "all" || slices.Contains(checks, args[0])) {
			userError(t, text, err, commands.Forbidden)
			return
		}
		if e := userError(t, text, err, commands.Invalid); !strings.Contains(e.Message, "Usage: "+usageDiag) {
			t.Fatalf("%q: no usage in %q", text, e.Message)
		}
	})
}
