// Package templates holds the customer communication templates (SPEC §10):
// the runbook's three built-ins (proactive, during-incident, post-incident)
// and any extra templates named by `templates:` in the configuration, their
// placeholders, the pre-fill of those placeholders from an incident, and the
// rendering of a filled template. The Customer update button on an incident
// parent answers its clicker with one button per template; the chosen one
// opens a modal of its placeholders, and the rendered text is posted in the
// incident thread for a person to copy. Nothing is ever sent outside Slack.
//
// A template is text with placeholders written {{key}}. The runbook writes
// its placeholders in brackets ("Hi [Name],"), but it also writes literal
// brackets ("[ContextInject]") and uses "[Name]" for two different people,
// so the data uses explicit keys; each built-in field keeps the runbook's
// bracket text as its Example, and rendering a built-in with its examples
// gives back the runbook's text exactly.
//
// Everything in this file is pure: parsing, pre-filling and rendering take
// their inputs and return values.
package templates

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/contextinject/oncallbot/commands/config"
	"github.com/contextinject/oncallbot/commands/severity"
)

// Limits of a template, chosen so that its modal stays within Slack's limits
// (100 blocks, 3,000 characters of initial value) and its post within a
// message.
const (
	MaxFields     = 40
	MaxText       = 10000
	MaxFieldValue = 2000
	maxName       = 40
)

// Template is one customer communication template.
type Template struct {
	// Name identifies the template ("post-incident"): lowercase letters,
	// digits and dashes.
	Name string
	// Title is shown in the template choice ("Post-incident summary").
	Title string
	// Text holds {{key}} placeholders.
	Text string
	// Fields are the placeholders in order of first appearance.
	Fields []Field
}

// Field is one placeholder of a template.
type Field struct {
	Key       string
	Label     string // the modal input's label
	Hint      string // shown under the input; "" for none
	Multiline bool
	// Example is the runbook's text at this place, for built-ins ("[Name]").
	Example string
}

// Field returns the field with key.
func (t Template) Field(key string) (Field, bool) {
	for _, f := range t.Fields {
		if f.Key == key {
			return f, true
		}
	}
	return Field{}, false
}

var (
	placeholderRE = regexp.MustCompile(`\{\{\s*([^{}]*?)\s*\}\}`)
	keyRE         = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)
	nameRE        = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
)

// Keys returns the placeholder keys of text in order of first appearance.
// It rejects a malformed placeholder ("{{Two words}}", an unclosed "{{").
func Keys(text string) ([]string, error) {
	var keys []string
	for _, m := range placeholderRE.FindAllStringSubmatch(text, -1) {
		if !keyRE.MatchString(m[1]) {
			return nil, fmt.Errorf("placeholder {{%s}}: a key is a lowercase letter followed by up to 39 lowercase letters, digits or _", m[1])
		}
		if !slices.Contains(keys, m[1]) {
			keys = append(keys, m[1])
		}
	}
	rest := placeholderRE.ReplaceAllString(text, "")
	if strings.Contains(rest, "{{") || strings.Contains(rest, "}}") {
		return nil, errors.New("unbalanced {{ or }}: write each placeholder as {{key}}")
	}
	if len(keys) > MaxFields {
		return nil, fmt.Errorf("%d placeholders; at most %d fit in a form", len(keys), MaxFields)
	}
	return keys, nil
}

// New builds a template from its text, taking labels and hints from fields
// (by key) and deriving the rest from the key ("root_cause" → "Root cause").
func New(name, title, text string, fields map[string]Field) (Template, error) {
	t := Template{Name: name, Title: title, Text: text}
	switch {
	case !nameRE.MatchString(name) || len(name) > maxName:
		return Template{}, fmt.Errorf("template name %q: use up to %d lowercase letters, digits and dashes", name, maxName)
	case strings.TrimSpace(text) == "":
		return Template{}, fmt.Errorf("template %q: the text is empty", name)
	case len(text) > MaxText:
		return Template{}, fmt.Errorf("template %q: the text has %d characters, at most %d", name, len(text), MaxText)
	}
	if strings.TrimSpace(t.Title) == "" {
		t.Title = name
	}
	if n := len([]rune(t.Title)); n > 60 {
		return Template{}, fmt.Errorf("template %q: the title has %d characters, at most 60", name, n)
	}
	keys, err := Keys(text)
	if err != nil {
		return Template{}, fmt.Errorf("template %q: %w", name, err)
	}
	for k := range fields {
		if !slices.Contains(keys, k) {
			return Template{}, fmt.Errorf("template %q: field %q is not a placeholder of the text", name, k)
		}
	}
	for _, k := range keys {
		f := fields[k]
		f.Key = k
		if f.Label == "" {
			f.Label = labelOf(k)
		}
		if len([]rune(f.Label)) > 100 || len([]rune(f.Hint)) > 500 {
			return Template{}, fmt.Errorf("template %q: field %q: label at most 100 and hint at most 500 characters", name, k)
		}
		t.Fields = append(t.Fields, f)
	}
	return t, nil
}

func labelOf(key string) string {
	s := strings.ReplaceAll(key, "_", " ")
	return strings.ToUpper(s[:1]) + s[1:]
}

// Render fills the placeholders with values. It returns the keys whose value
// is empty (after trimming) and an empty text when any is: a template is
// never rendered with a hole in it.
func (t Template) Render(values map[string]string) (string, []string) {
	var missing []string
	for _, f := range t.Fields {
		if strings.TrimSpace(values[f.Key]) == "" {
			missing = append(missing, f.Key)
		}
	}
	if len(missing) > 0 {
		return "", missing
	}
	out := placeholderRE.ReplaceAllStringFunc(t.Text, func(m string) string {
		key := placeholderRE.FindStringSubmatch(m)[1]
		return strings.TrimSpace(strings.ReplaceAll(values[key], "\r\n", "\n"))
	})
	return out, nil
}

// Examples returns each field's Example, for rendering a built-in back into
// the runbook's text.
func (t Template) Examples() map[string]string {
	out := make(map[string]string, len(t.Fields))
	for _, f := range t.Fields {
		out[f.Key] = f.Example
	}
	return out
}

// Builtins returns the runbook's three templates (runbook §6), in the
// runbook's order. The proactive notification in the runbook is an example
// about latency; its specifics (subject, what customers see, the update
// interval, the impact) are its placeholders, the rest is the runbook's text.
func Builtins() []Template {
	return []Template{
		mustNew("proactive", "Proactive notification (before customers report)", proactiveText, map[string]Field{
			"title":       {Label: "Subject: Investigating …", Hint: "What is being investigated, as customers would put it.", Example: "Increased Latency"},
			"symptom":     {Label: "We are aware of …", Hint: "What customers see.", Example: "increased API response times affecting some requests"},
			"next_update": {Label: "Next update within", Hint: "Pre-filled with the severity's first-update target.", Example: "30 minutes"},
			"impact":      {Label: "Current impact", Hint: "What is affected and what is not.", Multiline: true, Example: "Query API response times are approximately 2x normal.\nDocument uploads and processing are unaffected."},
		}),
		mustNew("during-incident", "During incident (customer inquiry)", duringText, map[string]Field{
			"subject":       {Label: "Subject of the customer's message", Hint: "Your answer's subject is \"Re: [Support] …\".", Example: "API returning errors"},
			"customer_name": {Label: "Customer's name", Hint: "Runbook: Hi [Name],", Example: "[Name]"},
			"issue":         {Label: "Brief description of the issue", Hint: "Pre-filled with the latest status update.", Multiline: true, Example: "[Brief description of the issue]"},
			"estimate":      {Label: "Estimated time to resolution", Hint: "Pre-filled with the severity's resolution deadline.", Example: "[estimate]"},
			"sender_name":   {Label: "Your name", Hint: "Runbook: Best, [Name]", Example: "[Name]"},
		}),
		mustNew("post-incident", "Post-incident summary (to affected customers)", postText, map[string]Field{
			"customer_name": {Label: "Customer's name", Hint: "Runbook: Hi [Name],", Example: "[Name]"},
			"affected":      {Label: "The issue affecting …", Hint: "Runbook: [description]", Example: "[description]"},
			"resolved_at":   {Label: "Resolved as of (time UTC)", Example: "[time UTC]"},
			"start":         {Label: "Start", Example: "[start]"},
			"end":           {Label: "End", Example: "[end]"},
			"duration":      {Label: "Total duration", Example: "[total duration]"},
			"impact":        {Label: "Impact", Hint: "What was affected.", Multiline: true, Example: "[what was affected]"},
			"root_cause":    {Label: "Root cause", Hint: "Brief, non-technical explanation.", Multiline: true, Example: "[brief, non-technical explanation]"},
			"resolution":    {Label: "Resolution", Hint: "What was done.", Multiline: true, Example: "[what was done]"},
			"action_1":      {Label: "Preventive measure 1", Example: "[Action 1]"},
			"action_2":      {Label: "Preventive measure 2", Example: "[Action 2]"},
			"sender_name":   {Label: "Your name", Hint: "Runbook: Best, [Name]", Example: "[Name]"},
		}),
	}
}

const proactiveText = `Subject: [ContextInject] Investigating {{title}}

We are aware of {{symptom}}.
Our team is investigating and will provide an update within {{next_update}}.

Current impact: {{impact}}

Status: https://status.contextinject.ai`

const duringText = `Subject: Re: [Support] {{subject}}

Hi {{customer_name}},

Thank you for reporting this. We are aware of the issue and our team is
actively working on a resolution.

What we know:
- {{issue}}
- Estimated time to resolution: {{estimate}}

We will notify you when the issue is resolved. You can also follow real-time
updates at https://status.contextinject.ai.

Apologies for the disruption.
Best,
{{sender_name}}`

const postText = `Subject: [ContextInject] Incident Resolved — Summary

Hi {{customer_name}},

The issue affecting {{affected}} has been resolved as of {{resolved_at}}.

Summary:
- Duration: {{start}} to {{end}} ({{duration}})
- Impact: {{impact}}
- Root cause: {{root_cause}}
- Resolution: {{resolution}}

Preventive measures:
- {{action_1}}
- {{action_2}}

We apologize for the disruption. If you experienced any data issues during
this period, please contact us at support@contextinject.ai.

Best,
{{sender_name}}`

func mustNew(name, title, text string, fields map[string]Field) Template {
	t, err := New(name, title, text, fields)
	if err != nil {
		panic("templates: built-in " + err.Error())
	}
	return t
}

// fileTemplate is the YAML form of an extra template file.
type fileTemplate struct {
	Name   string               `yaml:"name"`
	Title  string               `yaml:"title"`
	Text   string               `yaml:"text"`
	Fields map[string]fileField `yaml:"fields"`
}

type fileField struct {
	Label     string `yaml:"label"`
	Hint      string `yaml:"hint"`
	Multiline bool   `yaml:"multiline"`
}

// Parse reads one extra template file's content. A .yaml or .yml file holds
// name, title, text and optional fields (key → label, hint, multiline),
// unknown keys refused; any other file is the template's text, named after
// the file ("status-page.md" → "status-page").
func Parse(path string, data []byte) (Template, error) {
	ext := strings.ToLower(filepath.Ext(path))
	if ext != ".yaml" && ext != ".yml" {
		name := strings.ToLower(strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)))
		return New(name, "", strings.TrimRight(string(data), "\n"), nil)
	}
	var ft fileTemplate
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&ft); err != nil {
		return Template{}, fmt.Errorf("decode: %w", err)
	}
	fields := make(map[string]Field, len(ft.Fields))
	for k, f := range ft.Fields {
		fields[k] = Field{Label: f.Label, Hint: f.Hint, Multiline: f.Multiline}
	}
	return New(ft.Name, ft.Title, strings.TrimRight(ft.Text, "\n"), fields)
}

// Load returns the built-ins followed by the templates in paths (the
// configuration's `templates:`), refusing a bad file or a name used twice.
func Load(paths []string) ([]Template, error) {
	out := Builtins()
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("template file %s: %w", p, err)
		}
		t, err := Parse(p, data)
		if err != nil {
			return nil, fmt.Errorf("template file %s: %w", p, err)
		}
		if slices.ContainsFunc(out, func(o Template) bool { return o.Name == t.Name }) {
			return nil, fmt.Errorf("template file %s: a template named %q already exists", p, t.Name)
		}
		out = append(out, t)
	}
	return out, nil
}

// Incident is what the templates need to know of an incident.
type Incident struct {
	ID       int64
	Title    string
	Severity string // "P1".."P4"
	// Status is a word such as "open", "acknowledged" or "resolved".
	Status       string
	Impact       string
	RootCause    string
	Resolution   string
	LatestUpdate string // the latest status update posted in the thread
	Start        time.Time
	End          time.Time // zero while unresolved
}

// Prefill returns values for the template's fields known from the incident:
// title, impact, start, end, duration, root cause, resolution, latest status
// update, the severity's targets and the sender's name. Unknown fields are
// left out (the person fills them in).
func Prefill(t Template, inc Incident, cfg *config.Config, sender string, now time.Time) map[string]string {
	known := map[string]string{
		"title":         inc.Title,
		"subject":       inc.Title,
		"incident":      fmt.Sprintf("#%d %s", inc.ID, inc.Title),
		"severity":      inc.Severity,
		"impact":        inc.Impact,
		"root_cause":    inc.RootCause,
		"resolution":    inc.Resolution,
		"latest_update": inc.LatestUpdate,
		"symptom":       firstNonEmpty(lowerFirst(inc.Impact), lowerFirst(inc.Title)),
		"affected":      firstNonEmpty(lowerFirst(inc.Impact), lowerFirst(inc.Title)),
		"issue":         firstNonEmpty(inc.LatestUpdate, inc.Impact, inc.Title),
		"description":   firstNonEmpty(inc.Impact, inc.LatestUpdate, inc.Title),
		"sender_name":   cfg.Name(sender),
		"start":         customerTime(inc.Start),
	}
	if sender == "" {
		known["sender_name"] = ""
	}
	if !inc.End.IsZero() {
		known["end"] = customerTime(inc.End)
		known["resolved_at"] = customerTime(inc.End)
		if !inc.Start.IsZero() && inc.End.After(inc.Start) {
			known["duration"] = HumanDuration(inc.End.Sub(inc.Start))
		}
	}
	if sev, ok := cfg.Severity(inc.Severity); ok {
		switch {
		case sev.FirstUpdate.Duration > 0:
			known["next_update"] = HumanDuration(sev.FirstUpdate.Duration)
		case sev.FirstUpdate.NextBusinessDay:
			known["next_update"] = "one business day"
		}
		if inc.End.IsZero() && !inc.Start.IsZero() {
			if due := severity.Compute(sev, inc.Start, severity.HoursFrom(cfg)).Resolve; !due.IsZero() {
				if due.After(now) {
					known["estimate"] = "by " + customerTime(due)
				} else {
					known["estimate"] = "as soon as possible; we will update you within the hour"
				}
			}
		}
	}
	out := map[string]string{}
	for _, f := range t.Fields {
		if v := strings.TrimSpace(known[f.Key]); v != "" {
			out[f.Key] = v
		}
	}
	return out
}

// customerTime formats t for a message to customers, who do not see Slack's
// localised dates: "2026-11-04 12:00 UTC".
func customerTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// HumanDuration writes d for people: "30 minutes", "1 hour 25 minutes",
// "2 days 3 hours" (rounded to the minute, two units at most).
func HumanDuration(d time.Duration) string {
	if d < time.Minute {
		return "less than a minute"
	}
	d = d.Round(time.Minute)
	days := int(d / (24 * time.Hour))
	hours := int(d % (24 * time.Hour) / time.Hour)
	mins := int(d % time.Hour / time.Minute)
	unit := func(n int, one string) string {
		if n == 1 {
			return "1 " + one
		}
		return fmt.Sprintf("%d %ss", n, one)
	}
	var parts []string
	switch {
	case days > 0:
		parts = append(parts, unit(days, "day"))
		if hours > 0 {
			parts = append(parts, unit(hours, "hour"))
		}
	case hours > 0:
		parts = append(parts, unit(hours, "hour"))
		if mins > 0 {
			parts = append(parts, unit(mins, "minute"))
		}
	default:
		parts = append(parts, unit(mins, "minute"))
	}
	return strings.Join(parts, " ")
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}

// lowerFirst lowers the first letter unless the first word looks like an
// acronym or a name ("API", "BullMQ").
func lowerFirst(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	first, _, _ := strings.Cut(s, " ")
	if len(first) > 1 && strings.ToLower(first[1:]) != first[1:] {
		return s
	}
	r, size := utf8.DecodeRuneInString(s)
	return string(unicode.ToLower(r)) + s[size:]
}
