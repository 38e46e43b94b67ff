package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/acsgo/acsidentity/tokenservice/internal/identityrecord"
	"github.com/redis/go-redis/v9"
)

// DefaultKeyPrefix is the key prefix of a Store whose Options.KeyPrefix is
// empty.
const DefaultKeyPrefix = "acsidentity:caller:"

// maxPrefixLen bounds Options.KeyPrefix and RateLimiterOptions.KeyPrefix.
const maxPrefixLen = 256

// Options configures a Store. The zero value (or nil) is ready to use.
type Options struct {
	// KeyPrefix is put before the caller to make a record's key. Empty
	// means DefaultKeyPrefix. Several services (or tests) can share one
	// Redis database with different prefixes. At most 256 bytes.
	KeyPrefix string

	// TTL, when positive, makes a record expire TTL after it was recorded
	// or last read, so that callers not seen for that long are forgotten:
	// their next request gets a new ACS identity. 0 keeps records until
	// they are forgotten. When set it must be at least one second, and
	// the server Redis 6.2 or later (GETEX).
	TTL time.Duration
}

// Store records which ACS identity belongs to which caller in Redis, for
// all replicas of a token service. It is safe for concurrent use; it holds
// no state of its own beyond its settings.
type Store struct {
	client redis.UniversalClient
	prefix string
	ttl    time.Duration

	// oldServer is set once SET NX GET has been refused as a syntax error
	// (Redis before 7): Record then uses SET NX and GET.
	oldServer atomic.Bool
}

// New returns a Store on client. client must honour context deadlines
// (ContextTimeoutEnabled in its options); New refuses one whose options
// say otherwise. options may be nil. New sends nothing to Redis.
func New(client redis.UniversalClient, options *Options) (*Store, error) {
	if err := checkClient(client); err != nil {
		return nil, fmt.Errorf("redisstore: %w", err)
	}
	var o Options
	if options != nil {
		o = *options
	}
	if o.KeyPrefix == "" {
		o.KeyPrefix = DefaultKeyPrefix
	}
	if len(o.KeyPrefix) > maxPrefixLen {
		return nil, fmt.Errorf("redisstore: Options.KeyPrefix is %d bytes; at most %d", len(o.KeyPrefix), maxPrefixLen)
	}
	if o.TTL < 0 || (o.TTL > 0 && o.TTL < time.Second) {
		return nil, fmt.Errorf("redisstore: Options.TTL is %v; it must be 0 (no expiry) or at least 1s", o.TTL)
	}
	return &Store{client: client, prefix: o.KeyPrefix, ttl: o.TTL}, nil
}

// checkClient refuses a nil client and one whose options say it ignores
// context deadlines. Clients of other types (wrappers) are taken on trust.
func checkClient(client redis.UniversalClient) error {
	var enabled bool
	switch c := client.(type) {
	case nil:
		return errors.New("the client is nil")
	case *redis.Client:
		if c == nil {
			return errors.New("the client is nil")
		}
		enabled = c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		if c == nil {
			return errors.New("the client is nil")
		}
		enabled = c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		if c == nil {
			return errors.New("the client is nil")
		}
		enabled = c.Options().ContextTimeoutEnabled
	default:
		return nil
	}
	if !enabled {
		return errors.New("the client ignores context deadlines: set ContextTimeoutEnabled: true in its options " +
			"(otherwise a slow Redis holds every request for the client's ReadTimeout, once per retry)")
	}
	return nil
}

func (s *Store) key(caller string) string { return s.prefix + caller }

// Identity returns the ACS user ID recorded for caller, or "" and a nil
// error when none is. With Options.TTL set it also restarts the record's
// TTL. A stored value that is not an ACS user ID is an error.
func (s *Store) Identity(ctx context.Context, caller string) (string, error) {
	if err := identityrecord.CheckCaller(caller); err != nil {
		return "", fmt.Errorf("redisstore: identity: %w", err)
	}
	var (
		id  string
		err error
	)
	if s.ttl > 0 {
		id, err = s.client.GetEx(ctx, s.key(caller), s.ttl).Result()
	} else {
		id, err = s.client.Get(ctx, s.key(caller)).Result()
	}
	switch {
	case errors.Is(err, redis.Nil):
		return "", nil
	case err != nil:
		return "", identityrecord.Wrap(ctx, "redisstore", "identity", err)
	}
	if err := identityrecord.CheckID(id); err != nil {
		return "", corrupt("identity", caller, err)
	}
	return id, nil
}

// Record records id for caller unless an ID is already recorded for it,
// and returns the recorded ID: id when this call won, the earlier ID when
// another call (on any replica) did. It is one atomic command on the
// server. With Options.TTL set a new record expires TTL later.
func (s *Store) Record(ctx context.Context, caller, id string) (string, error) {
	if err := identityrecord.CheckCaller(caller); err != nil {
		return "", fmt.Errorf("redisstore: record: %w", err)
	}
	if err := identityrecord.CheckID(id); err != nil {
		return "", fmt.Errorf("redisstore: record: %w", err)
	}
	key := s.key(caller)
	if !s.oldServer.Load() {
		old, err := s.client.SetArgs(ctx, key, id, redis.SetArgs{Mode: "NX", Get: true, TTL: s.ttl}).Result()
		switch {
		case errors.Is(err, redis.Nil):
			return id, nil
		case err == nil:
			return s.recorded(caller, old)
		case isSyntaxError(err):
			s.oldServer.Store(true)
		default:
			return "", identityrecord.Wrap(ctx, "redisstore", "record", err)
		}
	}
	return s.recordOld(ctx, caller, key, id)
}

// isSyntaxError reports whether err is Redis refusing SET's NX and GET
// together, as servers before 7.0 do.
func isSyntaxError(err error) bool {
	var rerr redis.Error
	return errors.As(err, &rerr) && strings.HasPrefix(rerr.Error(), "ERR syntax error")
}

// recordAttempts bounds recordOld's loop: each turn follows a record that
// was forgotten between SET NX and GET, which takes a race with Forget.
const recordAttempts = 5

// recordOld is Record for servers without SET NX GET: SET NX, and when the
// key exists, GET it. If the record is forgotten in between, try again.
func (s *Store) recordOld(ctx context.Context, caller, key, id string) (string, error) {
	for range recordAttempts {
		set, err := s.client.SetNX(ctx, key, id, s.ttl).Result()
		if err != nil {
			return "", identityrecord.Wrap(ctx, "redisstore", "record", err)
		}
		if set {
			return id, nil
		}
		old, err := s.client.Get(ctx, key).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return "", identityrecord.Wrap(ctx, "redisstore", "record", err)
		}
		return s.recorded(caller, old)
	}
	return "", fmt.Errorf("redisstore: record: the record for caller %q was forgotten %d times while being read", identityrecord.Short(caller), recordAttempts)
}

// recorded checks the ID another call recorded.
func (s *Store) recorded(caller, old string) (string, error) {
	if err := identityrecord.CheckID(old); err != nil {
		return "", corrupt("record", caller, err)
	}
	return old, nil
}

// forgetScript deletes KEYS[1] only if it holds ARGV[1].
var forgetScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// Forget removes caller's record if it still names id. No record, or a
// record of another ID, is not an error: that record stays. It is one
// atomic script on the server.
func (s *Store) Forget(ctx context.Context, caller, id string) error {
	if err := identityrecord.CheckCaller(caller); err != nil {
		return fmt.Errorf("redisstore: forget: %w", err)
	}
	if err := identityrecord.CheckID(id); err != nil {
		return fmt.Errorf("redisstore: forget: %w", err)
	}
	if err := forgetScript.Run(ctx, s.client, []string{s.key(caller)}, id).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return identityrecord.Wrap(ctx, "redisstore", "forget", err)
	}
	return nil
}

// ErrCorruptRecord is wrapped by the error Identity and Record return for a
// stored value that is not an ACS user ID.
var ErrCorruptRecord = errors.New("corrupt record")

func corrupt(op, caller string, why error) error {
	return fmt.Errorf("redisstore: %s: %w: the value recorded for caller %q is not an ACS user ID (%v)", op, ErrCorruptRecord, identityrecord.Short(caller), why)
}
