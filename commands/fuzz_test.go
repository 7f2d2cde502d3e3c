package commands

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

var userIDShape = regexp.MustCompile(`^[UW][A-Z0-9]{1,20}$`)

// FuzzParseMention checks mention parsing: it never panics, what it accepts
// is a Slack user ID, and the ID round-trips through every form Slack sends
// (<@U…>, <@U…|name>, @U…, U…).
func FuzzParseMention(f *testing.F) {
	for _, s := range []string{
		"<@U0ENGA>", "<@U0ENGA|engineer.a>", "@U0ENGB", "W123", " <@U1> ", "<@U1|>", "<@u1>", "<@U1|a>b>",
		"<@U" + strings.Repeat("9", 21) + ">", "<@U1|" + strings.Repeat("x", 81) + ">", "<#C0INCIDENTS>", "<@>", "@", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := ParseMention(s)
		if !ok {
			if id != "" {
				t.Fatalf("refused %q but returned %q", s, id)
			}
			return
		}
		if !userIDShape.MatchString(id) {
			t.Fatalf("%q parsed to %q, not a user ID", s, id)
		}
		for _, form := range []string{"<@" + id + ">", "<@" + id + "|someone>", "@" + id, id} {
			if got, ok := ParseMention(form); !ok || got != id {
				t.Fatalf("%q (from %q) parsed to %q, %v; want %q", form, s, got, ok, id)
			}
		}
	})
}

// FuzzFields checks the slash-text splitter: no field is empty, only a
// mention with a display name keeps inner white space, and splitting is
// stable (splitting the joined fields gives them back).
func FuzzFields(f *testing.F) {
	for _, s := range []string{
		"swap <@U0ENGA|Engineer A> 2026-12-01", "<@U1|a\tb   c> x", "<@x <@y z>", "<@", "a  b\n\tc", "<@U1|a", "", "\u00a0<@U1|\u2003b>",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fields := Fields(s)
		for _, fl := range fields {
			if fl == "" {
				t.Fatalf("empty field in %q", fields)
			}
			if strings.ContainsFunc(fl, unicode.IsSpace) && !strings.HasPrefix(fl, "<@") {
				t.Fatalf("field %q of %q holds white space", fl, s)
			}
		}
		if again := Fields(strings.Join(fields, " ")); !slices.Equal(again, fields) {
			t.Fatalf("Fields not stable: %q then %q", fields, again)
		}
	})
}
