package datafile

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestDecodeIdentityChangeAgrees: the fast decoder of identity changes
// decodes what json.Marshal writes exactly as encoding/json does, and
// declines (leaving it to encoding/json) what it cannot be sure of.
func TestDecodeIdentityChangeAgrees(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)
	id := "8:acs:6ec8b855-ada4-44d7-b3e9-6e76508c6ec9_00000000-0000-4000-8000-000000000001"
	full := Identity{ID: id, CustomID: "alice", Created: t0, LastIssued: t0.Add(time.Second), RevokedAt: t0.Add(time.Minute),
		RevokedSeq: math.MaxUint64 / 2, Deleted: true, DeletedAt: t0.Add(time.Hour)}
	changes := []struct {
		ch   Change
		fast bool
	}{
		{Change{TokenSeq: 0, Identity: &Identity{ID: id, Created: t0}}, true},
		{Change{TokenSeq: 42, Identity: &full}, true},
		{Change{TokenSeq: 7, Identity: &Identity{ID: id, CustomID: "ünïcødé ✓", Created: t0.In(time.FixedZone("x", 3600))}}, true},
		{Change{TokenSeq: 7, Identity: &Identity{ID: id, CustomID: `quote " and <tag> & \`, Created: t0}}, false},
		{Change{TokenSeq: 7, Identity: &Identity{ID: id, CustomID: "tab\there", Created: t0}}, false},
		{Change{TokenSeq: math.MaxUint64, Identity: &Identity{ID: id, Created: t0}}, false},
		{Change{TokenSeq: 1, Reset: true}, false},
		{Change{TokenSeq: 1, EntraDeleted: []string{"x"}}, false},
	}
	for _, tc := range changes {
		raw, err := EncodeChange(&tc.ch)
		if err != nil {
			t.Fatal(err)
		}
		var fast Change
		if ok := decodeIdentityChange(raw, &fast); ok != tc.fast {
			t.Errorf("%s: fast path %v, want %v", raw, ok, tc.fast)
		}
		var slow, got Change
		if err := strictUnmarshal(raw, &slow); err != nil {
			t.Fatal(err)
		}
		if err := decodeChange(raw, &got); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(slow, got); diff != "" {
			t.Errorf("%s: decodeChange differs from encoding/json (-json +fast):\n%s", raw, diff)
		}
	}
	// Forms encoding/json reads but json.Marshal does not write are left
	// to it, and so are those it refuses.
	for _, raw := range []string{
		`{"tokenSeq":1,"identity":{"id":"a","created":"2026-01-02T03:04:05Z"},"extra":1}`,
		`{"tokenSeq":1,"identity":{"id":"a","created":"2026-01-02T03:04:05Z","extra":1}}`,
		`{"tokenSeq":01,"identity":{"id":"a","created":"2026-01-02T03:04:05Z"}}`,
		`{"tokenSeq":1, "identity":{"id":"a","created":"2026-01-02T03:04:05Z"}}`,
		`{"tokenSeq":1,"identity":{"id":"a","created":"2026-01-02T03:04:05Z","deleted":false}}`,
		`{"tokenSeq":1,"identity":{"id":"a","created":"not a time"}}`,
		`{"tokenSeq":1,"identity":{"id":"\xff","created":"2026-01-02T03:04:05Z"}}`,
		`{"tokenSeq":1.5,"identity":{"id":"a","created":"2026-01-02T03:04:05Z"}}`,
		`{"tokenSeq":1,"identity":{"id":"a","created":"2026-01-02T03:04:05Z"}} `,
	} {
		var fast Change
		if decodeIdentityChange([]byte(raw), &fast) {
			t.Errorf("%s: the fast path took it", raw)
		}
		var slow, got Change
		errSlow, errGot := strictUnmarshal([]byte(raw), &slow), decodeChange([]byte(raw), &got)
		if (errSlow == nil) != (errGot == nil) || cmp.Diff(slow, got) != "" {
			t.Errorf("%s: decodeChange (%v) differs from encoding/json (%v)", raw, errGot, errSlow)
		}
	}
}
