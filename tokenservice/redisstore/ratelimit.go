package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/acsgo/acsidentity/tokenservice/internal/identityrecord"
	"github.com/redis/go-redis/v9"
)

// DefaultRateLimitKeyPrefix is the key prefix of a RateLimiter whose
// RateLimiterOptions.KeyPrefix is empty.
const DefaultRateLimitKeyPrefix = "acsidentity:ratelimit:"

// maxRateKeyLen bounds the keys Allow accepts.
const maxRateKeyLen = 1024

// RateLimiterOptions configures a RateLimiter. The zero value (or nil) is
// ready to use.
type RateLimiterOptions struct {
	// KeyPrefix is put before each rate-limit key to make the Redis key of
	// its bucket. Empty means DefaultRateLimitKeyPrefix. At most 256 bytes.
	KeyPrefix string
}

// RateLimiter is a token bucket per key kept in Redis, shared by every
// replica that uses the same Redis and key prefix: N replicas together
// allow the configured rate, not N times it. Each bucket holds up to burst
// tokens and refills at perMinute tokens a minute; a request takes one.
// That is the meaning of tokenservice.NewMemoryRateLimiter(perMinute,
// burst), and RateLimiter satisfies tokenservice's RateLimiter interface.
//
// Each Allow is one Lua script run atomically on the server, with the
// server's clock (TIME): replicas whose clocks disagree still share one
// bucket. A bucket's key expires when the bucket would be full again (the
// same as no bucket), so idle keys leave nothing behind. It is safe for
// concurrent use.
type RateLimiter struct {
	client redis.UniversalClient
	prefix string
	// rate in tokens per second; 0 allows everything.
	rate, burst float64
	rateArg     string
	burstArg    string
}

// NewRateLimiter returns a RateLimiter on client that allows each key
// perMinute requests a minute, in bursts of up to burst (at least 1).
// perMinute 0 (or less) allows everything without asking Redis. client
// must honour context deadlines (ContextTimeoutEnabled in its options).
// options may be nil. It sends nothing to Redis.
func NewRateLimiter(client redis.UniversalClient, perMinute float64, burst int, options *RateLimiterOptions) (*RateLimiter, error) {
	if err := checkClient(client); err != nil {
		return nil, fmt.Errorf("redisstore: rate limiter: %w", err)
	}
	var o RateLimiterOptions
	if options != nil {
		o = *options
	}
	if o.KeyPrefix == "" {
		o.KeyPrefix = DefaultRateLimitKeyPrefix
	}
	if len(o.KeyPrefix) > maxPrefixLen {
		return nil, fmt.Errorf("redisstore: rate limiter: RateLimiterOptions.KeyPrefix is %d bytes; at most %d", len(o.KeyPrefix), maxPrefixLen)
	}
	if perMinute != perMinute || perMinute > 1e9 { // NaN, or absurd
		return nil, fmt.Errorf("redisstore: rate limiter: perMinute is %v; it must be a number up to 1e9", perMinute)
	}
	l := &RateLimiter{client: client, prefix: o.KeyPrefix, rate: max(perMinute, 0) / 60, burst: float64(max(burst, 1))}
	l.rateArg = strconv.FormatFloat(l.rate, 'g', -1, 64)
	l.burstArg = strconv.FormatFloat(l.burst, 'g', -1, 64)
	return l, nil
}

// allowScript takes a token from the bucket KEYS[1] (a hash: tokens, and
// ts, the last update in microseconds of the server's clock), refilled at
// ARGV[1] tokens a second up to ARGV[2]. It returns {1, 0} when a token was
// taken, {0, ms} when the bucket is empty and a token is ms milliseconds
// away. The key expires when the bucket would be full again.
var allowScript = redis.NewScript(`
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local v = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(v[1])
local ts = tonumber(v[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate / 1000000)
  ts = now
end
local ok, wait = 0, 0
if tokens >= 1 then
  tokens = tokens - 1
  ok = 1
else
  wait = math.ceil((1 - tokens) / rate * 1000)
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'ts', string.format('%.0f', ts))
-- %d: a Lua number passed as is becomes "%.14g" text, which PEXPIRE
-- refuses once it has an exponent.
redis.call('PEXPIRE', KEYS[1], string.format('%d', math.min(4e15, math.max(1, math.ceil((burst - tokens) / rate * 1000)))))
return {ok, wait}
`)

// Allow takes a token from key's bucket. When the bucket is empty it
// returns false and how long until a token is available (whole
// milliseconds, rounded up). An error (Redis down or slow, ctx done) is
// wrapped; tokenservice answers it with 503.
func (l *RateLimiter) Allow(ctx context.Context, key string) (bool, time.Duration, error) {
	if l.rate == 0 {
		return true, 0, nil
	}
	if key == "" || len(key) > maxRateKeyLen {
		return false, 0, fmt.Errorf("redisstore: rate limiter: the key is %d bytes; it must be 1 to %d", len(key), maxRateKeyLen)
	}
	res, err := allowScript.Run(ctx, l.client, []string{l.prefix + key}, l.rateArg, l.burstArg).Int64Slice()
	if err != nil {
		return false, 0, identityrecord.Wrap(ctx, "redisstore", "rate limiter", err)
	}
	if len(res) != 2 {
		return false, 0, errors.New("redisstore: rate limiter: the script answered " + strconv.Itoa(len(res)) + " values, not 2")
	}
	if res[0] == 1 {
		return true, 0, nil
	}
	return false, time.Duration(res[1]) * time.Millisecond, nil
}
