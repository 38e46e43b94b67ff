package identityrecord

import (
	"errors"
	"strings"
	"testing"
)

const goodID = "8:acs:6ec8b855-ada4-44d7-b3e9-6e76508c6ec9_00000012-3456-7890-abcd-ef0123456789"

func TestCheckCaller(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("k", MaxCallerLen+1)
	for _, tc := range []struct {
		caller, want string // want "" means accepted
	}{
		{"oidc:https://login.example/|sub-1", ""},
		{"x", ""},
		{" ~", ""},
		{strings.Repeat("k", MaxCallerLen), ""},
		{"", "it is empty"},
		{long, "is 257 bytes; at most 256"},
		{"a\nb", "byte 1 is 0x0a"},
		{"caf\u00e9", "byte 3 is 0xc3"},
		{"a\x7f", "byte 1 is 0x7f"},
	} {
		err := CheckCaller(tc.caller)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("CheckCaller(%q) = %v, want nil", tc.caller, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalidCaller)):
			t.Errorf("CheckCaller(%q) = %v, want an ErrInvalidCaller saying %q", Short(tc.caller), err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), long) {
			t.Errorf("the error quotes the whole long key")
		}
	}
}

func TestCheckID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		id, want string
	}{
		{goodID, ""},
		{"8:dod-acs:6EC8B855-ADA4-44D7-B3E9-6E76508C6EC9_1", ""},
		{"8:gcch-acs:6ec8b855-ada4-44d7-b3e9-6e76508c6ec9_abc-DEF", ""},
		{"", "it is empty"},
		{"4:+14255550123", "does not start with"},
		{"8:orgid:6ec8b855-ada4-44d7-b3e9-6e76508c6ec9_1", "does not start with"},
		{"8:acs:6ec8b855-ada4-44d7-b3e9-6e76508c6ec9", "has no _"},
		{"8:acs:resource_1", "resource part is not a GUID"},
		{"8:acs:6ec8b855xada4-44d7-b3e9-6e76508c6ec9_1", "resource part is not a GUID"},
		{"8:acs:6ec8b855-ada4-44d7-b3e9-6e76508c6ecg_1", "resource part is not a GUID"},
		{"8:acs:6ec8b855-ada4-44d7-b3e9-6e76508c6ec9_", "identity part is 0 bytes"},
		{"8:acs:6ec8b855-ada4-44d7-b3e9-6e76508c6ec9_" + strings.Repeat("a", 129), "identity part is 129 bytes"},
		{"8:acs:6ec8b855-ada4-44d7-b3e9-6e76508c6ec9_tenant_user", "more than one _"},
		{"8:acs:6ec8b855-ada4-44d7-b3e9-6e76508c6ec9_a b", "other than letters"},
		{"8:acs:6ec8b855-ada4-44d7-b3e9-6e76508c6ec9_a\x00", "other than letters"},
		{goodID + strings.Repeat("0", MaxIDLen), "at most 256"},
	} {
		err := CheckID(tc.id)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("CheckID(%q) = %v, want nil", tc.id, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalidID)):
			t.Errorf("CheckID(%q) = %v, want an ErrInvalidID saying %q", Short(tc.id), err, tc.want)
		}
		if err != nil && tc.id != "" && strings.Contains(err.Error(), tc.id) {
			t.Errorf("CheckID(%q): the error quotes the ID", tc.id)
		}
	}
}

func TestShort(t *testing.T) {
	t.Parallel()
	if got := Short("abc"); got != "abc" {
		t.Errorf("Short(abc) = %q", got)
	}
	if got := Short(strings.Repeat("x", 100)); got != strings.Repeat("x", 40)+"..." {
		t.Errorf("Short(100 x) = %q", got)
	}
}
