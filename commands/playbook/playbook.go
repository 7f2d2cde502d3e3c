// Package playbook holds alert triage playbooks as data (SPEC §8): the five
// built-ins carrying the runbook's steps verbatim, extra playbooks read from
// the files named by the configuration's playbooks: key, strict decoding with
// errors naming the file, line and key, and look-ups by name, alias and
// Alertmanager alertname. It is pure: no Slack, no database, no clock.
package playbook

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/contextinject/oncallbot/commands/config"
)

// Diagnostics a step may name. The first seven are also /diag checks;
// DiagPostgresSizes is the disk-space variant of the PostgreSQL check
// (database and largest table sizes).
const (
	DiagHealth        = "health"
	DiagDeploys       = "deploys"
	DiagPostgres      = "postgres"
	DiagPostgresSizes = "postgres-sizes"
	DiagRedis         = "redis"
	DiagQueue         = "queue"
	DiagQdrant        = "qdrant"
	DiagTLS           = "tls"
)

// Diagnostics lists every diagnostic name a playbook step may use, in the
// order results are shown.
var Diagnostics = []string{DiagDeploys, DiagHealth, DiagPostgres, DiagPostgresSizes, DiagRedis, DiagQueue, DiagQdrant, DiagTLS}

// KnownDiagnostic reports whether name is a diagnostic of Diagnostics.
func KnownDiagnostic(name string) bool { return slices.Contains(Diagnostics, name) }

// Playbook is one alert's triage procedure.
type Playbook struct {
	// Name is the canonical name (lowercase words joined by "-").
	Name string
	// Title is the human title ("Queue Depth Growing"); Name when absent.
	Title string
	// Aliases are other names /triage accepts.
	Aliases []string
	// Alert is the runbook's alert condition, as text.
	Alert string
	// AlertNames are the Alertmanager alertname values this playbook answers.
	AlertNames []string
	// Severity is the default severity ("P1".."P9").
	Severity string
	// EscalateAfter, when positive, escalates an incident still unresolved
	// this long after it opened.
	EscalateAfter time.Duration
	// Steps are the ordered checklist.
	Steps []Step
	// Source is where the playbook came from: "built-in" or a file path.
	Source string

	// at locates the playbook's keys in its file for error messages.
	at *origin
}

// origin is where a playbook was read: its file, the key prefix of a
// playbook inside a list ("[2]."), and the line of each key.
type origin struct {
	file   string
	prefix string
	lines  map[string]int
}

// Step is one item of a playbook's checklist.
type Step struct {
	// Title is the step's headline ("Check worker health").
	Title string
	// Text is the checklist, verbatim, one item per line.
	Text string
	// Diagnostics are the read-only checks run for this step, possibly none.
	Diagnostics []string
	// Destructive are remediation commands shown for a human to run by
	// hand; the bot never runs them.
	Destructive []string
}

// Names returns the playbook's name followed by its aliases.
func (p Playbook) Names() []string { return append([]string{p.Name}, p.Aliases...) }

// DisplayTitle returns Title, or Name when no title is set.
func (p Playbook) DisplayTitle() string {
	if p.Title != "" {
		return p.Title
	}
	return p.Name
}

// UsesDiagnostics returns the distinct diagnostics of all steps, in step order.
func (p Playbook) UsesDiagnostics() []string {
	var out []string
	for _, s := range p.Steps {
		for _, d := range s.Diagnostics {
			if !slices.Contains(out, d) {
				out = append(out, d)
			}
		}
	}
	return out
}

// Set is a validated collection of playbooks with unique names, aliases and
// alertnames. It is read-only after Load, so it is safe for concurrent use.
type Set struct {
	list   []Playbook
	byName map[string]int // name or alias → index
	byAlrt map[string]int // alertname → index
}

// All returns every playbook: the built-ins first, then the extra files in
// the configured order.
func (s *Set) All() []Playbook { return slices.Clone(s.list) }

// Find returns the playbook with name or alias n (case-insensitive).
func (s *Set) Find(n string) (Playbook, bool) {
	i, ok := s.byName[strings.ToLower(strings.TrimSpace(n))]
	if !ok {
		return Playbook{}, false
	}
	return s.list[i], true
}

// ForAlert returns the playbook whose alertnames hold alertname (exact match,
// as Alertmanager label values are case-sensitive).
func (s *Set) ForAlert(alertname string) (Playbook, bool) {
	i, ok := s.byAlrt[alertname]
	if !ok {
		return Playbook{}, false
	}
	return s.list[i], true
}

// Names returns the canonical names of all playbooks, in order.
func (s *Set) Names() []string {
	out := make([]string, len(s.list))
	for i, p := range s.list {
		out[i] = p.Name
	}
	return out
}

//go:embed builtin/*.yaml
var builtinFS embed.FS

// builtinOrder is the order of the runbook's §4.
var builtinOrder = []string{"high-error-rate", "high-latency", "queue-depth", "disk-space", "cert-expiry"}

// BuiltIn returns the five built-in playbooks in the runbook's order. It
// panics only if the embedded files are broken, which the tests rule out.
func BuiltIn() []Playbook {
	out, err := builtIn()
	if err != nil {
		panic(fmt.Sprintf("playbook: the built-in playbooks are invalid: %v", err))
	}
	return out
}

func builtIn() ([]Playbook, error) {
	var out []Playbook
	var errs []config.FieldError
	for _, name := range builtinOrder {
		file := path.Join("builtin", name+".yaml")
		data, err := fs.ReadFile(builtinFS, file)
		if err != nil {
			return nil, fmt.Errorf("read built-in playbook %s: %w", name, err)
		}
		pbs, ferrs := decodeFile(config.BuiltIn+":"+file, data)
		errs = append(errs, ferrs...)
		for i := range pbs {
			pbs[i].Source = config.BuiltIn
		}
		out = append(out, pbs...)
	}
	if len(errs) > 0 {
		return nil, &config.ValidationError{Errors: sortErrors(errs)}
	}
	return out, nil
}

// Load returns the built-ins plus the playbooks of files (absolute paths, as
// config.Load resolves them). severities are the severity names a playbook
// may default to (config.SeverityNames); nil allows P1–P4. Every problem of
// every file is reported at once as a *config.ValidationError with file,
// line and key.
func Load(files []string, severities []string) (*Set, error) {
	pbs, err := builtIn()
	if err != nil {
		return nil, err
	}
	var errs []config.FieldError
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, config.FieldError{File: f, Msg: "cannot read the playbook file: " + pathError(err)})
			continue
		}
		extra, ferrs := decodeFile(f, data)
		errs = append(errs, ferrs...)
		pbs = append(pbs, extra...)
	}
	set, verrs := build(pbs, severities)
	errs = append(errs, verrs...)
	if len(errs) > 0 {
		return nil, &config.ValidationError{Errors: sortErrors(errs)}
	}
	return set, nil
}

// sortErrors orders errors by file (in order of first appearance), then line.
func sortErrors(errs []config.FieldError) []config.FieldError {
	order := map[string]int{}
	for _, e := range errs {
		if _, ok := order[e.File]; !ok {
			order[e.File] = len(order)
		}
	}
	sort.SliceStable(errs, func(i, j int) bool {
		if fi, fj := order[errs[i].File], order[errs[j].File]; fi != fj {
			return fi < fj
		}
		return errs[i].Line < errs[j].Line
	})
	return errs
}

// Parse decodes and validates one playbook file held in memory (a single
// playbook mapping, or a list of them) together with the built-ins; name is
// used in error messages.
func Parse(name string, data []byte, severities []string) (*Set, error) {
	pbs, err := builtIn()
	if err != nil {
		return nil, err
	}
	extra, errs := decodeFile(name, data)
	pbs = append(pbs, extra...)
	set, verrs := build(pbs, severities)
	errs = append(errs, verrs...)
	if len(errs) > 0 {
		return nil, &config.ValidationError{Errors: sortErrors(errs)}
	}
	return set, nil
}

// pathError shortens an os error to its cause ("no such file or directory").
func pathError(err error) string {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err.Error()
	}
	return err.Error()
}

// reserved are words /triage uses itself.
var reserved = []string{"list", "help"}

// build checks what spans playbooks (unique names, aliases, alertnames and
// severities) and indexes them.
func build(pbs []Playbook, severities []string) (*Set, []config.FieldError) {
	if severities == nil {
		severities = []string{"P1", "P2", "P3", "P4"}
	}
	s := &Set{byName: map[string]int{}, byAlrt: map[string]int{}}
	var errs []config.FieldError
	for _, p := range pbs {
		idx := len(s.list)
		ok := true
		for j, n := range p.Names() {
			key := "name"
			if j > 0 {
				key = fmt.Sprintf("aliases[%d]", j-1)
			}
			n = strings.ToLower(n)
			if slices.Contains(reserved, n) {
				errs = append(errs, p.fieldError(key, fmt.Sprintf("%q is reserved by /triage %s", n, n)))
				ok = false
				continue
			}
			if prev, dup := s.byName[n]; dup {
				errs = append(errs, p.fieldError(key, fmt.Sprintf("%q is already used by playbook %s (%s)", n, s.list[prev].Name, s.list[prev].Source)))
				ok = false
				continue
			}
		}
		for j, a := range p.AlertNames {
			if prev, dup := s.byAlrt[a]; dup {
				errs = append(errs, p.fieldError(fmt.Sprintf("alertnames[%d]", j), fmt.Sprintf("alertname %q is already answered by playbook %s", a, s.list[prev].Name)))
				ok = false
			}
		}
		if p.Severity != "" && !slices.Contains(severities, p.Severity) {
			errs = append(errs, p.fieldError("severity", fmt.Sprintf("%q is not a configured severity (%s)", p.Severity, strings.Join(severities, ", "))))
			ok = false
		}
		if !ok {
			continue
		}
		s.list = append(s.list, p)
		for _, n := range p.Names() {
			s.byName[strings.ToLower(n)] = idx
		}
		for _, a := range p.AlertNames {
			s.byAlrt[a] = idx
		}
	}
	return s, errs
}

// fieldError reports a problem about key of p at the line it was read from.
func (p Playbook) fieldError(key, msg string) config.FieldError {
	if p.at == nil {
		return config.FieldError{File: p.Source, Key: key, Msg: msg}
	}
	line, ok := p.at.lines[key]
	if !ok {
		line = p.at.lines[""]
	}
	return config.FieldError{File: p.at.file, Line: line, Key: p.at.prefix + key, Msg: msg}
}
