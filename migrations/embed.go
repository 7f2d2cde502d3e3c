// Package migrations holds oncallbot's forward-only PostgreSQL schema as
// numbered goose SQL files, embedded so the binary can migrate the database at
// start (and in `oncallbot migrate`) without files on disk.
//
// Numbering is by feature so that files written in parallel never collide:
// 0001 foundation, 0010 incidents, 0020 swaps, 0030 triage, 0040 handoffs,
// 0050 calendar, 0060 monitoring. Applied files are never edited; a change is
// a new file.
package migrations

import "embed"

// FS is the embedded set of migration files, applied in version order by
// store.(*DB).Migrate.
//
//go:embed *.sql
var FS embed.FS
