// Command webapp serves the trusted service's test page (index.html) on
// its own origin, as a web app's dev server would:
//
//	go run ./examples/trusted-service            # the service, on http://localhost:7071
//	go run ./examples/trusted-service/webapp     # the page, on http://localhost:3000
//
// then open http://localhost:3000/ and press "Get token". The service
// allows any http://localhost:<port> origin with its embedded emulator and
// TRUSTED_SERVICE_CORS_ORIGINS unset; otherwise add
// http://localhost:3000 to that variable.
package main

import (
	_ "embed"
	"flag"
	"log"
	"net"
	"net/http"
	"time"
)

//go:embed index.html
var page []byte

func main() {
	addr := flag.String("addr", "127.0.0.1:3000", "listen address `host:port`")
	flag.Parse()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(page)
	})
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	_, port, err := net.SplitHostPort(*addr)
	if err != nil {
		log.Fatalf("-addr %q is not host:port", *addr)
	}
	log.Printf("open http://localhost:%s/ (the service should be on http://localhost:7071)", port)
	log.Fatal(srv.ListenAndServe())
}
