package emulator

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
	id := "8:acs:" + DevelopmentResourceID + "_00000000-0000-4000-8000-000000000001"
	full := savedIdentity{ID: id, CustomID: "alice", Created: t0, LastIssued: t0.Add(time.Second), RevokedAt: t0.Add(time.Minute),
		RevokedSeq: math.MaxUint64 / 2, Deleted: true, DeletedAt: t0.Add(time.Hour)}
	changes := []struct {
		ch   change
		fast bool
	}{
		{change{TokenSeq: 0, Identity: &savedIdentity{ID: id, Created: t0}}, true},
		{change{TokenSeq: 42, Identity: &full}, true},
		{change{TokenSeq: 7, Identity: &savedIdentity{ID: id, CustomID: "ünïcødé ✓", Created: t0.In(time.FixedZone("x", 3600))}}, true},
		{change{TokenSeq: 7, Identity: &savedIdentity{ID: id, CustomID: `quote " and <tag> & \`, Created: t0}}, false},
		{change{TokenSeq: 7, Identity: &savedIdentity{ID: id, CustomID: "tab\there", Created: t0}}, false},
		{change{TokenSeq: math.MaxUint64, Identity: &savedIdentity{ID: id, Created: t0}}, false},
		{change{TokenSeq: 1, Reset: true}, false},
		{change{TokenSeq: 1, EntraDeleted: []string{"x"}}, false},
	}
	for _, tc := range changes {
		raw, err := encodeChange(&tc.ch)
		if err != nil {
			t.Fatal(err)
		}
		var fast change
		if ok := decodeIdentityChange(raw, &fast); ok != tc.fast {
			t.Errorf("%s: fast path %v, want %v", raw, ok, tc.fast)
		}
		var slow, got change
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
		var fast change
		if decodeIdentityChange([]byte(raw), &fast) {
			t.Errorf("%s: the fast path took it", raw)
		}
		var slow, got change
		errSlow, errGot := strictUnmarshal([]byte(raw), &slow), decodeChange([]byte(raw), &got)
		if (errSlow == nil) != (errGot == nil) || cmp.Diff(slow, got) != "" {
			t.Errorf("%s: decodeChange (%v) differs from encoding/json (%v)", raw, errGot, errSlow)
		}
	}
}
