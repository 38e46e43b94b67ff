package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx": PostgreSQL
	"github.com/redis/go-redis/v9"
	_ "modernc.org/sqlite" // database/sql driver "sqlite": SQLite, in Go

	"github.com/acsgo/acsidentity/tokenservice/redisstore"
	"github.com/acsgo/acsidentity/tokenservice/sqlstore"
)

// storeStartTimeout bounds the first contact with a store at start.
const storeStartTimeout = 10 * time.Second

// openStores opens the shared stores the configuration names
// (TRUSTED_SERVICE_IDENTITY_STORE, TRUSTED_SERVICE_RATE_LIMIT_STORE) and
// puts them in cfg.service. It reaches each at once, so that a wrong URL
// or an unreachable server shows at start; the SQL table is made if it is
// missing. closeStores releases them.
func openStores(ctx context.Context, cfg *config) (_ func(), err error) {
	var closers []func()
	closeStores := func() {
		for _, c := range closers {
			c()
		}
	}
	// Every error return sets the first result to nil: close through the
	// local func, so a failed start releases what it opened.
	defer func() {
		if err != nil {
			closeStores()
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, storeStartTimeout)
	defer cancel()

	redisClients := map[string]*redis.Client{} // one client per URL
	redisClient := func(name, raw string) (*redis.Client, error) {
		if c := redisClients[raw]; c != nil {
			return c, nil
		}
		opts, err := redis.ParseURL(raw)
		if err != nil {
			return nil, configErrorf("%s: %s", name, strings.ReplaceAll(err.Error(), raw, redacted(raw)))
		}
		opts.ContextTimeoutEnabled = true // the stores' deadlines end the command
		c := redis.NewClient(opts)
		closers = append(closers, func() { c.Close() })
		if err := c.Ping(ctx).Err(); err != nil {
			return nil, fmt.Errorf("%s: cannot reach Redis at %s: %w", name, redacted(raw), err)
		}
		redisClients[raw] = c
		return c, nil
	}

	if raw := cfg.identityStore; raw != "" {
		scheme, rest, _ := strings.Cut(raw, ":")
		switch strings.ToLower(scheme) {
		case "redis", "rediss":
			c, err := redisClient(envIdentityStore, raw)
			if err != nil {
				return nil, err
			}
			if cfg.service.Identities, err = redisstore.New(c, nil); err != nil {
				return nil, err
			}
		default: // postgres, postgresql, sqlite: checked by loadConfig
			driver, dsn := "pgx", raw
			if strings.EqualFold(scheme, "sqlite") {
				driver, dsn = "sqlite", strings.TrimPrefix(rest, "//")
				if !strings.Contains(dsn, "?") {
					// Concurrent writers wait for each other instead of
					// failing with SQLITE_BUSY.
					dsn = "file:" + dsn + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)"
				}
			}
			db, err := sql.Open(driver, dsn)
			if err != nil {
				return nil, configErrorf("%s: %v", envIdentityStore, err)
			}
			closers = append(closers, func() { db.Close() })
			store, err := sqlstore.New(db, nil)
			if err != nil {
				return nil, err
			}
			if err := store.CreateTable(ctx); err != nil {
				return nil, fmt.Errorf("%s: cannot make the table at %s: %w", envIdentityStore, redacted(raw), err)
			}
			cfg.service.Identities = store
		}
		cfg.log.Info("identities are recorded in a shared store ("+envIdentityStore+"): any api-version works; the default, GA, is used",
			"store", redacted(raw))
	}
	if raw := cfg.rateLimitStore; raw != "" {
		c, err := redisClient(envRateLimitStore, raw)
		if err != nil {
			return nil, err
		}
		if cfg.service.RateLimiter, err = redisstore.NewRateLimiter(c, cfg.ratePerMinute, cfg.rateBurst, nil); err != nil {
			return nil, err
		}
		cfg.log.Info("the per-caller rate limit is shared by every replica on this Redis ("+envRateLimitStore+")", "store", redacted(raw))
	}
	return closeStores, nil
}

// redacted is a store URL for the log: without its password.
func redacted(raw string) string {
	if strings.HasPrefix(strings.ToLower(raw), "sqlite:") {
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.RawQuery = "" // may hold a password too
	return u.Redacted()
}
