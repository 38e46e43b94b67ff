package tokenservice_test

import (
	"testing"

	"github.com/acsgo/acsidentity/tokenservice"
	"github.com/acsgo/acsidentity/tokenservice/internal/storetest"
)

// The stores' conformance suite checks the interface the Service takes.
var _ tokenservice.IdentityStore = (storetest.Store)(nil)

// TestMemoryIdentityStore: the in-memory store behaves as the Redis and
// SQL stores do (the stores' shared conformance suite).
func TestMemoryIdentityStore(t *testing.T) {
	t.Parallel()
	s := tokenservice.NewMemoryIdentityStore()
	storetest.Lifecycle(t, s, "trusted-service.v1.caller")
	storetest.RecordRace(t, []storetest.Store{s, s, s})
	storetest.ForgetRace(t, s)
}
