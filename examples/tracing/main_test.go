package main

import (
	"context"
	"testing"
)

// TestRun runs the command against its in-process emulator.
func TestRun(t *testing.T) {
	t.Setenv("COMMUNICATION_SERVICES_CONNECTION_STRING", "")
	if err := run(context.Background()); err != nil {
		t.Fatal(err)
	}
}
