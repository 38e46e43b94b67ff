// Command tracing shows the ACS Identity client's spans in OpenTelemetry:
// the client traces through azcore's TracingProvider, and the Azure SDK's
// azotel adapter connects that to an OpenTelemetry TracerProvider. It is a
// module of its own so that OpenTelemetry stays out of the library's
// go.mod.
//
//	go run .                                   # against an in-process emulator
//	COMMUNICATION_SERVICES_CONNECTION_STRING=... go run .
//
// Each span is printed as JSON by OpenTelemetry's stdout exporter; swap in
// an OTLP exporter to send them to a collector.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/Azure/azure-sdk-for-go/sdk/tracing/azotel"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/acsgo/acsidentity"
	"github.com/acsgo/acsidentity/emulator"
)

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "tracing:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	exporter, err := stdouttrace.New(stdouttrace.WithPrettyPrint())
	if err != nil {
		return err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter))
	defer tp.Shutdown(ctx) // flushes the spans

	connStr := os.Getenv("COMMUNICATION_SERVICES_CONNECTION_STRING")
	if connStr == "" {
		srv, err := emulator.Start(nil)
		if err != nil {
			return err
		}
		defer srv.Close()
		connStr = srv.ConnectionString()
	}
	client, err := newTracedClient(connStr, tp)
	if err != nil {
		return err
	}
	user, err := client.CreateUser(ctx, nil)
	if err != nil {
		return err
	}
	// A call that fails: its spans carry the error status.
	_, err = client.GetToken(ctx, user.User, []acsidentity.TokenScope{"no-such-scope"}, nil)
	fmt.Fprintln(os.Stderr, "GetToken with a bad scope:", err != nil)
	_, err = client.DeleteUser(ctx, user.User, nil)
	return err
}

// newTracedClient makes a client whose spans go to tp.
func newTracedClient(connStr string, tp *sdktrace.TracerProvider) (*acsidentity.Client, error) {
	options := &acsidentity.ClientOptions{}
	options.TracingProvider = azotel.NewTracingProvider(tp, nil)
	return acsidentity.NewClientFromConnectionString(connStr, options)
}
