package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/store/storetest"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// TestPipedConsoleAnswersOncall is `printf '/oncall\n' | oncallbot` with no
// Slack tokens: the local workspace starts, answers and exits at end of input.
func TestPipedConsoleAnswersOncall(t *testing.T) {
	env := map[string]string{
		"DATABASE_URL": storetest.FreshURL(t),
		"HTTP_ADDR":    "127.0.0.1:0",
		"REDIS_URL":    os.Getenv("TEST_REDIS_URL"),
	}
	var out, errOut bytes.Buffer
	code := run(nil, envOf(env), strings.NewReader("/oncall\n/oncall schedule 2\n"), &out, &errOut)
	require.Equal(t, 0, code, "stderr: %s", errOut.String())
	s := out.String()
	require.Contains(t, s, "On call now")
	for _, name := range []string{"Engineer A", "Engineer B", "Engineering Lead", "CTO"} {
		require.Contains(t, s, name)
	}
	require.Contains(t, s, "Next 2 shifts")
	require.NotContains(t, errOut.String(), "xoxb-")
}

func TestCheckConfig(t *testing.T) {
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run([]string{"check-config"}, envOf(nil), nil, &out, &errOut), errOut.String())
	require.Contains(t, out.String(), "Engineer A")

	dir := t.TempDir()
	bad := filepath.Join(dir, "oncall.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("timezone: UTC\nrotation:\n  length: 1x\n  poool: []\n"), 0o600))
	out.Reset()
	errOut.Reset()
	require.Equal(t, 1, run([]string{"check-config", bad}, envOf(nil), nil, &out, &errOut))
	require.Contains(t, errOut.String(), "oncall.yaml:3: rotation.length")
	require.Contains(t, errOut.String(), "oncall.yaml:4: rotation.poool: unknown key")
}

func TestInvalidConfigStopsStartWithNothingChanged(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "oncall.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("timezone: Mars/Olympus\n"), 0o600))
	var out, errOut bytes.Buffer
	code := run(nil, envOf(map[string]string{"ONCALL_CONFIG": bad, "DATABASE_URL": "postgres://127.0.0.1:1/none"}), strings.NewReader(""), &out, &errOut)
	require.Equal(t, 1, code)
	require.Contains(t, errOut.String(), "invalid configuration; nothing was started or changed")
	require.Contains(t, errOut.String(), "timezone")
}

func TestUnreachableDatabaseIsOneClearLine(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(nil, envOf(map[string]string{"DATABASE_URL": "postgres://u:secret@127.0.0.1:1/oncallbot", "HTTP_ADDR": "127.0.0.1:0"}), strings.NewReader(""), &out, &errOut)
	require.Equal(t, 1, code)
	msg := errOut.String()
	require.Contains(t, msg, "127.0.0.1:1")
	require.Contains(t, msg, "scripts/services.sh")
	require.NotContains(t, msg, "secret")
	require.Equal(t, 1, strings.Count(strings.TrimSpace(msg), "\n")+1, msg)
}

func TestOneTokenOnlyIsRefused(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(nil, envOf(map[string]string{"SLACK_BOT_TOKEN": "xoxb-1"}), strings.NewReader(""), &out, &errOut)
	require.Equal(t, 2, code)
	require.Contains(t, errOut.String(), "set both SLACK_APP_TOKEN")
	require.NotContains(t, errOut.String(), "xoxb-1")
}
