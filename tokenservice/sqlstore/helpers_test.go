package sqlstore

import (
	"context"
	"database/sql"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/acsgo/acsidentity/internal/testservers"
	"github.com/acsgo/acsidentity/tokenservice/internal/storetest"
	_ "github.com/jackc/pgx/v5/stdlib" // driver "pgx"
	_ "modernc.org/sqlite"             // driver "sqlite"
)

// testID is a valid ACS user ID, a different one for each n.
var testID = storetest.ID

// engine is a database the store is tested on.
type engine struct {
	name string
	open func(tb testing.TB) *sql.DB
}

var engines = []engine{
	{"postgres", openPostgres},
	{"postgres-serializable", openPostgresSerializable},
	{"sqlite", openSQLite},
}

// forEachEngine runs test once per engine, in parallel subtests.
func forEachEngine(t *testing.T, test func(t *testing.T, db *sql.DB)) {
	t.Helper()
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			test(t, e.open(t))
		})
	}
}

// openPostgres opens the test PostgreSQL database (skipping tb without
// one), closed when tb ends.
func openPostgres(tb testing.TB) *sql.DB {
	tb.Helper()
	return openAndPing(tb, "pgx", testservers.PostgresURL(tb), "the test PostgreSQL")
}

// openPostgresSerializable opens the test PostgreSQL database with
// SERIALIZABLE as its connections' default isolation, as some databases
// are set up (and CockroachDB always is).
func openPostgresSerializable(tb testing.TB) *sql.DB {
	tb.Helper()
	u, err := url.Parse(testservers.PostgresURL(tb))
	if err != nil {
		tb.Fatalf("%s: %v", testservers.PostgresVar, err)
	}
	q := u.Query()
	q.Set("options", "-c default_transaction_isolation=serializable")
	// pgx reads "+" as itself, not as a space.
	u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
	db := openAndPing(tb, "pgx", u.String(), "the test PostgreSQL")
	var iso string
	if err := db.QueryRow("SHOW transaction_isolation").Scan(&iso); err != nil || iso != "serializable" {
		tb.Fatalf("transaction_isolation is %q, %v; want serializable", iso, err)
	}
	return db
}

// openSQLite opens a new SQLite database in a file of tb's own. The busy
// timeout and WAL are what the package documentation tells applications to
// set for concurrent use.
func openSQLite(tb testing.TB) *sql.DB {
	tb.Helper()
	dsn := "file:" + filepath.Join(tb.TempDir(), "ids.db") + "?_pragma=busy_timeout(20000)&_pragma=journal_mode(WAL)"
	return openAndPing(tb, "sqlite", dsn, "SQLite")
}

func openAndPing(tb testing.TB, driver, dsn, what string) *sql.DB {
	tb.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		tb.Fatalf("%s: %v", what, err)
	}
	tb.Cleanup(func() { db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		tb.Fatalf("%s does not answer: %v", what, err)
	}
	return db
}

// newTestStore returns a Store on a table of tb's own, created now and
// dropped when tb ends.
func newTestStore(tb testing.TB, db *sql.DB) *Store {
	tb.Helper()
	table := testservers.Unique(tb)
	s, err := New(db, &Options{Table: table})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.CreateTable(ctx); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, `DROP TABLE "`+table+`"`); err != nil {
			tb.Errorf("dropping %s: %v", table, err)
		}
	})
	return s
}

// readDoc returns the text of doc.go.
func readDoc(tb testing.TB) string {
	tb.Helper()
	b, err := os.ReadFile("doc.go")
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}
