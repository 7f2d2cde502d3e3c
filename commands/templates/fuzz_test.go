package templates

import (
	"slices"
	"strings"
	"testing"
)

// checkTemplate checks what every accepted template promises and that
// rendering it behaves: all fields filled gives a text without
// placeholders, filling each field with its own placeholder gives the
// template back (placeholders normalised to {{key}}), and an empty field
// refuses to render and is named.
func checkTemplate(t *testing.T, tp Template, value string) {
	t.Helper()
	if !nameRE.MatchString(tp.Name) || len(tp.Name) > maxName || strings.TrimSpace(tp.Title) == "" || len(tp.Text) > MaxText {
		t.Fatalf("accepted template %q (title %q, %d bytes)", tp.Name, tp.Title, len(tp.Text))
	}
	keys, err := Keys(tp.Text)
	if err != nil {
		t.Fatalf("accepted text has bad placeholders: %v", err)
	}
	var fieldKeys []string
	for _, f := range tp.Fields {
		fieldKeys = append(fieldKeys, f.Key)
		if f.Label == "" {
			t.Fatalf("field %q without a label", f.Key)
		}
	}
	if !slices.Equal(keys, fieldKeys) || len(keys) > MaxFields {
		t.Fatalf("fields %q, placeholders %q", fieldKeys, keys)
	}

	// Filled with brace-free values: no placeholder is left.
	v := strings.NewReplacer("{", "", "}", "").Replace(value)
	if strings.TrimSpace(v) == "" {
		v = "x"
	}
	filled := map[string]string{}
	for _, k := range keys {
		filled[k] = v
	}
	out, missing := tp.Render(filled)
	if len(missing) > 0 {
		t.Fatalf("all fields filled with %q, but %q missing", v, missing)
	}
	if strings.Contains(out, "{{") || strings.Contains(out, "}}") {
		t.Fatalf("placeholder braces left in %q (text %q)", out, tp.Text)
	}

	// Filled with themselves: the text comes back with {{key}} placeholders.
	self := map[string]string{}
	for _, k := range keys {
		self[k] = "{{" + k + "}}"
	}
	back, missing := tp.Render(self)
	if len(missing) > 0 {
		t.Fatalf("self-render misses %q", missing)
	}
	if want := placeholderRE.ReplaceAllString(tp.Text, "{{${1}}}"); back != want {
		t.Fatalf("self-render of %q gave %q, want %q", tp.Text, back, want)
	}

	// One empty field: nothing is rendered and that field is named.
	if len(keys) > 0 {
		filled[keys[0]] = " \r\n\t"
		if out, missing := tp.Render(filled); out != "" || !slices.Contains(missing, keys[0]) {
			t.Fatalf("rendered %q with %q empty (missing %q)", out, keys[0], missing)
		}
	}
}

// FuzzParse checks template loading (SPEC §10) on arbitrary files, YAML or
// plain text by extension: it never panics, refuses with a message, and an
// accepted template holds its limits and renders as checkTemplate expects.
func FuzzParse(f *testing.F) {
	seeds := []struct{ path, data string }{
		{"status.yaml", "name: status-page\ntitle: Status page update\ntext: |\n  Investigating: {{title}}\n  Impact: {{impact}}\nfields:\n  impact: {label: What is affected, multiline: true}\n"},
		{"status-page.md", "Hi {{name}},\n\nWe are investigating {{ issue }} since {{start}}.\n{{name}}\n"},
		{"x.yml", "name: x\ntext: hi {{a}}\nfields:\n  b: {label: B}\n"},
		{"x.yaml", "name: x\ntext: hi\ncolour: red\n"},
		{"x.yaml", "name: Bad Name\ntext: hi\n"},
		{"x.txt", "{{Two words}}"},
		{"x.txt", "{{a}"},
		{"x.txt", "{{{a}}}"},
		{"x.txt", "}}{{a}}{{"},
		{"x.txt", "{{ a }}{{a}}{{\tb\n}}"},
		{"X.TXT", "[Name] {{name}}"},
		{"x.yaml", "a: &a [*a]\n"},
		{"x.yaml", "name: x\ntext: \"" + strings.Repeat("{{k}}", 3) + "\"\nfields: {k: {label: \"" + strings.Repeat("L", 101) + "\"}}\n"},
		{".yaml", ""},
		{"", ""},
	}
	for _, s := range seeds {
		f.Add(s.path, []byte(s.data), "Checkout")
	}
	f.Fuzz(func(t *testing.T, path string, data []byte, value string) {
		tp, err := Parse(path, data)
		if err != nil {
			if strings.TrimSpace(err.Error()) == "" {
				t.Fatal("empty error")
			}
			return
		}
		checkTemplate(t, tp, value)
	})
}

// FuzzRender checks New, Keys and Render on arbitrary template text and
// values: never a panic, and the round-trips of checkTemplate hold.
func FuzzRender(f *testing.F) {
	for _, b := range Builtins() {
		ex := b.Examples()
		f.Add(b.Text, ex[b.Fields[0].Key])
	}
	for _, s := range []string{"{{a}}", "{{ a }} and {{a}}", "{{{a}}}", "{{a}}}}", "{{}}", "{{a-b}}", "{{" + strings.Repeat("a", 40) + "}}", "plain", "{{a}}\r\n{{b}}"} {
		f.Add(s, "value")
	}
	f.Fuzz(func(t *testing.T, text, value string) {
		tp, err := New("fuzz", "", text, nil)
		if err != nil {
			return
		}
		checkTemplate(t, tp, value)
	})
}
