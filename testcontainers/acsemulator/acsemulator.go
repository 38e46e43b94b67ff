// Package acsemulator is a Testcontainers for Go module for the Azure
// Communication Services Identity emulator (the acsidentity-emulator image
// of github.com/acsgo/acsidentity), shaped like Testcontainers' own modules
// such as Azurite's:
//
//	ctr, err := acsemulator.Run(ctx, "acsidentity-emulator:latest")
//	defer testcontainers.TerminateContainer(ctr)
//	conn, err := ctr.ConnectionString(ctx)
//	client, err := acsidentity.NewClientFromConnectionString(conn, nil)
//
// The connection string works with every ACS Identity SDK (Go, JavaScript,
// Python, .NET, Java). With WithTLS the emulator serves HTTPS with a
// certificate made at its start, which Certificate and CertPool return.
//
// It lives in a Go module of its own, so that users of the library never
// get Docker's dependencies. The image is not on a registry yet: build it
// with scripts/images.sh from the repository.
package acsemulator

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

const (
	// Port is the port the emulator listens on in its container.
	Port = "10780/tcp"
	// DevelopmentKey is the emulator's public access key, used unless
	// WithAccessKey gives another. Never use it for anything real.
	DevelopmentKey = "3x7p0eSIV80p4cKqdoM6rxlPoPpH2VHNL4pNPiUN+VFTQPuRUQnaEFUYLDunlcDC1Vuo+m16Wt6KBT46fPToYA=="
	// HealthPath answers 200 {"status":"ok",...} once the emulator serves.
	HealthPath = "/.emulator/health"
	// certPath is where the image's emulator writes its -tls certificate
	// (the image sets ACSIDENTITY_EMULATOR_CERT_OUT to it).
	certPath = "/tmp/acsidentity-emulator.crt"
	// dataDir is where WithDataVolume mounts its volume; the image's user
	// owns it, so a new volume starts with the right owner.
	dataDir = "/data"
)

// Container is a running emulator.
type Container struct {
	testcontainers.Container
	settings options
	certPEM  []byte
}

// Run starts the emulator image img (acsidentity-emulator:latest as
// scripts/images.sh builds it, or a tag of yours) and returns once it
// answers HealthPath through its mapped port. As with every Testcontainers
// module, a container is returned with the error when it was made but did
// not get ready, so that it can be terminated.
func Run(ctx context.Context, img string, opts ...testcontainers.ContainerCustomizer) (*Container, error) {
	settings := options{env: map[string]string{}}
	for _, opt := range opts {
		if o, ok := opt.(Option); ok {
			if err := o(&settings); err != nil {
				return nil, fmt.Errorf("acsemulator option: %w", err)
			}
		}
	}
	health := wait.ForHTTP(HealthPath).WithPort(Port).
		WithResponseMatcher(func(body io.Reader) bool {
			b, _ := io.ReadAll(io.LimitReader(body, 4<<10))
			return strings.Contains(string(b), `"status":"ok"`)
		})
	if settings.tls {
		// The certificate is new at every start; it is read (and then
		// trusted) only once the emulator serves.
		health = health.WithTLS(true, &tls.Config{InsecureSkipVerify: true})
	}
	moduleOpts := []testcontainers.ContainerCustomizer{
		testcontainers.WithExposedPorts(Port),
		testcontainers.WithEnv(settings.env),
		testcontainers.WithWaitStrategy(health),
	}
	if settings.volume != "" {
		moduleOpts = append(moduleOpts, testcontainers.WithMounts(testcontainers.VolumeMount(settings.volume, dataDir)))
	}
	// Last, so that it sees every option's network aliases: the names the
	// emulator must answer in the Host header besides loopback names and
	// IP addresses.
	moduleOpts = append(moduleOpts, opts...)
	moduleOpts = append(moduleOpts, allowNames())

	ctr, err := testcontainers.Run(ctx, img, moduleOpts...)
	var c *Container
	if ctr != nil {
		c = &Container{Container: ctr, settings: settings}
	}
	if err != nil {
		return c, fmt.Errorf("run acsidentity emulator: %w", err)
	}
	if settings.tls {
		if c.certPEM, err = c.readCertificate(ctx); err != nil {
			return c, fmt.Errorf("run acsidentity emulator: its certificate: %w", err)
		}
	}
	return c, nil
}

// allowNames adds the request's network aliases and the Docker host's name
// (DOCKER_HOST=tcp://name:port, or TESTCONTAINERS_HOST_OVERRIDE) to
// ACSIDENTITY_EMULATOR_ALLOW_HOST, after every other option has run.
func allowNames() testcontainers.CustomizeRequestOption {
	return func(req *testcontainers.GenericContainerRequest) error {
		var names []string
		if v := req.Env[envAllowHost]; v != "" {
			names = strings.Fields(v)
		}
		for _, aliases := range req.NetworkAliases {
			names = append(names, aliases...)
		}
		if p, err := testcontainers.NewDockerProvider(); err == nil {
			host, err := p.DaemonHost(context.Background())
			p.Close()
			if err == nil && host != "localhost" && net.ParseIP(strings.Trim(host, "[]")) == nil {
				names = append(names, host)
			}
		}
		if len(names) > 0 {
			if req.Env == nil {
				req.Env = map[string]string{}
			}
			req.Env[envAllowHost] = strings.Join(names, " ")
		}
		return nil
	}
}

// envAllowHost is the variable of the emulator's -allow-host.
const envAllowHost = "ACSIDENTITY_EMULATOR_ALLOW_HOST"

// ServiceURL returns the emulator's endpoint as the host sees it, such as
// http://localhost:32768/ (https with WithTLS).
func (c *Container) ServiceURL(ctx context.Context) (string, error) {
	scheme := "http"
	if c.settings.tls {
		scheme = "https"
	}
	ep, err := c.PortEndpoint(ctx, Port, scheme)
	if err != nil {
		return "", err
	}
	return ep + "/", nil
}

// AccessKey returns the key requests must be signed with: DevelopmentKey,
// or the one WithAccessKey gave.
func (c *Container) AccessKey() string {
	if c.settings.key != "" {
		return c.settings.key
	}
	return DevelopmentKey
}

// ConnectionString returns "endpoint=<ServiceURL>;accesskey=<AccessKey>",
// which every ACS SDK takes: in Go,
// acsidentity.NewClientFromConnectionString (with WithTLS, trust
// CertPool in the client's transport).
func (c *Container) ConnectionString(ctx context.Context) (string, error) {
	ep, err := c.ServiceURL(ctx)
	if err != nil {
		return "", err
	}
	return "endpoint=" + ep + ";accesskey=" + c.AccessKey(), nil
}

// Certificate returns the emulator's certificate (PEM) with WithTLS, for
// NODE_EXTRA_CA_CERTS, REQUESTS_CA_BUNDLE or SSL_CERT_FILE. It names
// localhost, 127.0.0.1 and ::1 only, so reach the emulator at one of
// them (TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1 where Testcontainers would
// use another address). Without WithTLS it is an error.
func (c *Container) Certificate() ([]byte, error) {
	if !c.settings.tls {
		return nil, errors.New("acsemulator: the emulator serves plain HTTP: run it WithTLS for a certificate")
	}
	return append([]byte(nil), c.certPEM...), nil
}

// CertPool returns a pool holding only the emulator's certificate, for a
// client's tls.Config.RootCAs (see Certificate).
func (c *Container) CertPool() (*x509.CertPool, error) {
	pem, err := c.Certificate()
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("acsemulator: the emulator's certificate is not PEM")
	}
	return pool, nil
}

// readCertificate copies the -tls certificate out of the container.
func (c *Container) readCertificate(ctx context.Context) ([]byte, error) {
	r, err := c.CopyFileFromContainer(ctx, certPath)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(io.LimitReader(r, 64<<10))
}

// validKey reports whether key is standard base64 of a key, as an ACS
// access key is.
func validKey(key string) bool {
	raw, err := base64.StdEncoding.DecodeString(key)
	return err == nil && len(raw) > 0
}
