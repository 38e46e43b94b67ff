// Command http-trigger is the ACS identity quickstart's Azure Function in
// Go: an Azure Functions custom handler whose GET /api/token creates an ACS
// identity and a voip token for it. With COMMUNICATION_SERVICES_CONNECTION_STRING
// unset it starts the ACS Identity emulator in process (not Azure).
// For what production needs, see examples/trusted-service.
package main

import (
	"context"
	"encoding/json"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/acsgo/acsidentity"
	"github.com/acsgo/acsidentity/emulator"
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
	client, err := acsidentity.NewClientFromConnectionString(cs, nil)
	if err != nil {
		log.Fatal(err) // never contains the access key
	}
	http.HandleFunc("GET /api/token", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		res, err := client.CreateUserAndToken(ctx, []acsidentity.TokenScope{acsidentity.TokenScopeVoIP}, nil)
		if err != nil {
			log.Printf("creating an identity and token: %v", err)
			http.Error(w, `{"error":"the identity service failed"}`, http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(map[string]any{
			"user":      map[string]string{"communicationUserId": res.User.ID},
			"token":     res.Token,
			"expiresOn": res.ExpiresOn.UTC().Format(time.RFC3339),
		})
	})
	port := os.Getenv("FUNCTIONS_CUSTOMHANDLER_PORT") // set by the Functions host
	if port == "" {
		port = "7071"
	}
	log.Printf("listening on http://127.0.0.1:%s/api/token", port)
	log.Fatal(http.ListenAndServe("127.0.0.1:"+port, nil))
}
