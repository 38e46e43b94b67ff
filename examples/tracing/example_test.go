package main

import (
	"context"
	"fmt"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/acsgo/acsidentity"
	"github.com/acsgo/acsidentity/emulator"
)

// Wire OpenTelemetry into a client with azotel, then read the spans one
// call made: the operation's span and its HTTP span, and on a failed call
// both with status Error.
func Example() {
	srv, err := emulator.Start(nil)
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	recorder := tracetest.NewSpanRecorder() // in a service: an OTLP exporter
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
	client, err := newTracedClient(srv.ConnectionString(), tp)
	if err != nil {
		panic(err)
	}

	ctx := context.Background()
	user, err := client.CreateUser(ctx, nil)
	if err != nil {
		panic(err)
	}
	_, err = client.GetToken(ctx, user.User, []acsidentity.TokenScope{"no-such-scope"}, nil)
	fmt.Println("GetToken failed:", err != nil)

	for _, s := range recorder.Ended() {
		fmt.Printf("%s (%s) %s\n", s.Name(), s.SpanKind(), s.Status().Code)
	}
	// Output:
	// GetToken failed: true
	// HTTP POST (client) Unset
	// Client.CreateUser (internal) Unset
	// HTTP POST (client) Error
	// Client.GetToken (internal) Error
}
