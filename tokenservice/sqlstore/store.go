package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/acsgo/acsidentity/tokenservice/internal/identityrecord"
)

// DefaultTable is the table of a Store whose Options.Table is empty.
const DefaultTable = "acsidentity_callers"

// maxIdentLen is the longest identifier part PostgreSQL keeps whole.
const maxIdentLen = 63

// Options configures a Store. The zero value (or nil) is ready to use.
type Options struct {
	// Table is the table the records are in: a name, or a schema and a
	// name ("tokens.callers"), each of lower-case ASCII letters, digits and
	// underscores, not starting with a digit, at most 63 bytes. The store
	// quotes it, so SQL keywords are fine names. Empty means DefaultTable.
	Table string
}

// Store records which ACS identity belongs to which caller in a SQL table
// (see the package documentation for the table). It is safe for concurrent
// use; it holds no state of its own beyond its settings and statements.
type Store struct {
	db        *sql.DB
	schema    string
	qIdentity string
	qInsert   string
	qDelete   string
}

// New returns a Store on db for the table Options.Table. options may be
// nil. New sends nothing to the database: the table must exist (see
// CreateTable) before the first operation.
func New(db *sql.DB, options *Options) (*Store, error) {
	if db == nil {
		return nil, errors.New("sqlstore: the *sql.DB is nil")
	}
	var o Options
	if options != nil {
		o = *options
	}
	if o.Table == "" {
		o.Table = DefaultTable
	}
	table, err := quoteTable(o.Table)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: Options.Table: %w", err)
	}
	return &Store{
		db: db,
		schema: "CREATE TABLE IF NOT EXISTS " + table + " (\n" +
			"\tcaller     VARCHAR(256) NOT NULL PRIMARY KEY,\n" +
			"\tidentity   VARCHAR(256) NOT NULL,\n" +
			"\tcreated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP\n" +
			")",
		qIdentity: "SELECT identity FROM " + table + " WHERE caller = $1",
		qInsert:   "INSERT INTO " + table + " (caller, identity) VALUES ($1, $2) ON CONFLICT (caller) DO NOTHING",
		qDelete:   "DELETE FROM " + table + " WHERE caller = $1 AND identity = $2",
	}, nil
}

// quoteTable checks a table name ("name" or "schema.name") and returns it
// double-quoted, part by part.
func quoteTable(name string) (string, error) {
	parts := strings.Split(name, ".")
	if len(parts) > 2 {
		return "", fmt.Errorf("%q has more than one dot; want a name or schema.name", identityrecord.Short(name))
	}
	for i, p := range parts {
		if err := checkIdent(p); err != nil {
			return "", fmt.Errorf("%q: %w", identityrecord.Short(name), err)
		}
		parts[i] = `"` + p + `"`
	}
	return strings.Join(parts, "."), nil
}

func checkIdent(p string) error {
	if p == "" {
		return errors.New("a part is empty")
	}
	if len(p) > maxIdentLen {
		return fmt.Errorf("a part is %d bytes; at most %d", len(p), maxIdentLen)
	}
	if '0' <= p[0] && p[0] <= '9' {
		return errors.New("a part starts with a digit")
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; !(c == '_' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return fmt.Errorf("byte %d (%q) is not a lower-case ASCII letter, a digit or _", i, rune(c))
		}
	}
	return nil
}

// Schema returns the CREATE TABLE IF NOT EXISTS statement of the store's
// table, for the application's migrations.
func (s *Store) Schema() string { return s.schema }

// CreateTable creates the store's table unless it exists. The database user
// needs the right to create tables; an application whose user has not can
// run Schema's statement in its migrations instead.
func (s *Store) CreateTable(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, s.schema); err != nil {
		return identityrecord.Wrap(ctx, "sqlstore", "create table", err)
	}
	return nil
}

// Identity returns the ACS user ID recorded for caller, or "" and a nil
// error when none is. A stored value that is not an ACS user ID is an
// error.
func (s *Store) Identity(ctx context.Context, caller string) (string, error) {
	if err := identityrecord.CheckCaller(caller); err != nil {
		return "", fmt.Errorf("sqlstore: identity: %w", err)
	}
	id, _, err := s.lookup(ctx, "identity", caller)
	return id, err
}

// lookup reads caller's row: found is false when there is none (err nil)
// or the read failed (err set).
func (s *Store) lookup(ctx context.Context, op, caller string) (id string, found bool, err error) {
	var v sql.NullString
	err = s.db.QueryRowContext(ctx, s.qIdentity, caller).Scan(&v)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", false, nil
	case err != nil:
		return "", false, identityrecord.Wrap(ctx, "sqlstore", op, err)
	}
	if !v.Valid {
		return "", true, corrupt(op, caller, errors.New("it is NULL"))
	}
	if err := identityrecord.CheckID(v.String); err != nil {
		return "", true, corrupt(op, caller, err)
	}
	return v.String, true, nil
}

// recordAttempts bounds Record's loop: each turn follows a record that was
// forgotten between the INSERT and the SELECT, which takes a race with
// Forget.
const recordAttempts = 5

// Record records id for caller unless an ID is already recorded for it,
// and returns the recorded ID: id when this call won, the earlier ID when
// another call (on any replica) did. The INSERT is atomic on the server:
// the primary key lets exactly one racing INSERT in.
func (s *Store) Record(ctx context.Context, caller, id string) (string, error) {
	if err := identityrecord.CheckCaller(caller); err != nil {
		return "", fmt.Errorf("sqlstore: record: %w", err)
	}
	if err := identityrecord.CheckID(id); err != nil {
		return "", fmt.Errorf("sqlstore: record: %w", err)
	}
	for range recordAttempts {
		res, err := s.db.ExecContext(ctx, s.qInsert, caller, id)
		if err != nil {
			// Under SERIALIZABLE isolation (a database's default, or
			// CockroachDB's only level) an INSERT that meets a row a
			// concurrent transaction committed fails with a serialization
			// error instead of doing nothing. That row is the record: read
			// it. Any other failure finds no row and is returned.
			if ctx.Err() != nil {
				return "", identityrecord.Wrap(ctx, "sqlstore", "record", err)
			}
			got, found, lerr := s.lookup(ctx, "record", caller)
			if found {
				return got, lerr
			}
			return "", identityrecord.Wrap(ctx, "sqlstore", "record", err)
		}
		if n, err := res.RowsAffected(); err == nil && n == 1 {
			return id, nil
		}
		// Not inserted (or a driver that does not count rows): read what
		// is there.
		got, found, err := s.lookup(ctx, "record", caller)
		if found || err != nil {
			return got, err
		}
	}
	return "", fmt.Errorf("sqlstore: record: the record for caller %q was forgotten %d times while being read", identityrecord.Short(caller), recordAttempts)
}

// Forget removes caller's record if it still names id. No record, or a
// record of another ID, is not an error: that record stays. It is one
// DELETE.
func (s *Store) Forget(ctx context.Context, caller, id string) error {
	if err := identityrecord.CheckCaller(caller); err != nil {
		return fmt.Errorf("sqlstore: forget: %w", err)
	}
	if err := identityrecord.CheckID(id); err != nil {
		return fmt.Errorf("sqlstore: forget: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, s.qDelete, caller, id); err != nil {
		return identityrecord.Wrap(ctx, "sqlstore", "forget", err)
	}
	return nil
}

// ErrCorruptRecord is wrapped by the error Identity and Record return for a
// stored value that is not an ACS user ID.
var ErrCorruptRecord = errors.New("corrupt record")

func corrupt(op, caller string, why error) error {
	return fmt.Errorf("sqlstore: %s: %w: the identity recorded for caller %q is not an ACS user ID (%v)", op, ErrCorruptRecord, identityrecord.Short(caller), why)
}
