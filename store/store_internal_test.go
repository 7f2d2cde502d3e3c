package store

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"
)

func TestMapErr(t *testing.T) {
	t.Parallel()
	uniq := &pgconn.PgError{Code: codeUniqueViolation, ConstraintName: "kv_pkey"}
	other := &pgconn.PgError{Code: "23514", ConstraintName: "overrides_window_check"}
	tests := []struct {
		name       string
		in         error
		notFound   bool
		constraint string
	}{
		{name: "nil", in: nil},
		{name: "no rows", in: pgx.ErrNoRows, notFound: true},
		{name: "wrapped no rows", in: fmt.Errorf("scan: %w", pgx.ErrNoRows), notFound: true},
		{name: "unique violation", in: uniq, constraint: "kv_pkey"},
		{name: "other database error", in: other},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := mapErr("do thing", tt.in)
			if tt.in == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, "do thing: ")
			require.Equal(t, tt.notFound, errors.Is(err, ErrNotFound))
			var conflict *ConflictError
			require.Equal(t, tt.constraint != "", errors.As(err, &conflict))
			if tt.constraint != "" {
				require.Equal(t, tt.constraint, conflict.Constraint)
				require.ErrorIs(t, err, uniq, "the driver error stays reachable")
			}
			if tt.in == other {
				require.ErrorIs(t, err, other)
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"postgres://bob:s3cret@db:5432/x?sslmode=disable", "postgres://bob:xxxxx@db:5432/x?sslmode=disable"},
		{"postgres://bob@db/x", "postgres://bob@db/x"},
		{"postgres://db/x?password=s3cret", "postgres://db/x?password=xxxxx"},
		{"redis://:s3cret@127.0.0.1:6379/0", "redis://:xxxxx@127.0.0.1:6379/0"},
		{"host=db password=s3cret", "(unparsable URL)"},
		{"postgres://bob:s3cret@db:bad/x", "(unparsable URL)"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, RedactURL(tt.in))
		})
	}
}
