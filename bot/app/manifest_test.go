package app_test

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/contextinject/oncallbot/bot/app/apptest"
)

type manifest struct {
	Features struct {
		SlashCommands []struct {
			Command string `yaml:"command"`
		} `yaml:"slash_commands"`
	} `yaml:"features"`
	OAuth struct {
		Scopes struct {
			Bot []string `yaml:"bot"`
		} `yaml:"scopes"`
	} `yaml:"oauth_config"`
	Settings struct {
		Events struct {
			Bot []string `yaml:"bot_events"`
		} `yaml:"event_subscriptions"`
		SocketMode bool `yaml:"socket_mode_enabled"`
	} `yaml:"settings"`
}

func readManifest(t *testing.T) ([]byte, manifest) {
	t.Helper()
	raw, err := os.ReadFile("../../manifest.yaml")
	require.NoError(t, err)
	var m manifest
	require.NoError(t, yaml.Unmarshal(raw, &m))
	return raw, m
}

// TestManifestValidatesAgainstSlackSchema checks manifest.yaml against
// Slack's manifest JSON schema (slackapi/manifest-schema v1.0.0, vendored).
func TestManifestValidatesAgainstSlackSchema(t *testing.T) {
	t.Parallel()
	raw, m := readManifest(t)
	var doc any
	require.NoError(t, yaml.Unmarshal(raw, &doc))
	js, err := json.Marshal(doc)
	require.NoError(t, err)
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	require.NoError(t, err)

	schemaRaw, err := os.ReadFile("../../testdata/slack-manifest.schema.json")
	require.NoError(t, err)
	schemaDoc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaRaw))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	c.UseRegexpEngine(lookaheadRegexp)
	require.NoError(t, c.AddResource("manifest.schema.json", schemaDoc))
	sch, err := c.Compile("manifest.schema.json")
	require.NoError(t, err)
	require.NoError(t, sch.Validate(inst))
	require.True(t, m.Settings.SocketMode)

	// The schema is really applied: a command without its slash is refused.
	bad := strings.Replace(string(js), `"command":"/oncall"`, `"command":"oncall"`, 1)
	badInst, err := jsonschema.UnmarshalJSON(strings.NewReader(bad))
	require.NoError(t, err)
	require.Error(t, sch.Validate(badInst))
}

// TestManifestCommandsMatchRouter keeps the manifest and the router in step:
// every command Slack will send is routed, and every routed command is declared.
func TestManifestCommandsMatchRouter(t *testing.T) {
	t.Parallel()
	_, m := readManifest(t)
	var declared []string
	for _, c := range m.Features.SlashCommands {
		declared = append(declared, c.Command)
	}
	h := apptest.New(t, apptest.Options{})
	routed := h.App.Registry.Commands()
	slices.Sort(declared)
	slices.Sort(routed)
	require.Equal(t, declared, routed)
	// Every event type the bot handles is subscribed, and nothing more.
	for _, ev := range m.Settings.Events.Bot {
		require.NotEmpty(t, h.App.Registry.LookupEvent(ev), "manifest subscribes to %s but nothing handles it", ev)
	}
}

// lookaheadRegexp compiles the schema's patterns with Go's regexp, adding the
// one ECMAScript feature Slack's schema uses that Go lacks: a leading
// negative lookahead `^(?!X)rest`, matched as `^rest` and not `^X`.
func lookaheadRegexp(pattern string) (jsonschema.Regexp, error) {
	if rest, ok := strings.CutPrefix(pattern, "^(?!"); ok {
		if i := strings.Index(rest, ")"); i > 0 {
			not, err := regexp.Compile("^(?:" + rest[:i] + ")")
			if err != nil {
				return nil, err
			}
			re, err := regexp.Compile("^" + rest[i+1:])
			if err != nil {
				return nil, err
			}
			return negLookahead{src: pattern, not: not, re: re}, nil
		}
	}
	return regexp.Compile(pattern)
}

type negLookahead struct {
	src     string
	not, re *regexp.Regexp
}

func (n negLookahead) MatchString(s string) bool { return !n.not.MatchString(s) && n.re.MatchString(s) }
func (n negLookahead) String() string            { return n.src }
