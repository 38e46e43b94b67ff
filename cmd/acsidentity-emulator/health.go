package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/acsgo/acsidentity/emulator"
)

// healthCommand is the first argument that runs the health probe instead
// of the emulator.
const healthCommand = "health"

// health is "acsidentity-emulator health [-addr host:port] [-timeout d]":
// it asks the emulator at addr for GET /.emulator/health and returns 0 if
// it answers 200 {"status":"ok"}, 1 if not (the reason goes to stderr) and
// 2 for bad arguments, the exit codes a container HEALTHCHECK expects.
//
// Without -addr it probes the URL in the -ready-file of the emulator (from
// ACSIDENTITY_EMULATOR_READY_FILE, which the image sets, so that its
// HEALTHCHECK follows the address the emulator really serves on, whether
// -addr or ACSIDENTITY_EMULATOR_ADDR chose it); without that, the port of
// ACSIDENTITY_EMULATOR_ADDR, and without that the default address.
//
// It exists for the container image, which is built FROM scratch: there is
// no shell, curl or wget to probe with, so the binary probes itself
// (HEALTHCHECK CMD ["/acsidentity-emulator", "health"]). It speaks HTTPS if
// the emulator was started with -tls and HTTP otherwise, so one health
// check fits both.
func health(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("acsidentity-emulator health", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", probeAddr(os.Getenv, emulator.DefaultAddr), "`host:port` of the emulator to probe; when "+envName("addr")+" is set, its port on loopback is the default")
	readyFile := fs.String("ready-file", os.Getenv(envName("ready-file")), "`file` that the emulator's -ready-file wrote: probe the URL in it, unless -addr is given (default "+envName("ready-file")+")")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: acsidentity-emulator health [flags]\n\nExits 0 if the emulator at -addr answers GET %s (over HTTPS or HTTP, whichever it\nserves), 1 if it does not. For container health checks: the image has no shell or curl.\n\nFlags:\n", emulator.HealthPath)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "acsidentity-emulator health: unexpected arguments %q\n", fs.Args())
		return 2
	}
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "addr" })
	if !given && *readyFile != "" {
		a, err := readyAddr(*readyFile)
		if err != nil {
			fmt.Fprintf(stderr, "acsidentity-emulator health: %v\n", err)
			return 1
		}
		*addr = a
	}
	if _, _, err := net.SplitHostPort(*addr); err != nil {
		fmt.Fprintf(stderr, "acsidentity-emulator health: -addr %q is not host:port\n", *addr)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if err := probe(ctx, *addr); err != nil {
		fmt.Fprintf(stderr, "acsidentity-emulator health: %s: %v\n", *addr, err)
		return 1
	}
	return 0
}

// probe asks the emulator at addr whether it is serving. It first offers
// TLS: an emulator started with -tls completes the handshake, one serving
// plain HTTP answers the hello with an HTTP response, which crypto/tls
// reports as a RecordHeaderError; the request then goes over that scheme.
//
// The certificate is not verified. The probe sends no credential and
// learns nothing but the status, and the emulator's certificate is made
// afresh at every start, so there is nothing stable to pin; the
// health route and its exact answer are what identify the emulator.
func probe(ctx context.Context, addr string) error {
	conf := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}
	scheme := "https"
	conn, err := (&tls.Dialer{Config: conf}).DialContext(ctx, "tcp", addr)
	var plain tls.RecordHeaderError
	switch {
	case errors.As(err, &plain):
		scheme = "http"
	case err != nil:
		return err
	default:
		conn.Close()
	}
	tr := &http.Transport{TLSClientConfig: conf, DisableKeepAlives: true} // no Proxy: straight to addr
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+addr+emulator.HealthPath, nil)
	if err != nil {
		return err
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		Status  string `json:"status"`
		Service string `json:"service"`
	}
	err = json.NewDecoder(io.LimitReader(resp.Body, 4<<10)).Decode(&body)
	switch {
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("%s %s answered %s", req.Method, req.URL, resp.Status)
	case err != nil || body.Status != "ok" || body.Service != "acsidentity-emulator":
		return fmt.Errorf("%s %s answered 200 but not as the emulator does", req.Method, req.URL)
	}
	return nil
}

// readyAddr returns the host:port of the URL that an emulator wrote to its
// -ready-file.
func readyAddr(file string) (string, error) {
	b, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%s does not exist: no emulator is serving with -ready-file %s (it writes the file once it serves and removes it when it stops)", file, file)
	}
	if err != nil {
		return "", err
	}
	u, err := url.Parse(strings.TrimSpace(string(b)))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Port() == "" {
		return "", fmt.Errorf("%s does not hold an emulator's URL (http[s]://host:port)", file)
	}
	return u.Host, nil
}
