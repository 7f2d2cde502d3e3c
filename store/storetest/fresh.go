package storetest

import (
	"context"
	"fmt"
	"os"
	"testing"
)

// FreshURL creates a fully migrated database of its own, like DB, and
// returns its URL for code that opens its own pool (the whole app in
// end-to-end tests). The database is dropped when t ends.
func FreshURL(t testing.TB) string {
	t.Helper()
	e := getEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	name := fmt.Sprintf("%s%d_%s", testDBPrefix, os.Getpid(), randomHex(6))
	db, err := e.newDatabase(ctx, name)
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	db.Close()
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		if _, err := e.admin.Exec(cctx, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)"); err != nil {
			t.Errorf("storetest: drop test database %s: %v", name, err)
		}
	})
	return e.url(name)
}
