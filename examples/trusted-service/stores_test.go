package main

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
)

// TestStoreUnreachableAtStart: a store that cannot be reached or used
// stops the start with an error that names the variable and hides the
// password, and releases what was opened (it once panicked instead).
func TestStoreUnreachableAtStart(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	for _, raw := range []string{
		"redis://:s3cretpw@" + closed + "/0",
		"postgres://u:s3cretpw@" + closed + "/x?sslmode=disable",
		"postgres://u:s3cretpw@" + closed + "/x?sslmode=bogus",
		"sqlite:" + t.TempDir() + "/missing-dir/ids.db",
	} {
		env := map[string]string{envIdentityStore: raw}
		err := run(context.Background(), []string{"-addr", "127.0.0.1:0"}, func(k string) string { return env[k] }, io.Discard)
		if err == nil || !strings.Contains(err.Error(), envIdentityStore) {
			t.Errorf("%s: run = %v; want an error naming %s", strings.ReplaceAll(raw, "s3cretpw", "…"), err, envIdentityStore)
		}
		if err != nil && strings.Contains(err.Error(), "s3cretpw") {
			t.Errorf("the error shows the store's password: %v", err)
		}
	}
}
