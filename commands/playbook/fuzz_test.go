package playbook

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/contextinject/oncallbot/commands/config"
)

// FuzzParse checks playbook loading on arbitrary file content: it never
// panics or hangs (aliases are bounded); a refusal is a *config.ValidationError
// whose every problem names the file and says something; an accepted file
// adds playbooks that stay within the Block Kit limits and are found by
// every name and alias.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		extraYAML,
		"- name: a\n  alert: x\n  steps: [{title: t, text: x}]\n- name: b\n  alert: y\n  steps: [{title: t, text: y, diagnostic: [redis, qdrant]}]\n",
		"name: x\n", "name: disk-space\nalert: dup\nsteps: [{title: t, text: x}]\n",
		"name: Bad Name\nalert: x\nsteps: []\n",
		"name: a\nalert: x\nescalate_after: -5m\nseverity: P9\nsteps: [{title: t, text: x, diagnostic: rm-rf}]\n",
		"a: &a [*a, *a]\n", "- &x {name: a, steps: [*x]}\n", "steps: &s [{<<: *s}]\n",
		"name: a\nalert: x\nsteps:\n  - {title: t, text: x, destructive: [" + strings.Repeat("\"c\", ", 6) + "]}\n",
		"name: a\nalert: x\nsteps: [{title: t, text: \"" + strings.Repeat("é", maxStepText+1) + "\"}]\n",
		"\t- :\n", "---\n---\n", "", "~", "[1, 2", "name: [a\n",
	} {
		f.Add("extra.yaml", []byte(s))
	}
	builtins := len(BuiltIn())
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		set, err := Parse(name, data, nil)
		if err != nil {
			if set != nil {
				t.Fatal("a set and an error")
			}
			var ve *config.ValidationError
			if !errors.As(err, &ve) || len(ve.Errors) == 0 {
				t.Fatalf("error %v is not a validation error", err)
			}
			for _, fe := range ve.Errors {
				if fe.File != name || strings.TrimSpace(fe.Msg) == "" || strings.Contains(fe.Msg, "%!") {
					t.Fatalf("bad problem %+v for file %q", fe, name)
				}
			}
			return
		}
		all := set.All()
		if len(all) < builtins {
			t.Fatalf("%d playbooks, fewer than the %d built-ins", len(all), builtins)
		}
		for _, p := range all[builtins:] {
			if len(p.Steps) == 0 || len(p.Steps) > MaxSteps || !reName.MatchString(p.Name) {
				t.Fatalf("accepted playbook %q with %d steps", p.Name, len(p.Steps))
			}
			for _, s := range p.Steps {
				if utf8.RuneCountInString(s.Text) > maxStepText || len(s.Destructive) > maxDestructive {
					t.Fatalf("accepted step %q over the limits", s.Title)
				}
			}
			for _, n := range p.Names() {
				if got, ok := set.Find(n); !ok || got.Name != p.Name {
					t.Fatalf("name %q of %q finds %q", n, p.Name, got.Name)
				}
			}
		}
	})
}
