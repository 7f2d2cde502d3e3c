package config

import (
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// NextBusinessDay is the Target word for "by the next business day".
const NextBusinessDay = "next_business_day"

// ParseDuration parses a configuration duration ("15m", "1h", "168h", "0m").
// The error is a sentence meant to follow a key: `"1x" is not a duration (use
// 15m, 1h, 168h)`.
func ParseDuration(s string) (Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (use 15m, 1h, 168h)", s)
	}
	return Duration(d), nil
}

// String formats d the way it is written in oncall.yaml: "15m", "1h30m", "168h".
func (d Duration) String() string { return FormatDuration(time.Duration(d)) }

// FormatDuration writes d without zero units: 15m, 1h, 1h30m, 168h, 90s, 0m.
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0m"
	}
	s := d.String() // e.g. "1h30m0s", "15m0s", "168h0m0s", "1.5s"
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// UnmarshalYAML lets a Duration be decoded by yaml.v3 anywhere (playbooks use it).
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: expected a duration, got %s", n.Line, kindName(n))
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = v
	return nil
}

// MarshalYAML writes d as in oncall.yaml.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// ParseTarget parses a response target: a positive duration or
// "next_business_day".
func ParseTarget(s string) (Target, error) {
	if strings.TrimSpace(s) == NextBusinessDay {
		return Target{NextBusinessDay: true}, nil
	}
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return Target{}, fmt.Errorf("%q is neither a duration nor %s (use 15m, 1h, 168h or %s)", s, NextBusinessDay, NextBusinessDay)
	}
	if d <= 0 {
		return Target{}, fmt.Errorf("%q must be a positive duration", s)
	}
	return Target{Duration: d}, nil
}

// String writes t as in oncall.yaml; "" when not set.
func (t Target) String() string {
	switch {
	case t.NextBusinessDay:
		return NextBusinessDay
	case t.Duration == 0:
		return ""
	}
	return FormatDuration(t.Duration)
}

// UnmarshalYAML lets a Target be decoded by yaml.v3 anywhere.
func (t *Target) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: expected a duration or %s, got %s", n.Line, NextBusinessDay, kindName(n))
	}
	v, err := ParseTarget(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*t = v
	return nil
}

// MarshalYAML writes t as in oncall.yaml.
func (t Target) MarshalYAML() (any, error) { return t.String(), nil }

// KindName names a YAML node's kind for error messages ("a mapping",
// "a list", a quoted scalar, …); the playbook and template loaders share it.
func KindName(n *yaml.Node) string { return kindName(n) }

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "a document"
}
