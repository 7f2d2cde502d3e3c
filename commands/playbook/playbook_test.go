package playbook

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/commands/config"
)

// runbookSection is one "### Alert" section of the runbook's §4.
type runbookSection struct {
	title, alert string
	steps        []Step // Title and Text only
}

var (
	reHeading = regexp.MustCompile("^### (.+)$")
	reAlert   = regexp.MustCompile("^\\*\\*Alert\\*\\*: `(.+)`$")
	reStep    = regexp.MustCompile(`^Step (\d+): (.+)$`)
)

// parseRunbook reads §4 of the runbook copy in testdata (a verbatim copy of
// /work/shared/runbook/oncall-escalation.md) into its alert sections.
func parseRunbook(t *testing.T) []runbookSection {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "oncall-escalation.md"))
	require.NoError(t, err)
	text := string(data)
	start := strings.Index(text, "## 4. Common Alert Triage")
	end := strings.Index(text, "## 5. Communication Channels")
	require.True(t, start >= 0 && end > start, "runbook §4 not found")
	var out []runbookSection
	var cur *runbookSection
	inCode := false
	for _, line := range strings.Split(text[start:end], "\n") {
		switch {
		case strings.HasPrefix(line, "```"):
			inCode = !inCode
		case inCode && reStep.MatchString(line):
			m := reStep.FindStringSubmatch(line)
			require.Equal(t, fmt.Sprint(len(cur.steps)+1), m[1])
			cur.steps = append(cur.steps, Step{Title: m[2]})
		case inCode && strings.TrimSpace(line) != "":
			s := &cur.steps[len(cur.steps)-1]
			require.True(t, strings.HasPrefix(line, "  "), "step line %q is not indented", line)
			if s.Text != "" {
				s.Text += "\n"
			}
			s.Text += strings.TrimPrefix(line, "  ")
		case reHeading.MatchString(line):
			out = append(out, runbookSection{title: reHeading.FindStringSubmatch(line)[1]})
			cur = &out[len(out)-1]
		case reAlert.MatchString(line):
			cur.alert = reAlert.FindStringSubmatch(line)[1]
		}
	}
	return out
}

func TestBuiltInsAreTheRunbookVerbatim(t *testing.T) {
	sections := parseRunbook(t)
	builtins := BuiltIn()
	require.Len(t, sections, 5)
	require.Len(t, builtins, 5)
	for i, sec := range sections {
		p := builtins[i]
		t.Run(p.Name, func(t *testing.T) {
			require.Equal(t, sec.title, p.Title)
			require.Equal(t, sec.alert, p.Alert)
			require.Len(t, p.Steps, len(sec.steps))
			for j, s := range sec.steps {
				require.Equal(t, s.Title, p.Steps[j].Title, "step %d title", j+1)
				require.Equal(t, s.Text, p.Steps[j].Text, "step %d text", j+1)
			}
		})
	}
}

func TestBuiltInNamesAliasesSeverities(t *testing.T) {
	set, err := Load(nil, nil)
	require.NoError(t, err)
	tests := []struct {
		query, name, severity string
		escalate              time.Duration
	}{
		{"high-error-rate", "high-error-rate", "P2", 30 * time.Minute},
		{"error-rate", "high-error-rate", "P2", 30 * time.Minute},
		{"ERRORS", "high-error-rate", "P2", 30 * time.Minute},
		{"high-latency", "high-latency", "P2", 0},
		{"latency", "high-latency", "P2", 0},
		{"queue-depth", "queue-depth", "P3", 0},
		{"queue", "queue-depth", "P3", 0},
		{"disk-space", "disk-space", "P3", 0},
		{"disk", "disk-space", "P3", 0},
		{"cert-expiry", "cert-expiry", "P3", 0},
		{"cert", "cert-expiry", "P3", 0},
		{" tls ", "cert-expiry", "P3", 0},
	}
	for _, tt := range tests {
		p, ok := set.Find(tt.query)
		require.True(t, ok, tt.query)
		require.Equal(t, tt.name, p.Name, tt.query)
		require.Equal(t, tt.severity, p.Severity, tt.query)
		require.Equal(t, tt.escalate, p.EscalateAfter, tt.query)
		require.Equal(t, config.BuiltIn, p.Source)
	}
	_, ok := set.Find("nope")
	require.False(t, ok)
	require.Equal(t, []string{"high-error-rate", "high-latency", "queue-depth", "disk-space", "cert-expiry"}, set.Names())

	p, ok := set.ForAlert("QueueDepthGrowing")
	require.True(t, ok)
	require.Equal(t, "queue-depth", p.Name)
	_, ok = set.ForAlert("queuedepthgrowing")
	require.False(t, ok, "alertnames are case-sensitive")

	q, _ := set.Find("queue")
	require.Equal(t, []string{DiagQueue, DiagRedis}, q.UsesDiagnostics())
	require.Equal(t, []string{"redis-cli DEL bull:ingest-document:failed", "UPDATE documents SET status='pending' WHERE status='processing'"}, q.Steps[3].Destructive)
}

const extraYAML = `name: api-5xx
title: API 5xx burst
aliases: [5xx]
alert: "http_5xx_total rate > 10/s"
alertnames: [Api5xx]
severity: P1
escalate_after: 15m
steps:
  - title: Look at deploys
    text: |
      - Was something shipped?
    diagnostic: deploys
  - title: Check the database
    text: "- connections and locks"
    diagnostic: [postgres, redis]
    destructive: ["SELECT pg_terminate_backend(<pid>);"]
`

func TestLoadExtraFiles(t *testing.T) {
	dir := t.TempDir()
	one := filepath.Join(dir, "one.yaml")
	require.NoError(t, os.WriteFile(one, []byte(extraYAML), 0o644))
	many := filepath.Join(dir, "many.yaml")
	require.NoError(t, os.WriteFile(many, []byte(`
- name: search-down
  alert: search answers 5xx
  steps: [{title: Check Qdrant, text: "- is it up?", diagnostic: qdrant}]
- name: cache-cold
  alert: cache hit rate < 50%
  severity: P4
  steps: [{title: Check Redis, text: "- memory", diagnostics: [redis]}]
`), 0o644))

	set, err := Load([]string{one, many}, []string{"P1", "P2", "P3", "P4"})
	require.NoError(t, err)
	require.Len(t, set.All(), 8)
	p, ok := set.Find("5xx")
	require.True(t, ok)
	require.Equal(t, Playbook{
		Name: "api-5xx", Title: "API 5xx burst", Aliases: []string{"5xx"}, Alert: "http_5xx_total rate > 10/s",
		AlertNames: []string{"Api5xx"}, Severity: "P1", EscalateAfter: 15 * time.Minute, Source: one,
		Steps: []Step{
			{Title: "Look at deploys", Text: "- Was something shipped?", Diagnostics: []string{"deploys"}},
			{Title: "Check the database", Text: "- connections and locks", Diagnostics: []string{"postgres", "redis"}, Destructive: []string{"SELECT pg_terminate_backend(<pid>);"}},
		},
		at: p.at,
	}, p)
	p, ok = set.ForAlert("Api5xx")
	require.True(t, ok)
	require.Equal(t, "api-5xx", p.Name)
	c, ok := set.Find("cache-cold")
	require.True(t, ok)
	require.Equal(t, "cache-cold", c.DisplayTitle())
	require.Equal(t, []string{"redis"}, c.Steps[0].Diagnostics)
}

func TestLoadRejectsBadFiles(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // "line: key: message part"
	}{
		{"bad YAML", "name: x\nsteps: [\n", []string{":3: invalid YAML"}},
		{"tab indentation", "name: x\nsteps:\n\t- title: a\n", []string{":3: invalid YAML"}},
		{"empty", "", []string{":1: the playbook file is empty"}},
		{"scalar", "hello\n", []string{":1: a playbook file holds a playbook"}},
		{"unknown diagnostic", "name: x\nalert: a\nsteps:\n  - title: t\n    text: x\n    diagnostic: shell\n",
			[]string{":6: steps[0].diagnostic[0]: unknown diagnostic \"shell\""}},
		{"unknown diagnostic in list", "name: x\nalert: a\nsteps:\n  - title: t\n    text: x\n    diagnostic:\n      - redis\n      - curl\n",
			[]string{":8: steps[0].diagnostic[1]: unknown diagnostic \"curl\""}},
		{"missing text", "name: x\nalert: a\nsteps:\n  - title: t\n    diagnostic: redis\n",
			[]string{":4: steps[0].text: is required"}},
		{"missing title", "name: x\nalert: a\nsteps:\n  - text: t\n", []string{":4: steps[0].title: is required"}},
		{"unknown key", "name: x\nalert: a\nrunbook: y\nsteps:\n  - {title: t, text: x, run: rm}\n",
			[]string{":3: runbook: unknown key", ":5: steps[0].run: unknown key"}},
		{"missing name and alert", "steps:\n  - {title: t, text: x}\n", []string{":1: name: is required", ":1: alert: is required"}},
		{"bad name", "name: Queue Depth\nalert: a\nsteps: [{title: t, text: x}]\n", []string{":1: name: \"Queue Depth\" must be lowercase"}},
		{"no steps", "name: x\nalert: a\n", []string{":1: steps: is required"}},
		{"empty steps", "name: x\nalert: a\nsteps: []\n", []string{":3: steps: is empty"}},
		{"bad duration", "name: x\nalert: a\nescalate_after: soon\nsteps: [{title: t, text: x}]\n", []string{":3: escalate_after: \"soon\" is not a duration"}},
		{"negative duration", "name: x\nalert: a\nescalate_after: -5m\nsteps: [{title: t, text: x}]\n", []string{":3: escalate_after: must be positive"}},
		{"bad severity", "name: x\nalert: a\nseverity: P7\nsteps: [{title: t, text: x}]\n", []string{":3: severity: \"P7\" is not a configured severity"}},
		{"duplicate key", "name: x\nname: y\nalert: a\nsteps: [{title: t, text: x}]\n", []string{":2: name: is given twice"}},
		{"clashes with a built-in", "name: queue\nalert: a\nsteps: [{title: t, text: x}]\n", []string{":1: name: \"queue\" is already used by playbook queue-depth"}},
		{"alias clash", "name: x\naliases: [latency]\nalert: a\nsteps: [{title: t, text: x}]\n", []string{":2: aliases[0]: \"latency\" is already used by playbook high-latency"}},
		{"alertname clash", "name: x\nalertnames: [Other, HighLatency]\nalert: a\nsteps: [{title: t, text: x}]\n", []string{":2: alertnames[1]: alertname \"HighLatency\" is already answered by playbook high-latency"}},
		{"reserved", "name: list\nalert: a\nsteps: [{title: t, text: x}]\n", []string{":1: name: \"list\" is reserved"}},
		{"list item error keeps index", "- name: a\n  alert: a\n  steps: [{title: t, text: x}]\n- name: b\n  steps: [{title: t, text: x}]\n",
			[]string{":4: [1].alert: is required"}},
		{"too long text", "name: x\nalert: a\nsteps:\n  - title: t\n    text: " + strings.Repeat("y", 2100) + "\n", []string{":4: steps[0].text: is longer than 2000"}},
		{"destructive not a list", "name: x\nalert: a\nsteps:\n  - {title: t, text: x, destructive: rm}\n", []string{":4: steps[0].destructive: expected a list"}},
		{"alias bomb", "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n" +
			"name: x\nalert: a\nsteps:\n  - {title: t, text: x, destructive: *b}\n", []string{":1: a: unknown key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "pb.yaml")
			require.NoError(t, os.WriteFile(path, []byte(tt.yaml), 0o644))
			_, err := Load([]string{path}, []string{"P1", "P2", "P3", "P4"})
			require.Error(t, err)
			var ve *config.ValidationError
			require.True(t, errors.As(err, &ve), "%T %v", err, err)
			for _, w := range tt.want {
				require.Contains(t, err.Error(), path+w)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load([]string{"/nonexistent/pb.yaml"}, nil)
	require.ErrorContains(t, err, "/nonexistent/pb.yaml: cannot read the playbook file: no such file or directory")
}

func TestParseInMemory(t *testing.T) {
	set, err := Parse("extra.yaml", []byte(extraYAML), nil)
	require.NoError(t, err)
	_, ok := set.Find("api-5xx")
	require.True(t, ok)
	_, err = Parse("extra.yaml", []byte("name: x\n"), nil)
	require.ErrorContains(t, err, "extra.yaml:1: alert: is required")
}
