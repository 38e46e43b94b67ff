package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/acsgo/acsidentity/tokenservice/internal/identityrecord"
	"github.com/acsgo/acsidentity/tokenservice/internal/storetest"
)

// identityStore is the interface tokenservice defines for identity stores;
// a copy here proves Store satisfies it without importing tokenservice.
type identityStore interface {
	Identity(ctx context.Context, caller string) (string, error)
	Record(ctx context.Context, caller, id string) (string, error)
	Forget(ctx context.Context, caller, id string) error
}

var _ identityStore = (*Store)(nil)

func TestNewRefuses(t *testing.T) {
	t.Parallel()
	db, err := sql.Open("sqlite", ":memory:") // opens nothing yet
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if s, err := New(nil, nil); err == nil || err.Error() != "sqlstore: the *sql.DB is nil" {
		t.Errorf("New(nil) = %v, %v", s, err)
	}
	for table, want := range map[string]string{
		"Callers":                "byte 0 ('C') is not a lower-case ASCII letter",
		"callers; DROP TABLE x":  "byte 7 (';')",
		`call"ers`:               `byte 4 ('"')`,
		"1callers":               "starts with a digit",
		"a.b.c":                  "more than one dot",
		"app.":                   "a part is empty",
		".callers":               "a part is empty",
		strings.Repeat("t", 64):  "a part is 64 bytes; at most 63",
		"caf\u00e9":              "not a lower-case ASCII letter",
		"app." + "x\u0000":       `byte 1 ('\x00')`,
		strings.Repeat("t", 300): "...", // the name is cut in the message
	} {
		s, err := New(db, &Options{Table: table})
		if err == nil || !strings.HasPrefix(err.Error(), "sqlstore: Options.Table: ") || !strings.Contains(err.Error(), want) {
			t.Errorf("New(Table %q) = %v, %v; want an error saying %q", identityrecord.Short(table), s, err, want)
		}
	}
	for table, want := range map[string]string{
		"":               `"acsidentity_callers"`,
		"select":         `"select"`,
		"app.callers_2":  `"app"."callers_2"`,
		"_x":             `"_x"`,
		"t" + "23456789": `"t23456789"`,
	} {
		s, err := New(db, &Options{Table: table})
		if err != nil || !strings.Contains(s.Schema(), "CREATE TABLE IF NOT EXISTS "+want+" (") || !strings.Contains(s.qInsert, "INTO "+want+" (") {
			t.Errorf("New(Table %q) = %v; want the table %s", table, err, want)
		}
	}
}

// TestSchemaDocumented: the package documentation shows the default table's
// statement as it is.
func TestSchemaDocumented(t *testing.T) {
	t.Parallel()
	s, err := New(&sql.DB{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	doc := readDoc(t)
	want := "//\t" + strings.ReplaceAll(s.Schema(), "\n", "\n//\t")
	if !strings.Contains(doc, want) {
		t.Fatalf("doc.go does not show the default schema; it is:\n%s", s.Schema())
	}
}

// TestRefusedBeforeAnyStatement: bad callers and IDs are refused with an
// error naming the fault, before any statement: the database is closed.
func TestRefusedBeforeAnyStatement(t *testing.T) {
	t.Parallel()
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := New(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Refuses(t, s, storetest.RefusedCases("sqlstore"))
	// A valid call does reach the (closed) database: the test above is
	// not passing because every call fails.
	if _, err := s.Identity(context.Background(), "ok"); err == nil || !strings.Contains(err.Error(), "database is closed") {
		t.Fatalf("Identity on a closed *sql.DB = %v; want sql's closed-database error", err)
	}
}

func TestRecordIdentityForget(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, db *sql.DB) {
		s := newTestStore(t, db)
		ctx := context.Background()
		const caller = "oidc:https://login.example/|user-1"
		storetest.Lifecycle(t, s, caller)
		// One row, as the documentation describes it.
		var n int
		var created any
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*), MAX(created_at) FROM "+tableOf(s)).Scan(&n, &created); err != nil || n != 1 || created == nil {
			t.Fatalf("rows: %d, created_at %v, %v; want one row with created_at", n, created, err)
		}
		// CreateTable again is harmless and keeps the rows.
		if err := s.CreateTable(ctx); err != nil {
			t.Fatal(err)
		}
		if id, _ := s.Identity(ctx, caller); id != testID(3) {
			t.Fatalf("after a second CreateTable, Identity = %q", id)
		}
	})
}

// tableOf returns the quoted table name s uses.
func tableOf(s *Store) string {
	rest, _ := strings.CutPrefix(s.qInsert, "INSERT INTO ")
	return rest[:strings.IndexByte(rest, ' ')]
}

// TestRecordRace: 50 goroutines on three *sql.DB pools (three replicas)
// record different IDs for one caller at once: one winner, whose ID all
// get.
func TestRecordRace(t *testing.T) {
	t.Parallel()
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			first := e.open(t)
			s0 := newTestStore(t, first)
			stores := []storetest.Store{s0}
			// SQLite's database is a file of the first pool's own: the other
			// replicas open the same file.
			for range 2 {
				var db *sql.DB
				if e.name == "sqlite" {
					db = reopenSQLite(t, first)
				} else {
					db = e.open(t)
				}
				s, err := New(db, &Options{Table: strings.Trim(tableOf(s0), `"`)})
				if err != nil {
					t.Fatal(err)
				}
				stores = append(stores, s)
			}
			storetest.RecordRace(t, stores)
		})
	}
}

// reopenSQLite opens a second pool on the file of db.
func reopenSQLite(tb testing.TB, db *sql.DB) *sql.DB {
	tb.Helper()
	var file string
	if err := db.QueryRow("SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&file); err != nil {
		tb.Fatal(err)
	}
	return openAndPing(tb, "sqlite", "file:"+file+"?_pragma=busy_timeout(20000)&_pragma=journal_mode(WAL)", "SQLite")
}

// TestForgetRace: Forget by the losers of a race never removes the
// winner's record.
func TestForgetRace(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, db *sql.DB) {
		storetest.ForgetRace(t, newTestStore(t, db))
	})
}

// TestCorruptRecord: a row whose identity is not an ACS user ID gives an
// error that does not quote it; never a panic, never the value.
func TestCorruptRecord(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, db *sql.DB) {
		s := newTestStore(t, db)
		ctx := context.Background()
		const junk = "<script>alert(1)</script>"
		if _, err := db.ExecContext(ctx, "INSERT INTO "+tableOf(s)+" (caller, identity) VALUES ($1, $2)", "junk", junk); err != nil {
			t.Fatal(err)
		}
		id, err := s.Identity(ctx, "junk")
		if id != "" || !errors.Is(err, ErrCorruptRecord) || !strings.HasPrefix(err.Error(), "sqlstore: identity: corrupt record") || strings.Contains(err.Error(), "script") {
			t.Errorf("Identity of a corrupt record = %q, %v; want a corrupt-record error that does not quote it", id, err)
		}
		id, err = s.Record(ctx, "junk", testID(1))
		if id != "" || !errors.Is(err, ErrCorruptRecord) || !strings.HasPrefix(err.Error(), "sqlstore: record: corrupt record") {
			t.Errorf("Record over a corrupt record = %q, %v; want a corrupt-record error", id, err)
		}
		var v string
		if err := db.QueryRowContext(ctx, "SELECT identity FROM "+tableOf(s)+" WHERE caller = 'junk'").Scan(&v); err != nil || v != junk {
			t.Errorf("the corrupt row is now %q, %v; want it left alone", v, err)
		}
	})
}

// TestNoTable: a store whose table does not exist says so, wrapped.
func TestNoTable(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, db *sql.DB) {
		s, err := New(db, &Options{Table: "no_such_table_here"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Identity(context.Background(), "caller")
		if err == nil || !strings.HasPrefix(err.Error(), "sqlstore: identity: ") || !strings.Contains(err.Error(), "no_such_table_here") {
			t.Fatalf("Identity without the table = %v; want the database's error, wrapped", err)
		}
	})
}

// TestServerDown: with PostgreSQL unreachable every operation fails with an
// error that names the store and the operation.
func TestServerDown(t *testing.T) {
	t.Parallel()
	db, err := sql.Open("pgx", "postgres://nobody@"+storetest.ClosedAddr(t)+"/x?sslmode=disable&connect_timeout=10")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := New(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Down(t, s, "sqlstore")
}

// TestDeadline: while another connection holds a lock on the table, an
// operation waits, and its context's deadline ends the wait.
func TestDeadline(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, db *sql.DB) {
		s := newTestStore(t, db)
		ctx := context.Background()
		if _, err := s.Record(ctx, "caller", testID(1)); err != nil {
			t.Fatal(err)
		}
		// The lock: PostgreSQL's strongest table lock, which blocks even
		// reads; SQLite's exclusive transaction, which blocks other
		// writers (and, without WAL, readers).
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		lock := []string{"BEGIN", "LOCK TABLE " + tableOf(s) + " IN ACCESS EXCLUSIVE MODE"}
		ops := map[string]func(context.Context) error{
			"identity": func(ctx context.Context) error { _, err := s.Identity(ctx, "caller"); return err },
			"record":   func(ctx context.Context) error { _, err := s.Record(ctx, "caller2", testID(2)); return err },
			"forget":   func(ctx context.Context) error { return s.Forget(ctx, "caller", testID(1)) },
		}
		if strings.HasSuffix(t.Name(), "/sqlite") {
			lock = []string{"BEGIN EXCLUSIVE"}
			delete(ops, "identity") // WAL readers do not wait for a writer
		}
		for _, q := range lock {
			if _, err := conn.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		defer conn.ExecContext(ctx, "ROLLBACK")
		for op, call := range ops {
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			start := time.Now()
			err := call(ctx)
			took := time.Since(start)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), "sqlstore: "+op+": ") {
				t.Errorf("%s on a locked table = %v; want a wrapped context.DeadlineExceeded", op, err)
			}
			// The busy timeout (SQLite) is 20s: well under it shows the
			// deadline ended the wait.
			if took > 10*time.Second {
				t.Errorf("%s took %v with a 300ms deadline", op, took)
			}
			t.Logf("%s: %v after %v", op, err, took)
		}
	})
}
