package acsemulator_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/acsgo/acsidentity"
	"github.com/acsgo/acsidentity/emulator"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"

	"github.com/acsgo/acsidentity/testcontainers/acsemulator"
)

// imageEnv names the emulator image the tests run; .ci/run builds it with
// scripts/images.sh under a tag of its own and sets it.
const imageEnv = "ACSEMULATOR_TEST_IMAGE"

// image returns the image to test, or skips (fails under CI=true) when
// there is no image or no Docker to run it on.
func image(t *testing.T) string {
	t.Helper()
	missing := func(why string) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	img := os.Getenv(imageEnv)
	if img == "" {
		missing(imageEnv + " is not set: build the image (scripts/images.sh) and set it to its name, such as acsidentity-emulator:latest")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err == nil {
		_, err = cli.Ping(ctx, client.PingOptions{})
		cli.Close()
	}
	if err != nil {
		missing("no Docker daemon to run the emulator on (DOCKER_HOST, or .ci/run's images/dockerd.sh): " + err.Error())
	}
	return img
}

func run(t *testing.T, opts ...testcontainers.ContainerCustomizer) *acsemulator.Container {
	t.Helper()
	img := image(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ctr, err := acsemulator.Run(ctx, img, opts...)
	testcontainers.CleanupContainer(t, ctr)
	if err != nil {
		t.Fatal(err)
	}
	return ctr
}

// TestClient: the connection string that ConnectionString returns works
// with the library's Client, through the whole lifecycle of an identity.
func TestClient(t *testing.T) {
	t.Parallel()
	ctr := run(t)
	ctx := context.Background()
	conn, err := ctr.ConnectionString(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(conn, "endpoint=http://") || !strings.HasSuffix(conn, "/;accesskey="+emulator.DevelopmentKey) {
		t.Fatalf("connection string %q", conn)
	}
	client, err := acsidentity.NewClientFromConnectionString(conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	made, err := client.CreateUserAndToken(ctx, []acsidentity.TokenScope{acsidentity.TokenScopeChat}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(made.User.ID, "8:acs:") || made.Token == "" {
		t.Fatalf("CreateUserAndToken: %v", made)
	}
	if _, err := client.GetToken(ctx, made.User, []acsidentity.TokenScope{acsidentity.TokenScopeVoIP}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := client.RevokeTokens(ctx, made.User, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := client.DeleteUser(ctx, made.User, nil); err != nil {
		t.Fatal(err)
	}
	_, err = client.GetToken(ctx, made.User, []acsidentity.TokenScope{acsidentity.TokenScopeChat}, nil)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusNotFound {
		t.Fatalf("GetToken for a deleted user: %v, want a 404 *azcore.ResponseError", err)
	}
	if got := ctr.AccessKey(); got != emulator.DevelopmentKey || acsemulator.DevelopmentKey != emulator.DevelopmentKey {
		t.Error("the module's DevelopmentKey is not the emulator's")
	}
	if _, err := ctr.Certificate(); err == nil {
		t.Error("a certificate from an emulator without TLS")
	}
}

// TestTLS: WithTLS serves HTTPS with the certificate that CertPool trusts.
func TestTLS(t *testing.T) {
	t.Parallel()
	key := "bXkgb3duIGtleSBmb3IgdGhlIGVtdWxhdG9yIGluIGEgY29udGFpbmVy"
	ctr := run(t, acsemulator.WithTLS(), acsemulator.WithAccessKey(key))
	ctx := context.Background()
	conn, err := ctr.ConnectionString(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(conn, "endpoint=https://") || !strings.HasSuffix(conn, ";accesskey="+key) {
		t.Fatalf("connection string %q", conn)
	}
	pool, err := ctr.CertPool()
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	defer tr.CloseIdleConnections()
	opts := &acsidentity.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: &http.Client{Transport: tr}}}
	client, err := acsidentity.NewClientFromConnectionString(conn, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.CreateUser(ctx, nil); err != nil {
		t.Fatal(err)
	}
	// Signed with the development key instead: refused.
	ep, _ := ctr.ServiceURL(ctx)
	other, err := acsidentity.NewClientFromConnectionString("endpoint="+ep+";accesskey="+emulator.DevelopmentKey, opts)
	if err != nil {
		t.Fatal(err)
	}
	var re *azcore.ResponseError
	if _, err := other.CreateUser(ctx, nil); !errors.As(err, &re) || re.StatusCode != http.StatusUnauthorized {
		t.Errorf("a request signed with another key: %v, want 401", err)
	}
}

// TestDataVolume: a new container on the same volume has the identity,
// and the token issued before is still valid.
func TestDataVolume(t *testing.T) {
	t.Parallel()
	volume := fmt.Sprintf("acsemulator-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	ctx := context.Background()
	img := image(t)
	first, err := acsemulator.Run(ctx, img, acsemulator.WithDataVolume(volume))
	if err != nil {
		testcontainers.CleanupContainer(t, first)
		t.Fatal(err)
	}
	conn, _ := first.ConnectionString(ctx)
	client, err := acsidentity.NewClientFromConnectionString(conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	made, err := client.CreateUserAndToken(ctx, []acsidentity.TokenScope{acsidentity.TokenScopeChat}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := testcontainers.TerminateContainer(first); err != nil {
		t.Fatal(err)
	}

	second := run(t, acsemulator.WithDataVolume(volume))
	t.Cleanup(func() {
		// The last container goes with the volume.
		if err := testcontainers.TerminateContainer(second, testcontainers.RemoveVolumes(volume)); err != nil {
			t.Errorf("removing the volume: %v", err)
		}
	})
	conn, _ = second.ConnectionString(ctx)
	client, err = acsidentity.NewClientFromConnectionString(conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.GetToken(ctx, made.User, []acsidentity.TokenScope{acsidentity.TokenScopeVoIP}, nil); err != nil {
		t.Fatalf("the identity made in the first container: %v", err)
	}
	ep, _ := second.ServiceURL(ctx)
	resp, err := http.Post(ep+".emulator/introspect", "application/json", strings.NewReader(`{"token":"`+made.Token+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 512)
	n, _ := resp.Body.Read(buf)
	if !strings.Contains(string(buf[:n]), `"status":"valid"`) {
		t.Errorf("the token issued in the first container: %s %s", resp.Status, buf[:n])
	}
}

// TestFaults: an injected 503 reaches a client that does not retry, and
// the next request succeeds.
func TestFaults(t *testing.T) {
	t.Parallel()
	ctr := run(t, acsemulator.WithFaults("503:1:issueToken"))
	ctx := context.Background()
	conn, _ := ctr.ConnectionString(ctx)
	client, err := acsidentity.NewClientFromConnectionString(conn, &acsidentity.ClientOptions{ClientOptions: azcore.ClientOptions{Retry: policy.RetryOptions{MaxRetries: -1}}})
	if err != nil {
		t.Fatal(err)
	}
	user, err := client.CreateUser(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var re *azcore.ResponseError
	if _, err := client.GetToken(ctx, user.User, []acsidentity.TokenScope{acsidentity.TokenScopeChat}, nil); !errors.As(err, &re) || re.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("the first GetToken: %v, want the injected 503", err)
	}
	if _, err := client.GetToken(ctx, user.User, []acsidentity.TokenScope{acsidentity.TokenScopeChat}, nil); err != nil {
		t.Fatalf("the second GetToken: %v", err)
	}
}

// TestHostCheck: the emulator in the container refuses a Host that a
// DNS-rebinding page would send, and answers the network alias that
// another container calls it by.
func TestHostCheck(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	image(t)
	nw, err := network.New(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nw.Remove(context.Background()) })
	ctr := run(t, network.WithNetwork([]string{"acs-emulator"}, nw), acsemulator.WithAllowedHosts("dev.example.test"))
	ep, err := ctr.ServiceURL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(ep)
	for host, want := range map[string]int{
		"evil.example:" + u.Port():        http.StatusForbidden,
		"evil.example":                    http.StatusForbidden,
		u.Host:                            http.StatusOK,
		"127.0.0.1:" + u.Port():           http.StatusOK,
		"acs-emulator:10780":              http.StatusOK,
		"dev.example.test":                http.StatusOK,
		"acs-emulator.evil.example:10780": http.StatusForbidden,
	} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ep+strings.TrimPrefix(acsemulator.HealthPath, "/"), nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %s: %s, want %d", host, resp.Status, want)
		}
	}
}

// TestOptionErrors: bad options fail Run before anything is started, and
// never quote a key.
func TestOptionErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		opt  testcontainers.ContainerCustomizer
		want string
	}{
		{acsemulator.WithAccessKey("not base64!"), "WithAccessKey: the key is not standard base64"},
		{acsemulator.WithDataVolume("../x"), `WithDataVolume: "../x" is not a volume name`},
		{acsemulator.WithFaults("503 1"), `WithFaults: "503 1" is not a fault`},
		{acsemulator.WithAllowedHosts(""), `WithAllowedHosts: "" is not a host name`},
	} {
		ctr, err := acsemulator.Run(context.Background(), "acsidentity-emulator:never-pulled", c.opt)
		if ctr != nil || err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "not base64!") {
			t.Errorf("%v, %v; want an error saying %q", ctr, err, c.want)
		}
	}
}
