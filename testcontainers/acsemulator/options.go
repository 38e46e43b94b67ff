package acsemulator

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/testcontainers/testcontainers-go"
)

// options are what the module's own options set.
type options struct {
	tls    bool
	key    string
	volume string
	env    map[string]string // ACSIDENTITY_EMULATOR_* settings
}

// Option is an option of Run that the module itself understands; it is a
// testcontainers.ContainerCustomizer, so that it mixes with Testcontainers'
// own options (testcontainers.WithEnv, network.WithNetwork, ...).
type Option func(*options) error

// Customize does nothing: Run reads the Option itself. It is there to
// satisfy testcontainers.ContainerCustomizer.
func (o Option) Customize(*testcontainers.GenericContainerRequest) error { return nil }

var _ testcontainers.ContainerCustomizer = Option(nil)

// WithTLS makes the emulator serve HTTPS with a self-signed certificate
// made at its start, for SDKs that speak only HTTPS (Python's): ServiceURL
// and ConnectionString then say https, and Certificate and CertPool return
// the certificate to trust.
func WithTLS() Option {
	return func(o *options) error {
		o.tls = true
		o.env["ACSIDENTITY_EMULATOR_TLS"] = "true"
		return nil
	}
}

// WithAccessKey makes the emulator accept requests signed with key (base64)
// instead of DevelopmentKey.
func WithAccessKey(key string) Option {
	return func(o *options) error {
		if !validKey(key) {
			return errors.New("WithAccessKey: the key is not standard base64") // never quote a key
		}
		o.key = key
		o.env["ACSIDENTITY_EMULATOR_KEY"] = key
		return nil
	}
}

// volumeName is what Docker accepts as a volume name.
var volumeName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// WithDataVolume keeps the emulator's state (identities, custom IDs,
// revocations, its token-signing key) in the named volume, made if it does
// not exist: a new container on the same volume finds it all, and tokens
// issued before stay valid. Remove the volume yourself
// (testcontainers.RemoveVolumes when terminating the last container).
func WithDataVolume(name string) Option {
	return func(o *options) error {
		if !volumeName.MatchString(name) {
			return fmt.Errorf("WithDataVolume: %q is not a volume name", name)
		}
		o.volume = name
		o.env["ACSIDENTITY_EMULATOR_DATA"] = dataDir + "/emulator.json"
		return nil
	}
}

// WithFaults injects faults, each in the emulator's -fault form
// STATUS|drop[:COUNT[:OPERATION]][:after-commit][:retry-after=SECONDS], such as
// "503:1:issueToken" (the next token request answers 503) or "drop:1" (the
// next request's connection is closed unanswered), to test a client's
// retries. The emulator refuses a malformed one at start.
func WithFaults(specs ...string) Option {
	return func(o *options) error {
		for _, s := range specs {
			if s == "" || strings.ContainsAny(s, " \t\n") {
				return fmt.Errorf("WithFaults: %q is not a fault", s)
			}
		}
		o.env["ACSIDENTITY_EMULATOR_FAULT"] = strings.TrimSpace(o.env["ACSIDENTITY_EMULATOR_FAULT"] + " " + strings.Join(specs, " "))
		return nil
	}
}

// WithAllowedHosts adds names the emulator answers in the Host header,
// besides loopback names, IP addresses, its container's name, its network
// aliases and the Docker host's name, which Run allows itself. A name with
// a leading dot allows a domain and every name under it; "*" any name
// (which lets a web page reach it through DNS rebinding).
func WithAllowedHosts(names ...string) Option {
	return func(o *options) error {
		for _, n := range names {
			if n == "" || strings.ContainsAny(n, " \t\n") {
				return fmt.Errorf("WithAllowedHosts: %q is not a host name", n)
			}
		}
		o.env[envAllowHost] = strings.TrimSpace(o.env[envAllowHost] + " " + strings.Join(names, " "))
		return nil
	}
}

// WithAllowBearer makes the emulator accept Microsoft Entra ID bearer
// tokens with audience https://communication.azure.com as well (their
// signatures are not checked), to test clients made with NewClient and an
// azcore.TokenCredential.
func WithAllowBearer() Option {
	return func(o *options) error {
		o.env["ACSIDENTITY_EMULATOR_ALLOW_BEARER"] = "true"
		return nil
	}
}
