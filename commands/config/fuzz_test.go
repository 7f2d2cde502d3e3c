package config

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzParse checks that no input makes Parse panic: it returns a configuration
// or an error.
func FuzzParse(f *testing.F) {
	f.Add(defaultYAML)
	f.Add([]byte("people: &p [*p]\n"))
	f.Add([]byte("a: &a {b: *a}\nrotation: *a\n"))
	f.Add([]byte("severities: {P1: {<<: [*x]}}\n"))
	f.Add([]byte("handoff: {reminder: \"TZ=\"}\n"))
	f.Add([]byte("rotation: {start: 2026-02-30T25:00:00Z}\n"))
	f.Add([]byte("rotation: &a {<<: *a}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data)
		if err == nil && c == nil {
			t.Fatal("no configuration and no error")
		}
	})
}

// TestAliasBombsAndCycles checks that self-merging mappings and exponential
// alias expansion end with an error instead of a crash or a hang.
func TestAliasBombsAndCycles(t *testing.T) {
	t.Parallel()
	_, err := Parse("x.yaml", []byte("rotation: &a {pool: [U0A], <<: *a}\n"))
	require.ErrorContains(t, err, "x.yaml:1: rotation: a merge key (<<) includes the mapping it is in")

	var b strings.Builder
	b.WriteString("links:\n  - &m0 {name: a, url: http://a}\n")
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(&b, "  - &m%d {<<: [*m%d, *m%d]}\n", i, i-1, i-1)
	}
	_, err = Parse("x.yaml", []byte(b.String()))
	require.ErrorContains(t, err, "expands to more than")
}
