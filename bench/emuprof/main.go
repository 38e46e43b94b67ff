// Command emuprof serves the emulator exactly as cmd/acsidentity-emulator
// does with its default options (emulator.Listen, in-memory, development
// key), and writes a CPU profile of its whole life to -cpuprofile. It exists
// only for bench/profile.sh: the emulator command has no profiling hook.
//
//	emuprof -addr 127.0.0.1:0 -tls -cert-out emu.crt -cpuprofile emu.pprof
//
// It prints the connection string on a line of its own on stdout, like the
// command, and stops (writing the profile) on SIGINT or SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/acsgo/acsidentity/emulator"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback)")
	useTLS := flag.Bool("tls", false, "serve HTTPS with a self-signed certificate")
	certOut := flag.String("cert-out", "", "write the -tls certificate (PEM) here")
	cpuprofile := flag.String("cpuprofile", "emulator.pprof", "CPU profile `file`")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	f, err := os.Create(*cpuprofile)
	if err != nil {
		fatal(err)
	}
	srv, err := emulator.Listen(*addr, &emulator.Options{TLS: *useTLS})
	if err != nil {
		fatal(err)
	}
	if *useTLS && *certOut != "" {
		if err := os.WriteFile(*certOut, srv.CertificatePEM(), 0o644); err != nil {
			fatal(err)
		}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fatal(err)
	}
	fmt.Println(srv.ConnectionString())
	<-ctx.Done()
	pprof.StopCPUProfile()
	f.Close()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "emuprof:", err)
	os.Exit(1)
}
