package config

import (
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// FieldError is one problem of a configuration file, at a line and key path
// such as "escalation.steps[1].notify[0]".
type FieldError struct {
	File string
	Line int    // 0 when unknown
	Key  string // "" for errors about the whole file
	Msg  string
}

// Error formats e as "file:line: key: msg".
func (e FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ValidationError holds every problem found in a configuration, sorted by line.
type ValidationError struct {
	Errors []FieldError
}

// Error prints one problem per line.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		lines[i] = fe.Error()
	}
	return strings.Join(lines, "\n")
}

// decoder walks a yaml.v3 node tree into Go values by their yaml tags, strictly:
// it collects every unknown key, type error and (later) validation error with
// the file, line and key path, instead of stopping at the first.
type decoder struct {
	file  string
	loc   *time.Location // zone of times written without an offset
	errs  []FieldError
	lines map[string]int // key path → line of its value

	// merging holds the mappings being merged (<<), to refuse a merge that
	// includes itself; nodes counts decoded nodes against maxNodes, so aliases
	// cannot blow a small file up into an enormous one.
	merging map[*yaml.Node]bool
	nodes   int
	tooBig  bool
}

// maxNodes bounds the nodes decoded, aliases expanded, in one file: far more
// than any team configuration needs.
const maxNodes = 100_000

func newDecoder(file string) *decoder {
	return &decoder{file: file, loc: time.UTC, lines: map[string]int{}, merging: map[*yaml.Node]bool{}}
}

// errorf records an error at an explicit line.
func (d *decoder) errorf(line int, key, format string, args ...any) {
	d.errs = append(d.errs, FieldError{File: d.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// fail records an error about key at the line of key, or of its nearest
// ancestor present in the file when key itself is missing.
func (d *decoder) fail(key, format string, args ...any) {
	d.errorf(d.line(key), key, format, args...)
}

// line returns the line of key or of its nearest ancestor present in the file.
func (d *decoder) line(key string) int {
	for {
		if l, ok := d.lines[key]; ok {
			return l
		}
		if key == "" {
			return 0
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			key = ""
		} else {
			key = key[:i]
		}
	}
}

// has reports whether key is present in the file (even with an empty value).
func (d *decoder) has(key string) bool {
	_, ok := d.lines[key]
	return ok
}

// result returns the collected errors as a *ValidationError, or nil.
func (d *decoder) result() error {
	if len(d.errs) == 0 {
		return nil
	}
	sort.SliceStable(d.errs, func(i, j int) bool { return d.errs[i].Line < d.errs[j].Line })
	return &ValidationError{Errors: d.errs}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var (
	durationType = reflect.TypeFor[Duration]()
	targetType   = reflect.TypeFor[Target]()
	timeType     = reflect.TypeFor[time.Time]()
)

// resolve follows aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// decode stores node n, found at key path, into v.
func (d *decoder) decode(n *yaml.Node, path string, v reflect.Value) {
	n = resolve(n)
	if n == nil || d.budget(n) {
		return
	}
	d.lines[path] = n.Line
	switch v.Type() {
	case durationType:
		if s, ok := d.scalar(n, path, "a duration"); ok {
			dur, err := ParseDuration(s)
			if err != nil {
				d.errorf(n.Line, path, "%s", err)
				return
			}
			v.Set(reflect.ValueOf(dur))
		}
		return
	case targetType:
		if s, ok := d.scalar(n, path, "a duration or "+NextBusinessDay); ok {
			t, err := ParseTarget(s)
			if err != nil {
				d.errorf(n.Line, path, "%s", err)
				return
			}
			v.Set(reflect.ValueOf(t))
		}
		return
	case timeType:
		if s, ok := d.scalar(n, path, "a time"); ok {
			t, err := parseTime(s, d.loc)
			if err != nil {
				d.errorf(n.Line, path, "%s", err)
				return
			}
			v.Set(reflect.ValueOf(t))
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if isNull(n) {
			return
		}
		p := reflect.New(v.Type().Elem())
		d.decode(n, path, p.Elem())
		v.Set(p)
	case reflect.Struct:
		d.decodeStruct(n, path, v)
	case reflect.Slice:
		if isNull(n) {
			return
		}
		if n.Kind != yaml.SequenceNode {
			d.errorf(n.Line, path, "expected a list, got %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(item, fmt.Sprintf("%s[%d]", path, i), s.Index(i))
		}
		v.Set(s)
	case reflect.Map:
		if isNull(n) {
			return
		}
		if n.Kind != yaml.MappingNode {
			d.errorf(n.Line, path, "expected a mapping, got %s", kindName(n))
			return
		}
		m := reflect.MakeMap(v.Type())
		for _, kv := range d.pairs(n, path) {
			e := reflect.New(v.Type().Elem()).Elem()
			d.decode(kv.value, join(path, kv.key), e)
			d.keyLine(join(path, kv.key), kv)
			m.SetMapIndex(reflect.ValueOf(kv.key), e)
		}
		v.Set(m)
	case reflect.String:
		if s, ok := d.scalar(n, path, "a text value"); ok {
			v.SetString(s)
		}
	case reflect.Int:
		if s, ok := d.scalar(n, path, "a whole number"); ok {
			i, err := strconv.Atoi(strings.ReplaceAll(s, "_", ""))
			if err != nil {
				d.errorf(n.Line, path, "%q is not a whole number", s)
				return
			}
			v.SetInt(int64(i))
		}
	default:
		// Only reachable if a field of an unsupported kind is added to Config.
		d.errorf(n.Line, path, "cannot decode into %s", v.Type())
	}
}

// budget counts n and reports true, once with an error, when the file expands
// to more than maxNodes nodes.
func (d *decoder) budget(n *yaml.Node) bool {
	d.nodes++
	if d.nodes <= maxNodes {
		return false
	}
	if !d.tooBig {
		d.tooBig = true
		d.errorf(n.Line, "", "the configuration expands to more than %d values (aliases?)", maxNodes)
	}
	return true
}

// scalar returns n's value, "" for null; it records an error for a mapping or
// list in place of a single value.
func (d *decoder) scalar(n *yaml.Node, path, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n.Line, path, "expected %s, got %s", what, kindName(n))
		return "", false
	}
	if isNull(n) {
		return "", true
	}
	return n.Value, true
}

type pair struct {
	key   string
	line  int
	value *yaml.Node
}

// pairs returns a mapping's entries, expanding YAML merge keys ("<<: *base")
// with explicit keys winning, and reporting non-text and duplicate keys.
func (d *decoder) pairs(n *yaml.Node, path string) []pair {
	var out []pair
	seen := map[string]int{}
	var merged []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k.Line, path, "a key must be text, got %s", kindName(k))
			continue
		}
		if k.Tag == "!!merge" {
			merged = append(merged, d.mergePairs(val, path)...)
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.errorf(k.Line, join(path, k.Value), "duplicate key (first at line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		out = append(out, pair{key: k.Value, line: k.Line, value: val})
	}
	for _, p := range merged {
		if _, dup := seen[p.key]; !dup {
			seen[p.key] = p.line
			out = append(out, p)
		}
	}
	return out
}

// mergePairs returns the entries a merge key brings in: one mapping or a list
// of mappings, earlier ones winning.
func (d *decoder) mergePairs(val *yaml.Node, path string) []pair {
	val = resolve(val)
	if val == nil || d.budget(val) {
		return nil
	}
	if d.merging[val] {
		d.errorf(val.Line, path, "a merge key (<<) includes the mapping it is in")
		return nil
	}
	d.merging[val] = true
	defer delete(d.merging, val)
	switch val.Kind {
	case yaml.MappingNode:
		return d.pairs(val, path)
	case yaml.SequenceNode:
		var out []pair
		seen := map[string]bool{}
		for _, item := range val.Content {
			for _, p := range d.mergePairs(item, path) {
				if !seen[p.key] {
					seen[p.key] = true
					out = append(out, p)
				}
			}
		}
		return out
	}
	d.errorf(val.Line, path, "a merge key (<<) needs a mapping, got %s", kindName(val))
	return nil
}

// keyLine makes a block mapping or list count as being on its key's line, so a
// missing key inside "rotation:" is reported at "rotation:", not at the line
// of its first entry.
func (d *decoder) keyLine(path string, kv pair) {
	if v := resolve(kv.value); v != nil && (v.Kind == yaml.MappingNode || v.Kind == yaml.SequenceNode) {
		d.lines[path] = kv.line
	}
}

// decodeStruct decodes a mapping into a struct by yaml tags; keys without a
// field are unknown keys.
func (d *decoder) decodeStruct(n *yaml.Node, path string, v reflect.Value) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n.Line, path, "expected a mapping, got %s", kindName(n))
		return
	}
	fields := map[string]int{}
	var names []string
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "" || name == "-" {
			continue
		}
		fields[name] = i
		names = append(names, name)
	}
	for _, kv := range d.pairs(n, path) {
		i, ok := fields[kv.key]
		if !ok {
			d.errorf(kv.line, join(path, kv.key), "unknown key (known keys: %s)", strings.Join(names, ", "))
			continue
		}
		d.decode(kv.value, join(path, kv.key), v.Field(i))
		d.keyLine(join(path, kv.key), kv)
	}
}

var hasOffset = regexp.MustCompile(`(Z|[+-]\d\d(:?\d\d)?)$`)

// parseTime reads a YAML timestamp. Values without a UTC offset are read in loc.
func parseTime(s string, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	layouts := []string{"2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"}
	if hasOffset.MatchString(s) && len(s) > len("2006-01-02") {
		layouts = []string{time.RFC3339Nano, "2006-01-02 15:04:05Z07:00", "2006-01-02T15:04Z07:00", "2006-01-02 15:04Z07:00", "2006-01-02T15:04:05Z0700", "2006-01-02T15:04:05-07"}
	}
	for _, l := range layouts {
		if t, err := time.ParseInLocation(l, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time (use 2026-11-02T09:00:00Z, or 2026-11-02T09:00:00 in the configured timezone)", s)
}
