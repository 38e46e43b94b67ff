package redisstore_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/acsgo/acsidentity/tokenservice/redisstore"
	"github.com/redis/go-redis/v9"
)

// A Store and a RateLimiter on the application's Redis, shared by every
// replica of the token service. (It needs a Redis server, so go test only
// compiles it.)
func Example() {
	opt, err := redis.ParseURL("redis://127.0.0.1:6379/0")
	if err != nil {
		log.Fatal(err)
	}
	// Required: without it go-redis ignores context deadlines.
	opt.ContextTimeoutEnabled = true
	client := redis.NewClient(opt)
	defer client.Close()

	identities, err := redisstore.New(client, &redisstore.Options{TTL: 90 * 24 * time.Hour})
	if err != nil {
		log.Fatal(err)
	}
	limiter, err := redisstore.NewRateLimiter(client, 30, 10, nil)
	if err != nil {
		log.Fatal(err)
	}
	_ = limiter // tokenservice.Options.RateLimiter

	ctx := context.Background()
	// Two replicas record an identity each for a new caller at once: one
	// wins, and both use its ID. The loser deletes the identity it made.
	won, err := identities.Record(ctx, "oidc:alice", "8:acs:6ec8b855-ada4-44d7-b3e9-6e76508c6ec9_00000001-0000-0000-0000-000000000001")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("alice is", won)
}
