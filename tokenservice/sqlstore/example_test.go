package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"

	"github.com/acsgo/acsidentity/tokenservice/sqlstore"
	_ "modernc.org/sqlite" // the application's choice of driver
)

// A Store on SQLite, its table created at start-up. With PostgreSQL the
// same code takes sql.Open("pgx", "postgres://...") (driver
// github.com/jackc/pgx/v5/stdlib).
func Example() {
	// An in-memory database lives in one connection, hence one connection
	// at most. An application uses a file, shared by its connections:
	// "file:ids.db?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)".
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)

	identities, err := sqlstore.New(db, nil)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	if err := identities.CreateTable(ctx); err != nil {
		log.Fatal(err)
	}

	// Two replicas record an identity each for a new caller: the first
	// wins, and both use its ID. The loser deletes the identity it made.
	first, err := identities.Record(ctx, "oidc:alice", "8:acs:6ec8b855-ada4-44d7-b3e9-6e76508c6ec9_00000001-0000-0000-0000-000000000001")
	if err != nil {
		log.Fatal(err)
	}
	second, err := identities.Record(ctx, "oidc:alice", "8:acs:6ec8b855-ada4-44d7-b3e9-6e76508c6ec9_00000001-0000-0000-0000-000000000002")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(first == second)
	fmt.Println(second)

	id, err := identities.Identity(ctx, "oidc:bob")
	fmt.Printf("bob: %q %v\n", id, err)
	// Output:
	// true
	// 8:acs:6ec8b855-ada4-44d7-b3e9-6e76508c6ec9_00000001-0000-0000-0000-000000000001
	// bob: "" <nil>
}
