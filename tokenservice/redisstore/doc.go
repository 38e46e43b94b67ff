// Package redisstore keeps tokenservice's shared state on Redis, so that
// several replicas of a token service agree: [Store] records which ACS
// identity belongs to which caller, and [RateLimiter] counts each caller's
// requests across all replicas.
//
// Both take the application's own go-redis client (a *redis.Client, a
// cluster, a ring or a failover client: anything that is a
// redis.UniversalClient). Every operation touches one key, so both work on
// Redis Cluster. The client must have ContextTimeoutEnabled set: without it
// go-redis ignores context deadlines and a slow Redis would hold each
// request for the client's ReadTimeout times its retries; [New] and
// [NewRateLimiter] refuse such a client.
//
//	opt, err := redis.ParseURL("redis://127.0.0.1:6379/0")
//	if err != nil { ... }
//	opt.ContextTimeoutEnabled = true
//	client := redis.NewClient(opt)
//	identities, err := redisstore.New(client, nil)
//
// # Records
//
// A caller's record is a string key, Options.KeyPrefix followed by the
// caller (default "acsidentity:caller:<caller>"), whose value is the ACS
// user ID ("8:acs:<resource>_<identity>"). Every operation is one command
// or one script, atomic on the server:
//
//   - Identity is GET (GETEX with the TTL when Options.TTL is set, so that
//     a record lives TTL after its caller was last seen);
//   - Record is SET key id NX GET (Redis 7 and later; on an older server,
//     SET NX followed by GET), so of many replicas recording different IDs
//     for one caller at once exactly one wins and all get its ID;
//   - Forget is a script that deletes the key only while it still holds
//     the given ID, so a replica that lost a race never deletes the
//     winner's record.
//
// A value that is not an ACS user ID is a corrupt record: Identity and
// Record return an error for it (without quoting it) and leave it alone.
//
// # Rate limiting
//
// [RateLimiter] is a token bucket per key with the same meaning as
// tokenservice.NewMemoryRateLimiter(perMinute, burst), kept in a Redis hash
// and updated by one Lua script that reads the server's clock (TIME): all
// replicas share one bucket per caller, whatever their own clocks say. A
// bucket's key expires when the bucket would be full again, so idle callers
// cost nothing.
//
// # Errors
//
// Refused input (an empty or non-ASCII caller key, an ID that is not an ACS
// user ID) is reported before any command is sent. Errors from Redis or the
// network are wrapped with the store and the operation ("redisstore:
// record: ..."); context deadlines and cancellations are returned as such
// (errors.Is(err, context.DeadlineExceeded)).
package redisstore
