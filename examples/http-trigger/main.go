// Command http-trigger is the ACS identity quickstart's Azure Function in
// Go: an Azure Functions custom handler whose GET /api/token creates an ACS
// identity and a token for it (voip unless ?scopes= says otherwise), served
// by package tokenservice with anonymous callers. With
// COMMUNICATION_SERVICES_CONNECTION_STRING unset it starts the ACS Identity
// emulator in process (not Azure). For what production needs, see
// examples/trusted-service.
package main

import (
	"log"
	"net/http"
	"os"
	"time"

	"github.com/acsgo/acsidentity"
	"github.com/acsgo/acsidentity/emulator"
	"github.com/acsgo/acsidentity/tokenservice"
)

func main() {
	cs := os.Getenv("COMMUNICATION_SERVICES_CONNECTION_STRING")
	if cs == "" {
		em, err := emulator.Start(nil)
		if err != nil {
			log.Fatal(err)
		}
		defer em.Close()
		cs = em.ConnectionString()
		log.Printf("COMMUNICATION_SERVICES_CONNECTION_STRING is unset: using the in-process ACS emulator at %s (NOT Azure)", em.URL)
	}
	client, err := acsidentity.NewClientFromConnectionString(cs, tokenservice.NewClientOptions())
	if err != nil {
		log.Fatal(err) // never contains the access key
	}
	// Anyone who can call the function gets a token, for a new identity
	// each time: the quickstart. The Functions key (authLevel "function")
	// is the only gate.
	// The Functions host routes paths up to ASCII case (/api/Token is
	// /api/token); the Service does the same below its mount point.
	svc, err := tokenservice.New(client, &tokenservice.Options{AllowAnonymous: true, CaseInsensitivePaths: true})
	if err != nil {
		log.Fatal(err)
	}
	port := os.Getenv("FUNCTIONS_CUSTOMHANDLER_PORT") // set by the Functions host
	if port == "" {
		port = "7071"
	}
	// Timeouts and a header limit, so that slow or huge requests cannot
	// hold connections and memory (net/http has neither by default).
	srv := &http.Server{
		Addr:              "127.0.0.1:" + port,
		Handler:           http.StripPrefix("/api", svc), // the Functions host's route prefix
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
	log.Printf("listening on http://127.0.0.1:%s/api/token", port)
	log.Fatal(srv.ListenAndServe())
}
