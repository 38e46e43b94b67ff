package main

import (
	"context"
	"strings"
	"testing"
)

// TestQuickstart runs the walk-through on the emulator and checks that it
// reports every step and never prints a token.
func TestQuickstart(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), &out, ""); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{"emulator", "Created identity 8:acs:", "Issued a voip token that expires at", "with a chat+voip token", "Revoked the tokens of 8:acs:", "Deleted identity 8:acs:"} {
		if !strings.Contains(got, want) {
			t.Errorf("the output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "eyJ") {
		t.Errorf("the output shows a token:\n%s", got)
	}
	if strings.Count(got, "Deleted identity") != 2 {
		t.Errorf("want two deletions:\n%s", got)
	}
}
