//go:build unix

package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/acsgo/acsidentity"
)

// TestHardLinkMadeWhileRunning runs the real command on a data file and
// then gives the file a second name. Every save would leave that name with
// a stale copy of the state (and its signing key) that no lock guards, so
// the emulator stops saving, answers changes with 500, says why on
// standard error, and keeps its lock: a second emulator on the new name is
// refused. Once the extra name is gone, saves resume and nothing
// acknowledged is lost.
func TestHardLinkMadeWhileRunning(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := buildCommand(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "state.json")
	cmd, conn, logs := startCommandLogged(t, bin, "-addr", "127.0.0.1:0", "-data", data)
	c := noRetryClient(t, conn)
	ctx := context.Background()
	before, err := c.CreateUser(ctx, &acsidentity.CreateUserOptions{CustomID: "before"})
	if err != nil {
		t.Fatal(err)
	}
	copyName := filepath.Join(dir, "copy.json")
	if err := os.Link(data, copyName); err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateUser(ctx, &acsidentity.CreateUserOptions{CustomID: "during"})
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 500 {
		t.Errorf("a create after the data file got a second name: %v, want a 500", err)
	}
	if code, stderr := runToExit(t, bin, "-addr", "127.0.0.1:0", "-data", copyName); code <= 0 {
		t.Errorf("a second emulator served the hard link after a save (exit %d): %s", code, stderr)
	} else if !strings.Contains(stderr, "in use") {
		t.Errorf("the second emulator was refused for another reason: %s", stderr)
	}
	if s := logs.String(); !strings.Contains(s, "hard link") || !strings.Contains(s, data) {
		t.Errorf("standard error does not report the link: %s", s)
	}

	if err := os.Remove(copyName); err != nil {
		t.Fatal(err)
	}
	after, err := c.CreateUser(ctx, &acsidentity.CreateUserOptions{CustomID: "after"})
	if err != nil {
		t.Fatalf("a create once the extra name was removed: %v", err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	_, conn = startCommand(t, bin, "-addr", "127.0.0.1:0", "-data", data)
	c = noRetryClient(t, conn)
	for _, u := range []acsidentity.CreateUserResponse{before, after} {
		r, err := c.CreateUser(ctx, &acsidentity.CreateUserOptions{CustomID: u.CustomID})
		if err != nil || r.User != u.User {
			t.Errorf("after a restart custom ID %s is %v (%v), want %v", u.CustomID, r.User, err, u.User)
		}
	}
}
