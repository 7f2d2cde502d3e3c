package commands

import (
	"regexp"
	"strings"

	"github.com/contextinject/oncallbot/commands/config"
)

var mentionRE = regexp.MustCompile(`^<@([UW][A-Z0-9]{1,20})(?:\|[^>]{0,80})?>$`)
var userIDRE = regexp.MustCompile(`^@?([UW][A-Z0-9]{1,20})$`)

// ParseMention returns the user ID of a mention as Slack sends it in slash
// text (<@U123> or <@U123|name>); a bare U123 or @U123 is accepted too.
func ParseMention(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if m := mentionRE.FindStringSubmatch(s); m != nil {
		return m[1], true
	}
	if m := userIDRE.FindStringSubmatch(s); m != nil {
		return m[1], true
	}
	return "", false
}

// Mention renders a person as "Name (<@U…>)": the name reads well in
// notifications and logs, the mention links the person in Slack.
func Mention(c *config.Config, id string) string {
	if id == "" {
		return "nobody"
	}
	if p, ok := c.Person(id); ok {
		return p.Name + " (<@" + id + ">)"
	}
	return "<@" + id + ">"
}

// Fields splits slash text on white space, keeping a mention with a
// display name (<@U1|Jane Doe>) as one field.
func Fields(s string) []string {
	var out []string
	for _, f := range strings.Fields(s) {
		if n := len(out); n > 0 && strings.HasPrefix(out[n-1], "<@") && !strings.HasSuffix(out[n-1], ">") {
			out[n-1] += " " + f
			continue
		}
		out = append(out, f)
	}
	return out
}
