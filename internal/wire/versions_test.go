package wire

import (
	"slices"
	"testing"
)

// TestVersionsWithIsACopy: a caller that edits what VersionsWith returned
// changes neither the table nor Has.
func TestVersionsWithIsACopy(t *testing.T) {
	for f := range featureCount {
		want := slices.Clone(since[f])
		got := VersionsWith(f)
		for i := range got {
			got[i] = "edited"
		}
		if !slices.Equal(since[f], want) || !Has(want[0], f) || Has("edited", f) {
			t.Errorf("%s: editing VersionsWith's result changed the table to %v", f, since[f])
		}
	}
}

// TestV2026_07_22: the stable 2026-07-22 has exactly the operations of its
// swagger (stable/2026-07-22/CommunicationIdentity.json in
// Azure/azure-rest-api-specs): create (with expiresInMinutes and the join
// scopes), delete, issue token, revoke, the Teams user exchange and the
// Teams Phone extension exchange and assignments; not custom IDs, get
// identity or the Entra operations. The default stays 2025-06-30.
func TestV2026_07_22(t *testing.T) {
	want := map[Feature]bool{
		FeatureCreate: true, FeatureDelete: true, FeatureIssueToken: true, FeatureRevoke: true,
		FeatureTeamsUserExchange: true, FeatureExpiresIn: true, FeatureJoinScopes: true, FeatureTeamsExtension: true,
	}
	for f := range featureCount {
		if got := Has(V2026_07_22, f); got != want[f] {
			t.Errorf("%s: Has = %t, want %t", f, got, want[f])
		}
	}
	if DefaultVersion != V2025_06_30 {
		t.Errorf("DefaultVersion = %s", DefaultVersion)
	}
	if i, j := slices.Index(Versions, V2025_06_30), slices.Index(Versions, V2026_07_22); j != i+1 || Versions[len(Versions)-1] != V2025_03_02Preview {
		t.Errorf("Versions = %v: GA versions oldest first, the preview last", Versions)
	}
}
