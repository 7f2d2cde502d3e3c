package app_test

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
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
	require.NoError(t, c.AddResource("manifest.schema.json", schemaDoc))
	sch, err := c.Compile("manifest.schema.json")
	require.NoError(t, err)
	require.NoError(t, sch.Validate(inst))
	require.True(t, m.Settings.SocketMode)
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
