// Package sqlstore records which ACS identity belongs to which caller in a
// SQL table, through database/sql, so that every replica of a token service
// gives a caller the same identity.
//
// It takes the application's own *sql.DB; the driver is the application's
// choice. It is tested on PostgreSQL 15 through github.com/jackc/pgx/v5/stdlib
// and on SQLite through modernc.org/sqlite. The statements it sends are
// standard SQL plus INSERT ... ON CONFLICT DO NOTHING with $1-style
// parameters, which PostgreSQL (and SQLite 3.24 or later) accept; MySQL and
// SQL Server do not.
//
// # The table
//
// One row per caller. [Store.Schema] returns the statement that creates the
// table for the store's Options.Table, for the application's migrations;
// [Store.CreateTable] runs it (it does nothing when the table exists). For
// the default table it is:
//
//	CREATE TABLE IF NOT EXISTS "acsidentity_callers" (
//		caller     VARCHAR(256) NOT NULL PRIMARY KEY,
//		identity   VARCHAR(256) NOT NULL,
//		created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT CURRENT_TIMESTAMP
//	)
//
// caller is the key tokenservice derives for a caller (printable ASCII, 1 to
// 256 bytes), identity the ACS user ID ("8:acs:<resource>_<identity>"), and
// created_at when the record was made, for the operator's queries; the
// store never reads it.
//
// # Statements
//
//   - Identity: SELECT identity FROM t WHERE caller = $1.
//   - Record: INSERT INTO t (caller, identity) VALUES ($1, $2) ON CONFLICT
//     (caller) DO NOTHING; when no row was inserted, the SELECT above. The
//     primary key makes exactly one of many racing replicas win; all get its
//     ID. Under SERIALIZABLE isolation the losers' INSERT fails with a
//     serialization error rather than doing nothing; Record then reads the
//     winner's row all the same.
//   - Forget: DELETE FROM t WHERE caller = $1 AND identity = $2, so that a
//     replica that lost a race never deletes the winner's record.
//
// A row whose identity is not an ACS user ID is a corrupt record: Identity
// and Record return an error for it (without quoting it) and leave it alone.
//
// # SQLite
//
// SQLite takes one writer at a time. With several connections (the *sql.DB
// default), set a busy timeout, or concurrent Records fail with
// SQLITE_BUSY: with modernc.org/sqlite,
// "file:ids.db?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)".
// SQLite suits one host; replicas on several hosts need a server database.
//
// # Errors
//
// Refused input (an empty or non-ASCII caller key, an ID that is not an ACS
// user ID) is reported before any statement is sent. Errors from the
// database are wrapped with the store and the operation ("sqlstore: record:
// ..."); context deadlines and cancellations end the statement and are
// returned as such (errors.Is(err, context.DeadlineExceeded)).
package sqlstore
