package commands

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestParseMention(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in string
		id string
		ok bool
	}{
		{"<@U0ENGA>", "U0ENGA", true},
		{"<@U0ENGA|engineer.a>", "U0ENGA", true},
		{"<@W0ENT|Jane Doe>", "W0ENT", true},
		{"  <@U0ENGA>  ", "U0ENGA", true},
		{"U0ENGA", "U0ENGA", true},
		{"@U0ENGA", "U0ENGA", true},
		{"@engineer.a", "", false},
		{"<@u0enga>", "", false},
		{"<#C0INCIDENTS|incidents>", "", false},
		{"<!here>", "", false},
		{"<@U0ENGA", "", false},
		{"", "", false},
		{"<@U0ENGA|" + strings.Repeat("x", 200) + ">", "", false},
	}
	for _, c := range cases {
		id, ok := ParseMention(c.in)
		require.Equal(t, c.ok, ok, c.in)
		require.Equal(t, c.id, id, c.in)
	}
}

func TestFieldsKeepsMentionsWithSpaces(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{"swap", "<@U1|Jane Doe>", "2026-12-01"}, Fields(" swap <@U1|Jane Doe>  2026-12-01 "))
	require.Empty(t, Fields("   "))
}

func TestRegistryLookupSlash(t *testing.T) {
	t.Parallel()
	r := NewRegistry()
	noop := func(context.Context, Slash) (Response, error) { return Response{}, nil }
	r.Slash("/oncall", "", "who", noop)
	r.Slash("/oncall", "swap", "swap", noop)
	r.Slash("/incident", "list", "list", noop)
	cases := []struct {
		cmd, text, sub, args string
		ok                   bool
	}{
		{"/oncall", "", "", "", true},
		{"/oncall", "  SWAP  <@U1>  2026-12-01", "swap", "<@U1>  2026-12-01", true},
		{"/oncall", "who", "", "who", true},
		{"/oncall", "schedulex 3", "", "schedulex 3", true},
		{"/incident", "P1 db down", "", "", false},
		{"/incident", "list", "list", "", true},
		{"/nope", "", "", "", false},
	}
	for _, c := range cases {
		_, req, ok := r.LookupSlash(c.cmd, c.text)
		require.Equal(t, c.ok, ok, c.cmd+" "+c.text)
		if ok {
			require.Equal(t, c.sub, req.Sub)
			require.Equal(t, c.args, req.Args)
		}
	}
	require.Panics(t, func() { r.Slash("/oncall", "swap", "", noop) })
}

func TestRegistryActionsByIDAndPrefix(t *testing.T) {
	t.Parallel()
	r := NewRegistry()
	hit := ""
	r.Action("incident.ack", func(context.Context, Action) (Response, error) { hit = "exact"; return Response{}, nil })
	r.Action("triage.done.*", func(context.Context, Action) (Response, error) { hit = "prefix"; return Response{}, nil })
	f, ok := r.LookupAction("incident.ack")
	require.True(t, ok)
	_, _ = f(context.Background(), Action{})
	require.Equal(t, "exact", hit)
	f, ok = r.LookupAction("triage.done.3")
	require.True(t, ok)
	_, _ = f(context.Background(), Action{})
	require.Equal(t, "prefix", hit)
	_, ok = r.LookupAction("incident.acknowledge")
	require.False(t, ok)
}

func TestUserMessageOnlyForUserErrors(t *testing.T) {
	t.Parallel()
	msg, ok := UserMessage(Errorf(Invalid, "No shift of yours on %s.", "2026-12-01"))
	require.True(t, ok)
	require.Equal(t, "No shift of yours on 2026-12-01.", msg)
	_, ok = UserMessage(context.DeadlineExceeded)
	require.False(t, ok)
}

// FuzzSlashText feeds arbitrary slash text through the parsing every
// command shares; none of it may panic, and a parsed mention is an ID.
func FuzzSlashText(f *testing.F) {
	for _, s := range []string{"", "swap <@U0ENGA> 2026-12-01", "<@U1|a b c>", "schedule 99999999999999999999", "\x00<@", "ack INC-12", "  \t\n"} {
		f.Add(s)
	}
	r := NewRegistry()
	noop := func(context.Context, Slash) (Response, error) { return Response{}, nil }
	r.Slash("/oncall", "", "", noop)
	r.Slash("/oncall", "swap", "", noop)
	f.Fuzz(func(t *testing.T, s string) {
		_, req, ok := r.LookupSlash("/oncall", s)
		if !ok {
			t.Fatalf("the default handler must take %q", s)
		}
		for _, field := range Fields(req.Args) {
			if id, ok := ParseMention(field); ok {
				if id == "" || !utf8.ValidString(id) || strings.ContainsAny(id, "<>|@ ") {
					t.Fatalf("bad id %q from %q", id, field)
				}
			}
		}
	})
}
