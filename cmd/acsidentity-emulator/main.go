// Command acsidentity-emulator serves a local emulator of the Azure
// Communication Services Identity REST API (see package
// github.com/acsgo/acsidentity/emulator).
//
// It listens on 127.0.0.1:10780 unless told otherwise and prints, on a line
// of its own on standard output, the connection string to use:
//
//	endpoint=http://127.0.0.1:10780/;accesskey=<key>
//
// With -addr 127.0.0.1:0 it takes a free port and prints the real one.
// SIGINT or SIGTERM shut it down cleanly (in-flight requests finish and the
// data file is saved); it then exits 0. Warnings (a data file migrated or
// no longer saved, the connection cap reached) go to standard error; -v
// adds a line per request.
//
// Usage:
//
//	acsidentity-emulator [flags]
//
// Run it with -h for the flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/acsgo/acsidentity/emulator"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) > 1 && os.Args[1] == healthCommand {
		os.Exit(health(ctx, os.Args[2:], os.Stderr))
	}
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// faultList is the repeatable -fault flag.
type faultList []emulator.Fault

func (f *faultList) String() string {
	var s []string
	for _, x := range *f {
		s = append(s, x.String())
	}
	return strings.Join(s, ",")
}

func (f *faultList) Set(v string) error {
	x, err := emulator.ParseFault(v)
	if err != nil {
		return err
	}
	*f = append(*f, x)
	return nil
}

// hostList is the repeatable -allow-host flag.
type hostList []string

func (h *hostList) String() string { return strings.Join(*h, ",") }

func (h *hostList) Set(v string) error {
	if v == "" {
		return errors.New("empty host name")
	}
	*h = append(*h, v)
	return nil
}

// run is the whole command; it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("acsidentity-emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		addr        = fs.String("addr", emulator.DefaultAddr, "`host:port` to listen on; port 0 picks a free port (the printed connection string shows it)")
		key         = fs.String("key", "", "base64 access key that requests must be signed with (default: the public development key emulator.DevelopmentKey)")
		resourceID  = fs.String("resource-id", "", "resource `GUID` used in identity IDs 8:acs:<GUID>_<unique> (default "+emulator.DevelopmentResourceID+")")
		dataFile    = fs.String("data", "", "`file` to keep state in across restarts (identities, custom IDs, assignments, revocations, signing key); empty keeps it in memory")
		useTLS      = fs.Bool("tls", false, "serve HTTPS with a self-signed certificate for 127.0.0.1, ::1 and localhost, made at start")
		certOut     = fs.String("cert-out", defaultCertOut(), "`file` to write the -tls certificate to (PEM), e.g. for NODE_EXTRA_CA_CERTS, REQUESTS_CA_BUNDLE or SSL_CERT_FILE; a new file, mode 0644, renamed over whatever is there (a link is replaced, not followed)")
		readyFile   = fs.String("ready-file", "", "`file` to write the emulator's URL to once it serves (a new file renamed over the path), removed when it stops; `acsidentity-emulator health` probes that URL when "+envName("ready-file")+" names the file")
		allowBearer = fs.Bool("allow-bearer", false, "also accept Microsoft Entra ID bearer tokens with aud https://communication.azure.com (their signatures are NOT checked)")
		throttle    = fs.Bool("throttle", false, "enforce the service's per-30-second limits with 429 and Retry-After")
		maxBody     = fs.Int64("max-body", 1<<20, "largest request body in `bytes` (413 above it); the bodies being received at once share a budget of 4x this or 8 MiB, whichever is more (503 above it)")
		bodyTimeout = fs.Duration("body-timeout", 10*time.Second, "how long a request body may take to arrive, however slowly it trickles in (408 and the connection closed after it)")
		pageSize    = fs.Int("page-size", 100, "page size of the Entra assignment list")
		opaque      = fs.Bool("opaque-tokens", false, "issue encrypted access tokens that clients cannot decode (five-part JWEs of the usual JWTs) instead of JWTs, to test clients that must assume a token's lifetime; a stand-in, not the real service's encrypted form")
		verbose     = fs.Bool("v", false, "log every request (method, path, status, duration) to standard error; keys and tokens are never logged")
		faults      faultList
		allowHosts  hostList
		maxConns    = fs.Int("max-conns", 0, "most `connections` kept open; at the cap a new one closes the one idle longest (default: half the open-file limit less 64, at most 1024)")
		migrate     = fs.Bool("migrate-data", false, "load a -data file of an older format, which is otherwise refused (1 has no checksum; 2 and 3 do not record where their journal ends), and save it as format 4")
		journal     = fs.Int64("journal-limit", 0, "`bytes` of changes the -data file collects after its last full copy of the state before it is compacted (default: the size of that copy or 1 MiB, whichever is more)")
	)
	fs.Var(&allowHosts, "allow-host", "accept this `name` in the Host header besides loopback names (repeatable; * for any); only checked when listening on loopback, to stop DNS rebinding")
	fs.Var(&faults, "fault", "inject a fault (repeatable); `spec` is STATUS|drop[:COUNT[:OPERATION]][:after-commit][:retry-after=SECONDS], e.g. 503:3:create, 503:1:create:after-commit, drop:1, 429:2:issueToken:retry-after=5; operations: "+strings.Join(emulator.Operations(), ", "))
	applyDev := devFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: acsidentity-emulator [flags]\n\nServes an emulator of the Azure Communication Services Identity REST API and prints its\nconnection string (endpoint=...;accesskey=...) on standard output. SIGINT/SIGTERM stop it.\n\nEvery flag can be set by an environment variable instead: -tls by ACSIDENTITY_EMULATOR_TLS=true,\n-cert-out by ACSIDENTITY_EMULATOR_CERT_OUT=FILE, and so on; the command line wins.\n`acsidentity-emulator health -h` tells how to probe a running emulator (for container health checks).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "acsidentity-emulator: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return 2
	}
	if err := flagsFromEnv(fs, os.Environ()); err != nil {
		fmt.Fprintf(stderr, "acsidentity-emulator: %v\n", err)
		return 2
	}
	opts := &emulator.Options{
		AccessKey:    *key,
		ResourceID:   *resourceID,
		AllowBearer:  *allowBearer,
		Throttle:     *throttle,
		DataFile:     *dataFile,
		MaxBodyBytes: *maxBody,
		BodyTimeout:  *bodyTimeout,
		PageSize:     *pageSize,
		TLS:          *useTLS,
		OpaqueTokens: *opaque,

		MaxConns:              *maxConns,
		AllowedHosts:          allowHosts,
		MigrateLegacyDataFile: *migrate,
		JournalLimit:          *journal,
	}
	if err := applyDev(opts); err != nil {
		fmt.Fprintf(stderr, "acsidentity-emulator: %v\n", err)
		return 1
	}
	// Warnings (a data file migrated or no longer saved, the connection
	// cap reached) always go to standard error; -v adds every request.
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	opts.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	srv, err := emulator.Listen(*addr, opts)
	if err != nil {
		fmt.Fprintf(stderr, "acsidentity-emulator: %v\n", err)
		return 1
	}
	for _, f := range faults {
		srv.Emulator.InjectFault(f)
	}
	if *useTLS {
		if err := writeCertificate(*certOut, srv.CertificatePEM()); err != nil {
			fmt.Fprintf(stderr, "acsidentity-emulator: writing the certificate: %v\n", err)
			srv.Close()
			return 1
		}
		fmt.Fprintf(stderr, "acsidentity-emulator: TLS certificate written to %s\n", *certOut)
	}
	if *readyFile != "" {
		if err := replaceFile(*readyFile, []byte(srv.URL+"\n")); err != nil {
			fmt.Fprintf(stderr, "acsidentity-emulator: writing -ready-file: %v\n", err)
			srv.Close()
			return 1
		}
		defer os.Remove(*readyFile)
	}
	fmt.Fprintf(stderr, "acsidentity-emulator: serving on %s\n", srv.URL)
	announceDev(stderr, srv)
	fmt.Fprintln(stdout, srv.ConnectionString())
	if f, ok := stdout.(*os.File); ok {
		f.Sync()
	}
	<-ctx.Done()
	fmt.Fprintln(stderr, "acsidentity-emulator: shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		fmt.Fprintf(stderr, "acsidentity-emulator: shutdown: %v\n", err)
		return 1
	}
	return 0
}
