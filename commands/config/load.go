package config

import (
	_ "embed" // the built-in configuration
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // time zones load even on hosts without /usr/share/zoneinfo

	"gopkg.in/yaml.v3"
)

// defaultYAML is the built-in ContextInject configuration, verbatim SPEC §4.
//
//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML returns the text of the built-in configuration.
func DefaultYAML() []byte { return append([]byte(nil), defaultYAML...) }

// BuiltIn is the Source of the built-in configuration.
const BuiltIn = "built-in"

// DefaultFile is the configuration file Resolve looks for in the working
// directory when ONCALL_CONFIG is unset.
const DefaultFile = "oncall.yaml"

// Default returns the built-in configuration, parsed afresh on each call so
// callers may modify it. It panics only if the embedded file is broken, which
// the package tests rule out.
func Default() *Config {
	c, err := Parse(BuiltIn, defaultYAML)
	if err != nil {
		panic(fmt.Sprintf("config: the built-in configuration is invalid: %v", err))
	}
	return c
}

// Resolve returns the configuration named by ONCALL_CONFIG (SPEC §3): path
// when set, else ./oncall.yaml when that file exists, else the built-in one.
func Resolve(path string) (*Config, error) {
	if path != "" {
		return Load(path)
	}
	_, err := os.Stat(DefaultFile)
	switch {
	case err == nil:
		return Load(DefaultFile)
	case errors.Is(err, fs.ErrNotExist):
		return Default(), nil
	default:
		return nil, fmt.Errorf("look for %s: %w", DefaultFile, err)
	}
}

// Load reads, decodes and validates the configuration file at path. Playbook
// and template paths are resolved against the file's directory and must exist.
// Problems of the content come back as one *ValidationError listing them all.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("read configuration %s: %w", path, err)
	}
	return parse(path, data, filepath.Dir(abs))
}

// Parse decodes and validates a configuration held in memory; name is used in
// error messages and as Source. Playbook and template paths are kept as written
// and not checked.
func Parse(name string, data []byte) (*Config, error) {
	return parse(name, data, "")
}

// parse decodes data; dir, when set, is the directory extra files are resolved
// against and checked in.
func parse(name string, data []byte, dir string) (*Config, error) {
	d := newDecoder(name)
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		d.errs = append(d.errs, syntaxError(name, err))
		return nil, d.result()
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		d.errorf(1, "", "the configuration is empty")
		return nil, d.result()
	}
	root := resolve(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		d.errorf(root.Line, "", "the configuration must be a mapping of keys (timezone:, people:, …), got %s", kindName(root))
		return nil, d.result()
	}
	d.loc = peekLocation(root)

	c := &Config{Source: name}
	d.lines[""] = root.Line
	d.decode(root, "", reflect.ValueOf(c).Elem())
	d.validate(c, dir)
	if err := d.result(); err != nil {
		return nil, err
	}
	return c, nil
}

var (
	yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	// parserError matches the errors of yaml.v3's parser (not its scanner),
	// whose line yaml.v3 v3.0.1 reports 0-based (yaml.go, parser.fail).
	parserError = regexp.MustCompile(`^did not find expected (<document start>|node content|key|'-' indicator|',' or '\]'|',' or '\}')$`)
)

// syntaxError turns a yaml.v3 parse error into a FieldError with its line.
func syntaxError(file string, err error) FieldError {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		if parserError.MatchString(m[2]) {
			line++
		}
		return FieldError{File: file, Line: line, Msg: "invalid YAML: " + m[2]}
	}
	return FieldError{File: file, Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

// peekLocation reads the timezone key before decoding so times written without
// an offset are read in it; a bad zone falls back to UTC and is reported by
// validate.
func peekLocation(root *yaml.Node) *time.Location {
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], resolve(root.Content[i+1])
		if k.Value == "timezone" && v.Kind == yaml.ScalarNode && v.Value != "" {
			if loc, err := loadLocation(v.Value); err == nil {
				return loc
			}
		}
	}
	return time.UTC
}

// loadLocation loads an IANA zone, refusing "Local" (it would depend on the host).
func loadLocation(name string) (*time.Location, error) {
	if name == "Local" {
		return nil, errors.New("local time depends on the host")
	}
	return time.LoadLocation(name)
}
