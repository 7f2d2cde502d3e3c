package templates

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/commands/config"
)

// The runbook's three templates (runbook §6), verbatim.
var runbook = map[string]string{
	"proactive": `Subject: [ContextInject] Investigating Increased Latency

We are aware of increased API response times affecting some requests.
Our team is investigating and will provide an update within 30 minutes.

Current impact: Query API response times are approximately 2x normal.
Document uploads and processing are unaffected.

Status: https://status.contextinject.ai`,
	"during-incident": `Subject: Re: [Support] API returning errors

Hi [Name],

Thank you for reporting this. We are aware of the issue and our team is
actively working on a resolution.

What we know:
- [Brief description of the issue]
- Estimated time to resolution: [estimate]

We will notify you when the issue is resolved. You can also follow real-time
updates at https://status.contextinject.ai.

Apologies for the disruption.
Best,
[Name]`,
	"post-incident": `Subject: [ContextInject] Incident Resolved — Summary

Hi [Name],

The issue affecting [description] has been resolved as of [time UTC].

Summary:
- Duration: [start] to [end] ([total duration])
- Impact: [what was affected]
- Root cause: [brief, non-technical explanation]
- Resolution: [what was done]

Preventive measures:
- [Action 1]
- [Action 2]

We apologize for the disruption. If you experienced any data issues during
this period, please contact us at support@contextinject.ai.

Best,
[Name]`,
}

func TestBuiltinsAreTheRunbooksText(t *testing.T) {
	t.Parallel()
	b := Builtins()
	require.Len(t, b, 3)
	for _, tpl := range b {
		got, missing := tpl.Render(tpl.Examples())
		require.Empty(t, missing, tpl.Name)
		require.Equal(t, runbook[tpl.Name], got, tpl.Name)
	}
	require.Equal(t, []string{"proactive", "during-incident", "post-incident"}, []string{b[0].Name, b[1].Name, b[2].Name})
}

func TestKeys(t *testing.T) {
	t.Parallel()
	cases := []struct {
		text string
		keys []string
		err  string
	}{
		{"Hi {{name}}, {{ issue }} and {{name}} again", []string{"name", "issue"}, ""},
		{"literal [brackets] and no placeholders", nil, ""},
		{"{{Two words}}", nil, "placeholder {{Two words}}"},
		{"{{}}", nil, "placeholder {{}}"},
		{"unclosed {{name", nil, "unbalanced"},
		{"stray }} here", nil, "unbalanced"},
		{strings.Repeat("{{a}}", 2) + manyKeys(MaxFields+1), nil, "placeholders; at most"},
	}
	for _, tc := range cases {
		keys, err := Keys(tc.text)
		if tc.err != "" {
			require.ErrorContains(t, err, tc.err, tc.text)
			continue
		}
		require.NoError(t, err, tc.text)
		require.Equal(t, tc.keys, keys, tc.text)
	}
}

func manyKeys(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString("{{k" + strings.Repeat("x", i%30) + string(rune('a'+i%26)) + "}} ")
	}
	return b.String()
}

func TestRenderRefusesAHole(t *testing.T) {
	t.Parallel()
	post := Builtins()[2]
	values := post.Examples()
	values["root_cause"] = "  "
	delete(values, "action_2")
	text, missing := post.Render(values)
	require.Empty(t, text)
	require.Equal(t, []string{"root_cause", "action_2"}, missing)
}

func TestParseAndLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
		return p
	}
	yml := write("status.yaml", "name: status-page\ntitle: Status page update\ntext: |\n  Investigating: {{title}}\n  Impact: {{impact}}\nfields:\n  impact: {label: What is affected, multiline: true}\n")
	md := write("Apology.md", "Dear {{customer_name}},\nSorry about {{title}}.\n")
	set, err := Load([]string{yml, md})
	require.NoError(t, err)
	require.Len(t, set, 5)
	st := set[3]
	require.Equal(t, "status-page", st.Name)
	require.Equal(t, "Status page update", st.Title)
	require.Equal(t, []Field{{Key: "title", Label: "Title"}, {Key: "impact", Label: "What is affected", Multiline: true}}, st.Fields)
	require.Equal(t, "Investigating: {{title}}\nImpact: {{impact}}", st.Text)
	require.Equal(t, "apology", set[4].Name)
	require.Equal(t, "Customer name", set[4].Fields[0].Label)

	bad := []struct{ name, body, err string }{
		{"unknown.yaml", "name: x\ntext: hi\ncolour: red\n", "field colour not found"},
		{"nofield.yaml", "name: x\ntext: hi {{a}}\nfields:\n  b: {label: B}\n", `field "b" is not a placeholder`},
		{"dup.yaml", "name: proactive\ntext: hi\n", `a template named "proactive" already exists`},
		{"badname.yaml", "name: Bad Name\ntext: hi\n", "template name"},
		{"empty.md", "\n", "the text is empty"},
		{"broken.md", "{{oops", "unbalanced"},
	}
	for _, b := range bad {
		_, err := Load([]string{write(b.name, b.body)})
		require.ErrorContains(t, err, b.err, b.name)
		require.ErrorContains(t, err, b.name)
	}
	_, err = Load([]string{filepath.Join(dir, "missing.md")})
	require.ErrorContains(t, err, "missing.md")
}

func TestPrefillFromAnIncident(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	start := time.Date(2026, 11, 4, 10, 0, 0, 0, time.UTC)
	resolved := Incident{ID: 12, Title: "API returning errors", Severity: "P1", Status: "resolved",
		Impact: "Query API requests failing for some customers", RootCause: "A bad deploy", Resolution: "Rolled back",
		LatestUpdate: "Error rate back to normal", Start: start, End: start.Add(85 * time.Minute)}
	open := resolved
	open.End, open.Status = time.Time{}, "open"
	b := Builtins()

	require.Equal(t, map[string]string{
		"title": "API returning errors", "symptom": "query API requests failing for some customers",
		"next_update": "30 minutes", "impact": "Query API requests failing for some customers",
	}, Prefill(b[0], open, cfg, "U0ENGA", start.Add(10*time.Minute)))

	require.Equal(t, map[string]string{
		"subject": "API returning errors", "issue": "Error rate back to normal",
		"estimate": "by 2026-11-04 11:00 UTC", "sender_name": "Engineer A",
	}, Prefill(b[1], open, cfg, "U0ENGA", start.Add(10*time.Minute)))
	late := Prefill(b[1], open, cfg, "U0ENGA", start.Add(2*time.Hour))
	require.Contains(t, late["estimate"], "as soon as possible")

	require.Equal(t, map[string]string{
		"affected": "query API requests failing for some customers", "resolved_at": "2026-11-04 11:25 UTC",
		"start": "2026-11-04 10:00 UTC", "end": "2026-11-04 11:25 UTC", "duration": "1 hour 25 minutes",
		"impact": "Query API requests failing for some customers", "root_cause": "A bad deploy", "resolution": "Rolled back",
		"sender_name": "Engineer A",
	}, Prefill(b[2], resolved, cfg, "U0ENGA", start.Add(3*time.Hour)))

	// Each built-in renders from the incident once the person fills the rest.
	for _, tpl := range b {
		values := Prefill(tpl, resolved, cfg, "U0ENGA", start.Add(3*time.Hour))
		for _, f := range tpl.Fields {
			if values[f.Key] == "" {
				values[f.Key] = "filled " + f.Key
			}
		}
		text, missing := tpl.Render(values)
		require.Empty(t, missing)
		require.NotContains(t, text, "{{")
		require.Contains(t, text, "API")
	}
}

func TestHumanDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		30 * time.Second: "less than a minute", time.Minute: "1 minute", 30 * time.Minute: "30 minutes",
		time.Hour: "1 hour", 85 * time.Minute: "1 hour 25 minutes", 51 * time.Hour: "2 days 3 hours", 24 * time.Hour: "1 day",
	} {
		require.Equal(t, want, HumanDuration(d), d.String())
	}
}

func TestDraftMessageIsACodeBlock(t *testing.T) {
	t.Parallel()
	msg := DraftMessage(Builtins()[0], "Engineer A", "line with ``` inside")
	require.True(t, strings.HasSuffix(msg, "\n```"))
	require.Equal(t, 2, strings.Count(msg, "```"))
}
