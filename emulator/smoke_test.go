package emulator

import (
	"testing"

	"github.com/acsgo/acsidentity/internal/wire"
)

func TestSmoke(t *testing.T) {
	_, c := start(t, nil)
	id := c.createUser(wire.V2023_10_01)
	r, tok := c.issue(id, wire.V2023_10_01, "chat", "voip")
	mustStatus(t, r, 200)
	t.Logf("%s %s", id, r.body)
	_ = tok
}
