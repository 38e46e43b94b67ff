// Package testservers finds the real servers that tests of the identity
// stores need (Redis, PostgreSQL), as .ci/services.sh starts them, and
// names per-test keys and tables so that tests sharing a server do not see
// each other's data.
//
// A test that needs a server calls RedisURL or PostgresURL. When the
// server's variable is not set the test is skipped with a message saying
// how to start the servers, or fails when CI=true (CI starts them, so a
// missing server there is a broken build, not a reason to skip).
package testservers

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
)

// The variables .ci/services.sh start exports.
const (
	// RedisVar holds a redis:// URL of a Redis server for tests.
	RedisVar = "ACSIDENTITY_TEST_REDIS_URL"
	// PostgresVar holds a postgres:// URL of a PostgreSQL database for tests.
	PostgresVar = "ACSIDENTITY_TEST_POSTGRES_URL"
)

const howToStart = `start the test servers with: eval "$(.ci/services.sh start)" (and stop them with .ci/services.sh stop)`

// RedisURL returns the URL of the test Redis server, or skips tb (fails it
// under CI=true) when none is configured.
func RedisURL(tb testing.TB) string {
	tb.Helper()
	return lookup(tb, RedisVar, "Redis")
}

// PostgresURL returns the URL of the test PostgreSQL database, or skips tb
// (fails it under CI=true) when none is configured.
func PostgresURL(tb testing.TB) string {
	tb.Helper()
	return lookup(tb, PostgresVar, "PostgreSQL")
}

func lookup(tb testing.TB, name, what string) string {
	tb.Helper()
	if v := os.Getenv(name); v != "" {
		return v
	}
	msg := "no " + what + " server: " + name + " is not set; " + howToStart
	if os.Getenv("CI") == "true" {
		tb.Fatal(msg + " (CI=true: .ci/run starts them, so this is a failure)")
	}
	tb.Skip(msg)
	return ""
}

// Unique returns a name for tb's own keys or table: "t_", the test's name
// in lower case with everything but letters and digits made "_" (cut to 24
// bytes), "_", and 8 random hex digits. It is a valid SQL identifier and
// Redis key part, and differs between tests and between runs.
func Unique(tb testing.TB) string {
	tb.Helper()
	var b strings.Builder
	b.WriteString("t_")
	for _, r := range strings.ToLower(tb.Name()) {
		if b.Len() >= 26 {
			break
		}
		if 'a' <= r && r <= 'z' || '0' <= r && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	var r [4]byte
	rand.Read(r[:])
	b.WriteByte('_')
	b.WriteString(hex.EncodeToString(r[:]))
	return b.String()
}
