package config

import (
	"strings"
	"testing"
	"time"

	"github.com/contextinject/oncallbot/commands/rotation"
	"github.com/stretchr/testify/require"
)

func TestDescribeBuiltIn(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	Describe(&b, Default(), time.Date(2026, 11, 5, 12, 0, 0, 0, time.UTC), nil)
	want := `configuration OK (built-in)
time zone: UTC; business hours: Mon, Tue, Wed, Thu, Fri 09:00-18:00
people: 4 (admins: Engineering Lead, CTO)
rotation pool: Engineer A (U0ENGA), Engineer B (U0ENGB); 168h shifts from Mon 2026-11-02 09:00 UTC
escalation "ContextInject Production": the chain runs 2 times; an acknowledgement stops it
  1. notify the primary, wait 15m for an acknowledgement
  2. notify the secondary, wait 15m for an acknowledgement
  3. notify the engineering lead (Engineering Lead), wait 15m for an acknowledgement
  4. notify the CTO (CTO), then start over from step 1
severities:
  P1: acknowledge 15m, investigate 15m, first update 30m, resolve 1h; after hours: same; broadcast to the CTO (CTO) and every engineer (Engineer A, Engineer B)
  P2: acknowledge 30m, investigate 30m, first update 1h, resolve 4h; after hours: same
  P3: acknowledge 2h, investigate 2h, first update 4h, resolve 24h; after hours: next_business_morning
  P4: acknowledge next_business_day, investigate next_business_day, first update n/a, resolve 168h; after hours: next_business_day
next handoff reminder: Mon 2026-11-09 09:00 UTC (CRON_TZ=UTC 0 9 * * MON)
next 4 shifts (at Thu 2026-11-05 12:00 UTC):
  SHIFT    START (UTC)           END (UTC)             PRIMARY     SECONDARY
  0 (now)  Mon 2026-11-02 09:00  Mon 2026-11-09 09:00  Engineer A  Engineer B
  1        Mon 2026-11-09 09:00  Mon 2026-11-16 09:00  Engineer B  Engineer A
  2        Mon 2026-11-16 09:00  Mon 2026-11-23 09:00  Engineer A  Engineer B
  3        Mon 2026-11-23 09:00  Mon 2026-11-30 09:00  Engineer B  Engineer A
`
	require.Equal(t, want, b.String())
}

func TestDescribeZoneOverridesAndPoolOfOne(t *testing.T) {
	t.Parallel()
	const team = `
timezone: Europe/Berlin
business_hours: {days: [Mon, Tue, Wed, Thu, Fri], start: "09:00", end: "17:00"}
channels: {incidents: C0INC, engineering: C0ENG, monitoring: C0MON}
people:
  - {slack_id: U0A, name: Ada}
  - {slack_id: U0B, name: Bo}
  - {slack_id: U0SOLO, name: Solo, role: cto}
rotation: {pool: [U0A, U0B], start: "2027-03-15T09:00:00", length: 168h}
escalation:
  steps:
    - {notify: [primary], after: 10m}
    - {notify: [engineers, cto], after: 5m}
severities:
  P2: {acknowledge: 1h, resolve: 8h}
handoff: {reminder: "0 9 * * MON"}
`
	c, err := Parse("team.yaml", []byte(team))
	require.NoError(t, err)
	now := time.Date(2027, 3, 20, 12, 0, 0, 0, time.UTC)
	ovs := []rotation.Override{{ID: 1, Role: rotation.Primary, UserID: "U0B", Start: now.Add(-time.Hour), End: now.Add(48 * time.Hour), Source: "emergency"}}
	var b strings.Builder
	Describe(&b, c, now, ovs)
	want := `configuration OK (team.yaml)
time zone: Europe/Berlin; business hours: Mon, Tue, Wed, Thu, Fri 09:00-17:00
people: 3 (admins: none)
rotation pool: Ada (U0A), Bo (U0B); 168h shifts from Mon 2027-03-15 09:00 CET
escalation: the chain runs once; an acknowledgement stops it
  1. notify the primary, wait 10m for an acknowledgement
  2. notify every engineer (Ada, Bo) and the CTO (Solo), wait 5m, then stop
severities:
  P2: acknowledge 1h, investigate n/a, first update n/a, resolve 8h; after hours: same
next handoff reminder: Mon 2027-03-22 09:00 CET (0 9 * * MON)
next 4 shifts (at Sat 2027-03-20 13:00 CET):
  SHIFT    START (Europe/Berlin)      END (Europe/Berlin)        START (UTC)           END (UTC)             PRIMARY                   SECONDARY
  0 (now)  Mon 2027-03-15 09:00 CET   Mon 2027-03-22 09:00 CET   Mon 2027-03-15 08:00  Mon 2027-03-22 08:00  Bo (override: emergency)  Bo (no separate secondary)
  1        Mon 2027-03-22 09:00 CET   Mon 2027-03-29 09:00 CEST  Mon 2027-03-22 08:00  Mon 2027-03-29 07:00  Bo (override: emergency)  Ada
  2        Mon 2027-03-29 09:00 CEST  Mon 2027-04-05 09:00 CEST  Mon 2027-03-29 07:00  Mon 2027-04-05 07:00  Ada                       Bo
  3        Mon 2027-04-05 09:00 CEST  Mon 2027-04-12 09:00 CEST  Mon 2027-04-05 07:00  Mon 2027-04-12 07:00  Bo                        Ada
`
	require.Equal(t, want, b.String())

	// A pool of one person has no separate secondary.
	c.Rotation.Pool = []string{"U0SOLO"}
	b.Reset()
	Describe(&b, c, now, nil)
	require.Contains(t, b.String(), "Solo     Solo (no separate secondary)\n")
}
