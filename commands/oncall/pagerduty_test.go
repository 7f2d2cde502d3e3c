package oncall_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/commands/config"
	"github.com/contextinject/oncallbot/commands/oncall"
	"github.com/contextinject/oncallbot/integrations/pagerduty"
	"github.com/contextinject/oncallbot/integrations/pagerduty/pagerdutytest"
)

func TestPagerDutySourceMapsCachesAndFails(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	f := pagerdutytest.New(t)
	f.AddUser("PENGA", "Engineer A", "engineer-a@contextinject.ai")
	f.AddUser("PXB", "Engineer B", "Engineer-B@ContextInject.ai")
	f.SetSchedule("PPRIMARY", pagerdutytest.Rotation([]string{"PENGA", "PXB"}, 0, start, 168*time.Hour, 4))
	f.SetSchedule("PSECONDARY", pagerdutytest.Rotation([]string{"PENGA", "PXB"}, 1, start, 168*time.Hour, 4))
	cfg := config.Default()
	cfg.People[1].PagerDutyID = "" // Engineer B is matched by email
	now := start.Add(50 * time.Hour)
	clock := func() time.Time { return now }
	c := pagerduty.New(pagerduty.Options{Token: pagerdutytest.Token, BaseURL: f.URL, MaxRetries: 1, Sleep: func(context.Context, time.Duration) error { return nil }})
	src := oncall.NewPagerDutySource(cfg, c, clock, 30*time.Second)
	ctx := context.Background()

	p, s, err := src.OnCall(ctx, now)
	require.NoError(t, err)
	require.Equal(t, [2]string{"U0ENGA", "U0ENGB"}, [2]string{p, s})
	p, s, err = src.OnCall(ctx, start.Add(170*time.Hour)) // next shift: same fetch
	require.NoError(t, err)
	require.Equal(t, [2]string{"U0ENGB", "U0ENGA"}, [2]string{p, s})
	require.Len(t, f.Calls(http.MethodGet, "/oncalls"), 1, "answered from the cache")

	f.SetDown(true)
	_, _, err = src.OnCall(ctx, now)
	require.NoError(t, err, "still cached")
	now = now.Add(31 * time.Second)
	_, _, err = src.OnCall(ctx, now)
	require.Error(t, err)
	f.SetDown(false)
	src.Invalidate()
	p, _, err = src.OnCall(ctx, now)
	require.NoError(t, err)
	require.Equal(t, "U0ENGA", p)
}
