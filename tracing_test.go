package acsidentity_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/tracing"
	"github.com/google/go-cmp/cmp"

	"github.com/acsgo/acsidentity"
)

// recordedSpan is what a test tracing provider saw of one span.
type recordedSpan struct {
	Name, Parent string
	Kind         tracing.SpanKind
	Status       tracing.SpanStatus
	Ended        bool
}

// spanRecorder is an azcore tracing provider that records every span, as
// an OpenTelemetry exporter would see them through azotel.
type spanRecorder struct {
	mu    sync.Mutex
	spans []*recordedSpan
	// tracers are the module names the client asked tracers for.
	tracers []string
}

type parentKey struct{}

func (r *spanRecorder) provider() tracing.Provider {
	return tracing.NewProvider(func(name, version string) tracing.Tracer {
		r.mu.Lock()
		r.tracers = append(r.tracers, name)
		r.mu.Unlock()
		return tracing.NewTracer(func(ctx context.Context, spanName string, o *tracing.SpanOptions) (context.Context, tracing.Span) {
			s := &recordedSpan{Name: spanName, Kind: o.Kind}
			if p, ok := ctx.Value(parentKey{}).(*recordedSpan); ok {
				s.Parent = p.Name
			}
			r.mu.Lock()
			r.spans = append(r.spans, s)
			r.mu.Unlock()
			return context.WithValue(ctx, parentKey{}, s), tracing.NewSpan(tracing.SpanImpl{
				End: func() { r.mu.Lock(); s.Ended = true; r.mu.Unlock() },
				SetStatus: func(c tracing.SpanStatus, _ string) {
					r.mu.Lock()
					s.Status = c
					r.mu.Unlock()
				},
			})
		}, nil)
	}, nil)
}

// take returns the spans recorded so far and forgets them.
func (r *spanRecorder) take() []recordedSpan {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]recordedSpan, len(r.spans))
	for i, s := range r.spans {
		out[i] = *s
	}
	r.spans = nil
	return out
}

// TestTracingSpans proves what a tracing backend sees: one span per
// operation named Client.<Method>, the HTTP span as its child, and a
// failed call's spans marked as errors.
func TestTracingSpans(t *testing.T) {
	t.Parallel()
	srv := startEmulator(t, nil)
	rec := &spanRecorder{}
	o := &acsidentity.ClientOptions{}
	o.APIVersion = previewVersion
	o.TracingProvider = rec.provider()
	c, err := acsidentity.NewClientFromConnectionString(srv.ConnectionString(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.tracers) != 1 || rec.tracers[0] != "acsidentity" {
		t.Errorf("tracers for %q, want one for acsidentity", rec.tracers)
	}
	ctx := context.Background()
	const (
		internal = tracing.SpanKindInternal
		client   = tracing.SpanKindClient
		unset    = tracing.SpanStatusUnset
		failed   = tracing.SpanStatusError
	)

	created, err := c.CreateUserAndToken(ctx, []acsidentity.TokenScope{acsidentity.TokenScopeChat}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []recordedSpan{
		{Name: "Client.CreateUserAndToken", Kind: internal, Status: unset, Ended: true},
		{Name: "HTTP POST", Parent: "Client.CreateUserAndToken", Kind: client, Status: unset, Ended: true},
	}
	if diff := cmp.Diff(want, rec.take()); diff != "" {
		t.Errorf("CreateUserAndToken spans (-want +got):\n%s", diff)
	}

	// A call the service refuses: both spans are errors.
	_, err = c.GetToken(ctx, acsidentity.CommunicationUserIdentifier{ID: created.User.ID + "-nobody"}, []acsidentity.TokenScope{acsidentity.TokenScopeChat}, nil)
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		t.Fatalf("GetToken of nobody: %v", err)
	}
	want = []recordedSpan{
		{Name: "Client.GetToken", Kind: internal, Status: failed, Ended: true},
		{Name: "HTTP POST", Parent: "Client.GetToken", Kind: client, Status: failed, Ended: true},
	}
	if diff := cmp.Diff(want, rec.take()); diff != "" {
		t.Errorf("failed GetToken spans (-want +got):\n%s", diff)
	}

	// The pager's span is the client's, one per page.
	pager := c.NewListEntraAssignmentsPager(nil)
	for pager.More() {
		if _, err := pager.NextPage(ctx); err != nil {
			t.Fatal(err)
		}
	}
	want = []recordedSpan{
		{Name: "Client.NewListEntraAssignmentsPager", Kind: internal, Status: unset, Ended: true},
		{Name: "HTTP GET", Parent: "Client.NewListEntraAssignmentsPager", Kind: client, Status: unset, Ended: true},
	}
	if diff := cmp.Diff(want, rec.take()); diff != "" {
		t.Errorf("pager spans (-want +got):\n%s", diff)
	}

	// Refused before any I/O: no span at all, nothing to trace.
	if _, err := c.GetToken(ctx, acsidentity.CommunicationUserIdentifier{}, nil, nil); err == nil {
		t.Fatal("no error")
	}
	if got := rec.take(); len(got) != 0 {
		t.Errorf("a call refused locally made spans: %+v", got)
	}
}
