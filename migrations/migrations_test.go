package migrations_test

import (
	"io/fs"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/migrations"
)

// TestFilesAreWellFormed guards the conventions that parallel feature work
// relies on: numbered names, unique versions, a goose Up section.
func TestFilesAreWellFormed(t *testing.T) {
	names, err := fs.Glob(migrations.FS, "*.sql")
	require.NoError(t, err)
	require.NotEmpty(t, names)
	nameRE := regexp.MustCompile(`^(\d{4})_[a-z0-9_]+\.sql$`)
	versions := map[string]string{}
	for _, name := range names {
		m := nameRE.FindStringSubmatch(name)
		require.NotNil(t, m, "%s: want NNNN_snake_case.sql", name)
		prev, dup := versions[m[1]]
		require.False(t, dup, "%s and %s share version %s", name, prev, m[1])
		versions[m[1]] = name

		body, err := fs.ReadFile(migrations.FS, name)
		require.NoError(t, err)
		require.Contains(t, string(body), "-- +goose Up", name)
	}
	require.Contains(t, names, "0001_foundation.sql")
}
