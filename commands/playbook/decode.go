package playbook

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/contextinject/oncallbot/commands/config"
)

// Limits that keep a playbook inside Slack's Block Kit limits (a section
// text holds at most 3000 characters; the step's title, text and
// destructive commands share one) and a thread readable.
const (
	MaxSteps         = 20
	maxName          = 40
	maxTitle         = 150
	maxAlert         = 300
	maxAlertName     = 200
	maxStepText      = 2000
	maxStepDiags     = 4
	maxDestructive   = 5
	maxDestructiveCh = 300
)

var (
	reName        = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	reYAMLLine    = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	reParserError = regexp.MustCompile(`^did not find expected (<document start>|node content|key|'-' indicator|',' or '\]'|',' or '\}')$`)
)

// decoder collects every problem of one file with its line and key.
type decoder struct {
	file string
	errs []config.FieldError
	// nodes counts visited nodes so aliases cannot blow a small file up.
	nodes  int
	tooBig bool
}

// maxNodes bounds the nodes visited in one file, aliases expanded: far more
// than any playbook needs.
const maxNodes = 50_000

// spend counts n visited nodes and reports whether the budget still holds.
func (d *decoder) spend(n int) bool {
	d.nodes += n
	if d.nodes > maxNodes {
		if !d.tooBig {
			d.tooBig = true
			d.errorf(0, "", "the file expands to more than %d YAML nodes (aliases?)", maxNodes)
		}
		return false
	}
	return true
}

func (d *decoder) errorf(line int, key, format string, args ...any) {
	d.errs = append(d.errs, config.FieldError{File: d.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// decodeFile decodes a playbook file: one playbook (a mapping) or several (a
// list of mappings). It returns the playbooks that decoded cleanly and every
// problem found.
func decodeFile(name string, data []byte) ([]Playbook, []config.FieldError) {
	d := &decoder{file: name}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		d.syntax(err)
		return nil, d.errs
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		d.errorf(1, "", "the playbook file is empty")
		return nil, d.errs
	}
	root := resolve(doc.Content[0])
	var out []Playbook
	switch root.Kind {
	case yaml.MappingNode:
		if p, ok := d.playbook(root, ""); ok {
			out = append(out, p)
		}
	case yaml.SequenceNode:
		if len(root.Content) == 0 {
			d.errorf(root.Line, "", "the list of playbooks is empty")
		}
		for i, n := range root.Content {
			if p, ok := d.playbook(resolve(n), fmt.Sprintf("[%d].", i)); ok {
				out = append(out, p)
			}
		}
	default:
		d.errorf(root.Line, "", "a playbook file holds a playbook (name:, steps:, …) or a list of them, got %s", kindName(root))
	}
	return out, d.errs
}

// syntax turns a yaml.v3 parse error into a FieldError with its line.
func (d *decoder) syntax(err error) {
	msg := err.Error()
	if m := reYAMLLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		// yaml.v3's parser (not its scanner) reports 0-based lines.
		if reParserError.MatchString(m[2]) {
			line++
		}
		d.errorf(line, "", "invalid YAML: %s", m[2])
		return
	}
	d.errorf(0, "", "invalid YAML: %s", strings.TrimPrefix(msg, "yaml: "))
}

// playbook decodes and validates one playbook mapping; prefix is its key
// path inside the file ("" or "[2].").
func (d *decoder) playbook(n *yaml.Node, prefix string) (Playbook, bool) {
	before := len(d.errs)
	at := &origin{file: d.file, prefix: prefix, lines: map[string]int{"": n.Line}}
	p := Playbook{Source: d.file, at: at}
	if n.Kind != yaml.MappingNode {
		d.errorf(n.Line, strings.TrimSuffix(prefix, "."), "expected a playbook mapping (name:, steps:, …), got %s", kindName(n))
		return p, false
	}
	var stepsNode *yaml.Node
	d.mapping(n, prefix, at, func(key string, v *yaml.Node) {
		k := prefix + key
		switch key {
		case "name":
			p.Name = d.str(v, k)
		case "title":
			p.Title = d.str(v, k)
		case "aliases":
			p.Aliases = d.strs(v, k, at, key)
		case "alert":
			p.Alert = d.str(v, k)
		case "alertnames":
			p.AlertNames = d.strs(v, k, at, key)
		case "severity":
			p.Severity = d.str(v, k)
		case "escalate_after":
			s := d.str(v, k)
			if s == "" {
				break
			}
			dur, err := time.ParseDuration(s)
			switch {
			case err != nil:
				d.errorf(v.Line, k, "%q is not a duration (use 30m, 1h)", s)
			case dur <= 0:
				d.errorf(v.Line, k, "must be positive, e.g. 30m")
			default:
				p.EscalateAfter = dur
			}
		case "steps":
			stepsNode = v
		default:
			d.errorf(at.lines[key], k, "unknown key (known: name, title, aliases, alert, alertnames, severity, escalate_after, steps)")
		}
	})

	line := func(key string) int {
		if l, ok := at.lines[key]; ok {
			return l
		}
		return n.Line
	}
	switch {
	case p.Name == "":
		d.errorf(line("name"), prefix+"name", "is required: the playbook's name, e.g. queue-depth")
	case !reName.MatchString(p.Name) || len(p.Name) > maxName:
		d.errorf(line("name"), prefix+"name", "%q must be lowercase letters, digits and dashes (at most %d), e.g. queue-depth", p.Name, maxName)
	}
	for i, a := range p.Aliases {
		k := fmt.Sprintf("aliases[%d]", i)
		switch {
		case !reName.MatchString(a) || len(a) > maxName:
			d.errorf(line(k), prefix+k, "%q must be lowercase letters, digits and dashes (at most %d)", a, maxName)
		case a == p.Name || slices.Index(p.Aliases, a) < i:
			d.errorf(line(k), prefix+k, "%q is repeated", a)
		}
	}
	if utf8.RuneCountInString(p.Title) > maxTitle {
		d.errorf(line("title"), prefix+"title", "is longer than %d characters", maxTitle)
	}
	switch {
	case strings.TrimSpace(p.Alert) == "":
		d.errorf(line("alert"), prefix+"alert", "is required: the alert condition, e.g. \"bullmq_waiting_count > 500 for 10 minutes\"")
	case utf8.RuneCountInString(p.Alert) > maxAlert:
		d.errorf(line("alert"), prefix+"alert", "is longer than %d characters", maxAlert)
	}
	for i, a := range p.AlertNames {
		k := fmt.Sprintf("alertnames[%d]", i)
		switch {
		case strings.TrimSpace(a) == "" || len(a) > maxAlertName:
			d.errorf(line(k), prefix+k, "must be an Alertmanager alertname of 1 to %d characters", maxAlertName)
		case slices.Index(p.AlertNames, a) < i:
			d.errorf(line(k), prefix+k, "%q is repeated", a)
		}
	}
	p.Steps = d.steps(stepsNode, prefix, at, line("steps"))
	return p, len(d.errs) == before
}

// steps decodes the steps list.
func (d *decoder) steps(n *yaml.Node, prefix string, at *origin, line int) []Step {
	if n == nil || isNull(n) {
		d.errorf(line, prefix+"steps", "is required: at least one step with title: and text:")
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n.Line, prefix+"steps", "must be a list of steps, got %s", kindName(n))
		return nil
	}
	if len(n.Content) == 0 {
		d.errorf(n.Line, prefix+"steps", "is empty: give at least one step")
	}
	if len(n.Content) > MaxSteps {
		d.errorf(n.Line, prefix+"steps", "has %d steps; at most %d fit a readable thread", len(n.Content), MaxSteps)
	}
	var out []Step
	for i, sn := range n.Content {
		sn = resolve(sn)
		base := fmt.Sprintf("steps[%d]", i)
		at.lines[base] = sn.Line
		if sn.Kind != yaml.MappingNode {
			d.errorf(sn.Line, prefix+base, "must be a mapping with title: and text:, got %s", kindName(sn))
			continue
		}
		var s Step
		d.mapping(sn, prefix+base+".", at, func(key string, v *yaml.Node) {
			k := prefix + base + "." + key
			switch key {
			case "title":
				s.Title = d.str(v, k)
			case "text":
				s.Text = strings.TrimRight(d.str(v, k), "\n")
			case "diagnostic", "diagnostics":
				if v.Kind == yaml.ScalarNode && !isNull(v) {
					s.Diagnostics = append(s.Diagnostics, v.Value)
					at.lines[base+"."+key+"[0]"] = v.Line
				} else {
					s.Diagnostics = append(s.Diagnostics, d.strs(v, k, at, base+"."+key)...)
				}
				for j, name := range s.Diagnostics {
					dk := fmt.Sprintf("%s.%s[%d]", base, key, j)
					l := at.lines[dk]
					switch {
					case !KnownDiagnostic(name):
						d.errorf(l, prefix+dk, "unknown diagnostic %q (known: %s)", name, strings.Join(Diagnostics, ", "))
					case slices.Index(s.Diagnostics, name) < j:
						d.errorf(l, prefix+dk, "%q is repeated", name)
					}
				}
				if len(s.Diagnostics) > maxStepDiags {
					d.errorf(v.Line, k, "names %d diagnostics; at most %d per step", len(s.Diagnostics), maxStepDiags)
				}
			case "destructive":
				s.Destructive = d.strs(v, k, at, base+".destructive")
				if len(s.Destructive) > maxDestructive {
					d.errorf(v.Line, k, "lists %d commands; at most %d per step", len(s.Destructive), maxDestructive)
				}
				for j, c := range s.Destructive {
					if strings.TrimSpace(c) == "" || utf8.RuneCountInString(c) > maxDestructiveCh {
						dk := fmt.Sprintf("%s.destructive[%d]", base, j)
						d.errorf(at.lines[dk], prefix+dk, "must be a command of 1 to %d characters", maxDestructiveCh)
					}
				}
			default:
				d.errorf(at.lines[base+"."+key], k, "unknown key (known: title, text, diagnostic, destructive)")
			}
		})
		switch {
		case strings.TrimSpace(s.Title) == "":
			d.errorf(sn.Line, prefix+base+".title", "is required: the step's headline, e.g. \"Check worker health\"")
		case utf8.RuneCountInString(s.Title) > maxTitle:
			d.errorf(sn.Line, prefix+base+".title", "is longer than %d characters", maxTitle)
		}
		switch {
		case strings.TrimSpace(s.Text) == "":
			d.errorf(sn.Line, prefix+base+".text", "is required: the step's checklist")
		case utf8.RuneCountInString(s.Text) > maxStepText:
			d.errorf(sn.Line, prefix+base+".text", "is longer than %d characters (one Slack section holds 3000)", maxStepText)
		}
		out = append(out, s)
	}
	return out
}

// mapping walks a mapping's keys, recording each value's line under prefix-less
// keys in at.lines (relative to the playbook) and refusing duplicates.
func (d *decoder) mapping(n *yaml.Node, prefix string, at *origin, f func(key string, v *yaml.Node)) {
	rel := strings.TrimPrefix(prefix, at.prefix)
	if !d.spend(len(n.Content)) {
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, v := n.Content[i], resolve(n.Content[i+1])
		key := kn.Value
		if kn.Kind != yaml.ScalarNode {
			d.errorf(kn.Line, strings.TrimSuffix(prefix, "."), "keys must be plain words")
			continue
		}
		if seen[key] {
			d.errorf(kn.Line, prefix+key, "is given twice")
			continue
		}
		seen[key] = true
		at.lines[rel+key] = kn.Line
		f(key, v)
	}
}

// str decodes a scalar string ("" for null).
func (d *decoder) str(v *yaml.Node, key string) string {
	switch {
	case isNull(v):
		return ""
	case v.Kind != yaml.ScalarNode:
		d.errorf(v.Line, key, "expected text, got %s", kindName(v))
		return ""
	}
	return v.Value
}

// strs decodes a list of scalar strings, recording each item's line as
// rel[i] in at.lines.
func (d *decoder) strs(v *yaml.Node, key string, at *origin, rel string) []string {
	if isNull(v) {
		return nil
	}
	if v.Kind != yaml.SequenceNode {
		d.errorf(v.Line, key, "expected a list, got %s", kindName(v))
		return nil
	}
	if !d.spend(len(v.Content)) {
		return nil
	}
	out := make([]string, 0, len(v.Content))
	for i, it := range v.Content {
		it = resolve(it)
		k := fmt.Sprintf("%s[%d]", rel, i)
		at.lines[k] = it.Line
		if it.Kind != yaml.ScalarNode || isNull(it) {
			d.errorf(it.Line, fmt.Sprintf("%s[%d]", key, i), "expected text, got %s", kindName(it))
			continue
		}
		out = append(out, it.Value)
	}
	return out
}

// resolve follows aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

func kindName(n *yaml.Node) string { return config.KindName(n) }
