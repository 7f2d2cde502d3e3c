package monitoring

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/commands/config"
)

var t0 = time.Date(2026, 11, 4, 12, 0, 0, 0, time.UTC)

func alert(fp, status, instance string, starts time.Time) Alert {
	a := Alert{Status: status, Fingerprint: fp, StartsAt: starts,
		Labels:      map[string]string{"alertname": "DiskAlmostFull", "severity": "warning", "instance": instance},
		Annotations: map[string]string{"summary": "Disk 85% full on " + instance}}
	if status == Resolved {
		a.EndsAt = starts.Add(time.Hour)
	}
	return a
}

func group(status string, alerts ...Alert) Group {
	return Group{GroupKey: `{}:{alertname="DiskAlmostFull"}`, Status: status, ExternalURL: "http://alertmanager:9093",
		GroupLabels:  map[string]string{"alertname": "DiskAlmostFull"},
		CommonLabels: map[string]string{"alertname": "DiskAlmostFull", "severity": "warning"}, Alerts: alerts}
}

func TestMerge(t *testing.T) {
	t.Parallel()
	fire1 := group(Firing, alert("a1", Firing, "db-1", t0))
	fire2 := group(Firing, alert("a1", Firing, "db-1", t0), alert("a2", Firing, "db-2", t0.Add(time.Minute)))
	half := group(Firing, alert("a1", Resolved, "db-1", t0), alert("a2", Firing, "db-2", t0.Add(time.Minute)))
	done := group(Resolved, alert("a2", Resolved, "db-2", t0.Add(time.Minute)))
	cases := []struct {
		name    string
		steps   []Group
		changed []bool
		status  string
		firing  int
		alerts  int
	}{
		{"first notification", []Group{fire1}, []bool{true}, Firing, 1, 1},
		{"repeat changes nothing", []Group{fire1, fire1}, []bool{true, false}, Firing, 1, 1},
		{"second alert fires", []Group{fire1, fire2}, []bool{true, true}, Firing, 2, 2},
		{"one resolves", []Group{fire2, half}, []bool{true, true}, Firing, 1, 2},
		{"repeat of a resolution changes nothing", []Group{fire2, half, half}, []bool{true, true, false}, Firing, 1, 2},
		{"group resolves, absent alerts too", []Group{fire2, done}, []bool{true, true}, Resolved, 0, 2},
		{"fires again after resolving", []Group{fire1, group(Resolved, alert("a1", Resolved, "db-1", t0)), fire1}, []bool{true, true, true}, Firing, 1, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var s State
			for i, g := range tc.steps {
				require.NoError(t, Validate(g))
				var changed bool
				s, changed = Merge(s, g, t0.Add(time.Duration(i)*time.Hour))
				require.Equal(t, tc.changed[i], changed, "step %d", i)
			}
			require.Equal(t, tc.status, s.Status())
			require.Equal(t, tc.firing, s.Firing())
			require.Len(t, s.Alerts, tc.alerts)
			require.Equal(t, "DiskAlmostFull", s.Title)
		})
	}
}

func TestMergeKeepsFirstResolutionTimeAndKeysWithoutFingerprint(t *testing.T) {
	t.Parallel()
	a := alert("", Resolved, "db-1", t0)
	a.EndsAt = time.Time{} // Alertmanager always sets it; tolerate its absence
	s, _ := Merge(State{}, group(Resolved, a), t0.Add(2*time.Hour))
	require.Equal(t, t0.Add(2*time.Hour), s.Alerts[0].EndsAt)
	s2, changed := Merge(s, group(Resolved, a), t0.Add(5*time.Hour))
	require.False(t, changed)
	require.Equal(t, s, s2)
	require.True(t, strings.HasPrefix(s.Alerts[0].Key, "l"))
}

func TestAcks(t *testing.T) {
	t.Parallel()
	var s State
	s, ok := AddAck(s, "U0ENGA", t0)
	require.True(t, ok)
	_, ok = AddAck(s, "U0ENGA", t0.Add(time.Minute))
	require.False(t, ok, "a second ✅ of the same person changes nothing")
	s, ok = AddAck(s, "U0ENGB", t0.Add(time.Minute))
	require.True(t, ok)
	by, _ := s.AckedBy()
	require.Equal(t, "U0ENGA", by.User)
	s, ok = RemoveAck(s, "U0ENGA")
	require.True(t, ok)
	by, _ = s.AckedBy()
	require.Equal(t, Ack{User: "U0ENGB", At: t0.Add(time.Minute)}, by, "the next ✅ becomes the acknowledgement")
	_, ok = RemoveAck(s, "U0CTO")
	require.False(t, ok)
	s, _ = RemoveAck(s, "U0ENGB")
	_, acked := s.AckedBy()
	require.False(t, acked)
}

func TestValidate(t *testing.T) {
	t.Parallel()
	ok := group(Firing, alert("a", Firing, "x", t0))
	cases := []struct {
		name string
		mod  func(g *Group)
		want string
	}{
		{"no key", func(g *Group) { g.GroupKey = " " }, "groupKey is empty"},
		{"bad status", func(g *Group) { g.Status = "pending" }, `status "pending"`},
		{"no alerts", func(g *Group) { g.Alerts = nil }, "no alerts"},
		{"bad alert status", func(g *Group) { g.Alerts[0].Status = "" }, "alerts[0].status"},
		{"too many", func(g *Group) { g.Alerts = make([]Alert, maxAlerts+1) }, "at most 500"},
	}
	require.NoError(t, Validate(ok))
	for _, tc := range cases {
		g := group(Firing, alert("a", Firing, "x", t0))
		tc.mod(&g)
		err := Validate(g)
		require.Error(t, err, tc.name)
		require.Contains(t, err.Error(), tc.want, tc.name)
	}
}

func TestRender(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	evil := alert("e", Firing, "<!channel>", t0)
	evil.Annotations["summary"] = "ping <!here> & <https://evil|click>"
	s, _ := Merge(State{}, group(Firing, alert("a1", Firing, "db-1", t0), evil), t0)
	g := group(Firing)
	g.ExternalURL = "javascript:alert(1)"
	s, _ = Merge(s, Group{GroupKey: "k", Status: Firing, ExternalURL: g.ExternalURL, Alerts: []Alert{alert("a1", Firing, "db-1", t0)}}, t0)

	msg := Render(cfg, s)
	require.Equal(t, "[FIRING:2] DiskAlmostFull", msg.Text)
	raw, err := json.Marshal(msg.Blocks)
	require.NoError(t, err)
	text := string(raw)
	require.Contains(t, text, "instance=db-1")
	require.Contains(t, text, "Disk 85% full on db-1")
	require.Contains(t, text, "react with :white_check_mark: to acknowledge")
	require.Contains(t, text, "\\u003chttp://alertmanager:9093|Alertmanager\\u003e")
	require.NotContains(t, text, "javascript")
	require.NotContains(t, text, "\\u003c!channel\\u003e", "labels cannot ping the channel")
	require.NotContains(t, text, "\\u003c!here\\u003e")
	require.Contains(t, text, "\\u0026lt;!here\\u0026gt;")

	s, _ = AddAck(s, "U0ENGB", t0.Add(5*time.Minute))
	s, _ = AddAck(s, "U0CTO", t0.Add(6*time.Minute))
	msg = Render(cfg, s)
	require.Equal(t, "[FIRING:2] DiskAlmostFull — acknowledged by Engineer B", msg.Text)
	raw, _ = json.Marshal(msg.Blocks)
	require.Contains(t, string(raw), ":white_check_mark: Acknowledged by Engineer B (\\u003c@U0ENGB\\u003e) at \\u003c!date^1793793900^")
	require.Contains(t, string(raw), "(also CTO)")

	resolved, _ := Merge(s, group(Resolved, alert("a1", Resolved, "db-1", t0), alert("e", Resolved, "x", t0)), t0.Add(time.Hour))
	require.Equal(t, "[RESOLVED] DiskAlmostFull — acknowledged by Engineer B", Render(cfg, resolved).Text)
}

func TestRenderManyAlertsStaysInBlockKitLimits(t *testing.T) {
	t.Parallel()
	var alerts []Alert
	for i := range 300 {
		a := alert(strings.Repeat("f", 10)+string(rune('a'+i%26))+time.Duration(i).String(), Firing, strings.Repeat("x", 70), t0)
		a.Annotations["summary"] = strings.Repeat("long summary ", 40)
		alerts = append(alerts, a)
	}
	s, _ := Merge(State{}, group(Firing, alerts...), t0)
	msg := Render(config.Default(), s)
	require.LessOrEqual(t, len(msg.Blocks), 50)
	raw, _ := json.Marshal(msg.Blocks)
	require.Contains(t, string(raw), "more")
	for _, b := range msg.Blocks {
		bj, _ := json.Marshal(b)
		var m map[string]any
		require.NoError(t, json.Unmarshal(bj, &m))
		if txt, ok := m["text"].(map[string]any); ok {
			require.LessOrEqual(t, len([]rune(txt["text"].(string))), 3000)
		}
	}
}
