package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/acsgo/acsidentity"
	"github.com/acsgo/acsidentity/emulator"
)

// TestRunCustomIDRaces: -custom-id-races, or its environment variable,
// makes overlapping creates with one custom ID make several identities and
// the next create answer 409 MultipleIdentitiesForCustomId; without
// either, the same creates make one identity.
func TestRunCustomIDRaces(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		env   map[string]string
		races bool
	}{
		{name: "flag", args: []string{"-custom-id-races"}, races: true},
		{name: "environment", env: map[string]string{
			"ACSIDENTITY_EMULATOR_CUSTOM_ID_RACES":       "1",
			"ACSIDENTITY_EMULATOR_CUSTOM_ID_RACE_WINDOW": "500ms",
		}, races: true},
		{name: "environment off", env: map[string]string{"ACSIDENTITY_EMULATOR_CUSTOM_ID_RACES": "false"}},
		{name: "default"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			pr, pw := io.Pipe()
			var errb bytes.Buffer
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan int)
			go func() {
				done <- run(ctx, append([]string{"-addr", "127.0.0.1:0"}, tc.args...), pw, &errb)
				pw.Close()
			}()
			line, err := bufio.NewReader(pr).ReadString('\n')
			if err != nil {
				t.Fatalf("%v: %s", err, errb.String())
			}
			go io.Copy(io.Discard, pr)
			// The client's own transport, whose idle connections are closed
			// before the command stops: a connection it dialed but never
			// used would hold up the shutdown for 5 seconds.
			tr := &http.Transport{}
			defer func() {
				tr.CloseIdleConnections()
				cancel()
				if code := <-done; code != 0 {
					t.Errorf("exit %d: %s", code, errb.String())
				}
			}()
			conn := strings.TrimSpace(line)
			o := &acsidentity.ClientOptions{}
			o.APIVersion = "2025-03-02-preview"
			o.Transport = &http.Client{Transport: tr}
			c, err := acsidentity.NewClientFromConnectionString(conn, o)
			if err != nil {
				t.Fatal(err)
			}
			start := make(chan struct{})
			var wg sync.WaitGroup
			for range 10 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					c.CreateUser(context.Background(), &acsidentity.CreateUserOptions{CustomID: "racer"})
				}()
			}
			close(start)
			wg.Wait()

			endpoint, _, _ := strings.Cut(strings.TrimPrefix(conn, "endpoint="), "/;accesskey=")
			resp, err := http.Get(endpoint + emulator.IdentitiesPath)
			if err != nil {
				t.Fatal(err)
			}
			var page struct{ Value []emulator.IdentityRecord }
			json.NewDecoder(resp.Body).Decode(&page)
			resp.Body.Close()
			n := 0
			for _, r := range page.Value {
				if r.CustomID == "racer" {
					n++
				}
			}
			_, err = c.CreateUser(context.Background(), &acsidentity.CreateUserOptions{CustomID: "racer"})
			var re *azcore.ResponseError
			switch {
			case tc.races && n < 2:
				t.Errorf("10 overlapping creates made %d identities, want 2 or more", n)
			case tc.races && (!errors.As(err, &re) || re.StatusCode != 409 || re.ErrorCode != "MultipleIdentitiesForCustomId"):
				t.Errorf("a create after the race: %v, want 409 MultipleIdentitiesForCustomId", err)
			case !tc.races && (n != 1 || err != nil):
				t.Errorf("without races: %d identities, then %v; want one identity, then no error", n, err)
			}
		})
	}
}
