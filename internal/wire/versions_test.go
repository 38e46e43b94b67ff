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
