package acsidentity

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// jsIdentifier is an identifier in the JS CommunicationIdentifierKind shape
// used by testdata/raw_id_vectors.json.
type jsIdentifier struct {
	Kind                 string  `json:"kind"`
	CommunicationUserID  string  `json:"communicationUserId"`
	PhoneNumber          string  `json:"phoneNumber"`
	IsAnonymous          bool    `json:"isAnonymous"`
	AssertedID           *string `json:"assertedId"`
	MicrosoftTeamsUserID string  `json:"microsoftTeamsUserId"`
	Cloud                string  `json:"cloud"`
	TeamsAppID           string  `json:"teamsAppId"`
	UserID               string  `json:"userId"`
	TenantID             string  `json:"tenantId"`
	ResourceID           string  `json:"resourceId"`
	ID                   string  `json:"id"`
	RawID                string  `json:"rawId"`
}

// toGo maps the JS shape to this package's types. A null assertedId and a
// missing cloud become "", which is how Go spells "absent".
func (j jsIdentifier) toGo(t *testing.T) CommunicationIdentifier {
	t.Helper()
	cloud := CommunicationCloudEnvironment(j.Cloud)
	switch j.Kind {
	case "communicationUser":
		return CommunicationUserIdentifier{ID: j.CommunicationUserID}
	case "phoneNumber":
		p := PhoneNumberIdentifier{PhoneNumber: j.PhoneNumber, IsAnonymous: j.IsAnonymous, RawIDOverride: j.RawID}
		if j.AssertedID != nil {
			p.AssertedID = *j.AssertedID
		}
		return p
	case "microsoftTeamsUser":
		return MicrosoftTeamsUserIdentifier{UserID: j.MicrosoftTeamsUserID, IsAnonymous: j.IsAnonymous, Cloud: cloud, RawIDOverride: j.RawID}
	case "microsoftTeamsApp":
		return MicrosoftTeamsAppIdentifier{AppID: j.TeamsAppID, Cloud: cloud, RawIDOverride: j.RawID}
	case "teamsExtensionUser":
		return TeamsExtensionUserIdentifier{UserID: j.UserID, TenantID: j.TenantID, ResourceID: j.ResourceID, Cloud: cloud, RawIDOverride: j.RawID}
	case "unknown":
		return UnknownIdentifier{ID: j.ID}
	}
	t.Fatalf("unknown kind %q in vectors", j.Kind)
	return nil
}

type rawIDVectors struct {
	FromRawID []struct {
		RawID    string       `json:"raw_id"`
		Expected jsIdentifier `json:"expected"`
	} `json:"from_raw_id"`
	ToRawID []struct {
		Identifier    jsIdentifier `json:"identifier"`
		ExpectedRawID string       `json:"expected_raw_id"`
	} `json:"to_raw_id"`
	Roundtrip []struct {
		RawID string `json:"raw_id"`
	} `json:"roundtrip"`
}

func loadRawIDVectors(t *testing.T) rawIDVectors {
	t.Helper()
	b, err := os.ReadFile("testdata/raw_id_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v rawIDVectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	// Guard against a truncated or reshaped file silently testing nothing.
	if len(v.FromRawID) != 38 || len(v.ToRawID) != 26 || len(v.Roundtrip) != 29 {
		t.Fatalf("vectors: got %d/%d/%d cases, want 38/26/29", len(v.FromRawID), len(v.ToRawID), len(v.Roundtrip))
	}
	return v
}

// The vectors come from the JS and .NET tests. Where the two differ, the
// vectors (and this package) follow JS: "8:teamsvisitor:" has no cloud
// (.NET: public), "" is an unknown identifier (.NET throws), and a trailing
// "_" gives no asserted ID (.NET: "", which is the same thing in Go).
func TestIdentifierFromRawIDVectors(t *testing.T) {
	t.Parallel()
	for _, tc := range loadRawIDVectors(t).FromRawID {
		t.Run(tc.RawID, func(t *testing.T) {
			t.Parallel()
			got := IdentifierFromRawID(tc.RawID)
			if diff := cmp.Diff(tc.Expected.toGo(t), got); diff != "" {
				t.Errorf("IdentifierFromRawID(%q) mismatch (-want +got):\n%s", tc.RawID, diff)
			}
			if got.RawID() != tc.RawID {
				t.Errorf("RawID() = %q, want %q", got.RawID(), tc.RawID)
			}
		})
	}
}

func TestRawIDFormatVectors(t *testing.T) {
	t.Parallel()
	for _, tc := range loadRawIDVectors(t).ToRawID {
		t.Run(tc.ExpectedRawID, func(t *testing.T) {
			t.Parallel()
			id := tc.Identifier.toGo(t)
			if got := id.RawID(); got != tc.ExpectedRawID {
				t.Errorf("%#v.RawID() = %q, want %q", id, got, tc.ExpectedRawID)
			}
		})
	}
}

func TestRawIDRoundtripVectors(t *testing.T) {
	t.Parallel()
	for _, tc := range loadRawIDVectors(t).Roundtrip {
		t.Run(tc.RawID, func(t *testing.T) {
			t.Parallel()
			checkRoundtrip(t, tc.RawID)
		})
	}
}

// checkRoundtrip asserts the strongest property that holds for every string:
// parsing never normalises, so the parsed identifier's RawID is the input
// byte for byte, parsing that again gives an equal identifier, and the
// parser never relies on RawIDOverride to get there.
func checkRoundtrip(t *testing.T, raw string) {
	t.Helper()
	id := IdentifierFromRawID(raw)
	if got := id.RawID(); got != raw {
		t.Fatalf("IdentifierFromRawID(%q).RawID() = %q", raw, got)
	}
	again := IdentifierFromRawID(id.RawID())
	// Every identifier type is a comparable struct, so == is exact (and
	// keeps the fuzzer fast); cmp only explains a failure.
	if id != again {
		t.Fatalf("parse(format(parse(%q))) differs (-first +second):\n%s", raw, cmp.Diff(id, again))
	}
	if !IdentifiersEqual(id, again) {
		t.Fatalf("IdentifiersEqual(%#v, %#v) = false", id, again)
	}
	var override string
	switch v := id.(type) {
	case PhoneNumberIdentifier:
		override = v.RawIDOverride
	case MicrosoftTeamsUserIdentifier:
		override = v.RawIDOverride
	case MicrosoftTeamsAppIdentifier:
		override = v.RawIDOverride
	case TeamsExtensionUserIdentifier:
		override = v.RawIDOverride
	case CommunicationUserIdentifier, UnknownIdentifier:
	default:
		t.Fatalf("IdentifierFromRawID(%q) returned unexpected type %T", raw, id)
	}
	if override != "" {
		t.Fatalf("IdentifierFromRawID(%q) set RawIDOverride %q", raw, override)
	}
}

func TestIdentifierFromRawIDEdgeCases(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw  string
		want CommunicationIdentifier
	}{
		{"4:", PhoneNumberIdentifier{}},
		{"4:_", PhoneNumberIdentifier{PhoneNumber: "_"}},
		{"4:a_b_", PhoneNumberIdentifier{PhoneNumber: "a_b_"}},
		{"4:anonymous_", PhoneNumberIdentifier{PhoneNumber: "anonymous_"}},
		{"4:a:b:c", PhoneNumberIdentifier{PhoneNumber: "a:b:c"}},
		{"8:acs:", CommunicationUserIdentifier{ID: "8:acs:"}},
		{"8:acs:__", TeamsExtensionUserIdentifier{Cloud: CommunicationCloudPublic}},
		{"8:acs:a_b_c_d", CommunicationUserIdentifier{ID: "8:acs:a_b_c_d"}},
		{"8:spool:a_b_c", CommunicationUserIdentifier{ID: "8:spool:a_b_c"}},
		{"8:orgid:", MicrosoftTeamsUserIdentifier{Cloud: CommunicationCloudPublic}},
		{"8:orgid:a:", UnknownIdentifier{ID: "8:orgid:a:"}},
		{"8:ORGID:a", UnknownIdentifier{ID: "8:ORGID:a"}},
		{"::", UnknownIdentifier{ID: "::"}},
		{":", UnknownIdentifier{ID: ":"}},
		{"8:", UnknownIdentifier{ID: "8:"}},
		{"4", UnknownIdentifier{ID: "4"}},
		{" 4:1", UnknownIdentifier{ID: " 4:1"}},
	}
	for _, tc := range tests {
		got := IdentifierFromRawID(tc.raw)
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("IdentifierFromRawID(%q) mismatch (-want +got):\n%s", tc.raw, diff)
		}
		checkRoundtrip(t, tc.raw)
	}
}

func TestRawIDFormatting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id   CommunicationIdentifier
		want string
	}{
		// An unknown cloud formats as public, as in JS and .NET.
		{MicrosoftTeamsUserIdentifier{UserID: "u", Cloud: "mars"}, "8:orgid:u"},
		{MicrosoftTeamsAppIdentifier{AppID: "a"}, "28:orgid:a"},
		{MicrosoftTeamsAppIdentifier{AppID: "a", RawIDOverride: "28:orgid:b"}, "28:orgid:b"},
		{MicrosoftTeamsUserIdentifier{UserID: "u", IsAnonymous: true, Cloud: CommunicationCloudGCCH}, "8:teamsvisitor:u"},
		// IsAnonymous and AssertedID describe a phone raw ID; they do not make one.
		{PhoneNumberIdentifier{PhoneNumber: "+1", IsAnonymous: true, AssertedID: "x"}, "4:+1"},
		{UnknownIdentifier{}, ""},
	}
	for _, tc := range tests {
		if got := tc.id.RawID(); got != tc.want {
			t.Errorf("%#v.RawID() = %q, want %q", tc.id, got, tc.want)
		}
	}
}

func TestIdentifiersEqual(t *testing.T) {
	t.Parallel()
	phone := PhoneNumberIdentifier{PhoneNumber: "+14255550123"}
	tests := []struct {
		a, b CommunicationIdentifier
		want bool
	}{
		{phone, IdentifierFromRawID("4:+14255550123"), true},
		{phone, PhoneNumberIdentifier{PhoneNumber: "14255550123"}, false},
		{phone, PhoneNumberIdentifier{PhoneNumber: "other", RawIDOverride: "4:+14255550123"}, true},
		// Different kinds with the same raw ID are the same identity.
		{UnknownIdentifier{ID: "8:orgid:x"}, MicrosoftTeamsUserIdentifier{UserID: "x"}, true},
		{CommunicationUserIdentifier{ID: "8:acs:a_b"}, CommunicationUserIdentifier{ID: "8:acs:a_c"}, false},
		{nil, nil, true},
		{nil, UnknownIdentifier{}, false},
		{UnknownIdentifier{}, nil, false},
	}
	for _, tc := range tests {
		if got := IdentifiersEqual(tc.a, tc.b); got != tc.want {
			t.Errorf("IdentifiersEqual(%#v, %#v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
	// The value types are comparable, so they also work as map keys; the
	// raw ID is the key to use across kinds.
	seen := map[string]bool{phone.RawID(): true}
	if !seen[IdentifierFromRawID("4:+14255550123").RawID()] {
		t.Error("raw-ID lookup failed")
	}
}

// FuzzIdentifierFromRawID checks, for any string, that parsing never
// normalises: no current rule rewrites a raw ID (phone numbers are kept
// verbatim, prefixes are matched exactly, the suffix of a three-segment ID
// has no ":" and an extension user's parts no "_"), so RawID() == x for
// every kind, and parsing the result again gives an equal identifier.
func FuzzIdentifierFromRawID(f *testing.F) {
	seeds := []string{
		"", ":", "::", "4:", "4:anonymous", "4:+112345556789_207ffef6", "4:_",
		"8:acs:r_t_u", "8:dod-acs:r_t_u", "8:gcch-acs:r_t", "8:spool:x",
		"8:orgid:x", "8:dod:x", "8:gcch:x", "8:teamsvisitor:x",
		"28:orgid:x", "28:dod:x", "28:gcch:x", "28:x", "48:x", "8:acs:a:b",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		checkRoundtrip(t, raw)
	})
}
