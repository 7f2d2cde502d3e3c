package links_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/bot/app/apptest"
	"github.com/contextinject/oncallbot/bot/slacksim"
	"github.com/contextinject/oncallbot/commands/config"
	"github.com/contextinject/oncallbot/commands/links"
)

func TestList(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		in   config.Link
		want string
	}{
		{"plain", config.Link{Name: "Grafana", URL: "https://grafana.example"}, "• <https://grafana.example|Grafana>"},
		{"name that would break the link", config.Link{Name: "a|b <!channel> & c", URL: "https://x.example/a|b>"}, "• <https://x.example/a%7Cb%3E|a¦b &lt;!channel&gt; &amp; c>"},
	}
	for _, tc := range cases {
		require.Equal(t, tc.want, links.List([]config.Link{tc.in}, "• "), tc.name)
	}
	require.Equal(t, "☐ <https://a.example|A>\n☐ <https://b.example|B>",
		links.List([]config.Link{{Name: "A", URL: "https://a.example"}, {Name: "B", URL: "https://b.example"}}, "☐ "))

	many := make([]config.Link, 200)
	for i := range many {
		many[i] = config.Link{Name: strings.Repeat("n", 60), URL: "https://example.com/" + strings.Repeat("p", 40)}
	}
	blocks := links.Blocks(many, "*Toolkit*", "• ")
	require.Greater(t, len(blocks), 1, "long lists are split across sections")
}

func TestOncallLinks(t *testing.T) {
	t.Parallel()
	h := apptest.New(t, apptest.Options{})
	h.Slash(t, "U0ENGB", "C0ENGINEERING", "/oncall links")
	m := h.WaitEphemeral(t, "U0ENGB", "On-call toolkit")
	text := m.AllText()
	for _, l := range config.Default().Links {
		require.Contains(t, text, "<"+l.URL+"|"+l.Name+">")
	}
	require.Len(t, config.Default().Links, 9, "runbook §8's quick-access links are the built-in set")

	h.Slash(t, "U0ENGB", "C0ENGINEERING", "/oncall links grafana")
	h.WaitEphemeral(t, "U0ENGB", "`/oncall links` takes no arguments", "Usage: /oncall links")

	h.Slash(t, "U0ENGB", "C0ENGINEERING", "/oncall help")
	h.WaitEphemeral(t, "U0ENGB", "/oncall links — the on-call toolkit links")

	_, err := h.Sim.OpenHome("U0ENGA")
	require.NoError(t, err)
	_, err = h.Sim.WaitView(10*time.Second, func(v *slacksim.View) bool {
		return v.User == "U0ENGA" && v.Type == "home" && strings.Contains(string(v.Raw), "On-call toolkit") &&
			strings.Contains(string(v.Raw), "https://status.cohere.com|Cohere status")
	})
	require.NoError(t, err)
}

func TestOncallLinksNoneConfigured(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.Links = nil
	h := apptest.New(t, apptest.Options{Config: cfg})
	h.Slash(t, "U0ENGA", "C0ENGINEERING", "/oncall links")
	h.WaitEphemeral(t, "U0ENGA", "No toolkit links are configured")
}
