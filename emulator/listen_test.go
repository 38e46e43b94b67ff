package emulator

import (
	"strings"
	"testing"
)

// TestListenTLSOption: Options.TLS chooses HTTPS for Listen and Start, and
// StartTLS does not change the caller's Options.
func TestListenTLSOption(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		start  func() (*Server, error)
		scheme string
	}{
		{"Listen", func() (*Server, error) { return Listen("127.0.0.1:0", nil) }, "http://"},
		{"Listen TLS", func() (*Server, error) { return Listen("127.0.0.1:0", &Options{TLS: true}) }, "https://"},
		{"Start TLS", func() (*Server, error) { return Start(&Options{TLS: true}) }, "https://"},
	} {
		srv, err := tc.start()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !strings.HasPrefix(srv.URL, tc.scheme) || (srv.Certificate() != nil) != (tc.scheme == "https://") {
			t.Errorf("%s: URL %s, certificate %v", tc.name, srv.URL, srv.Certificate() != nil)
		}
		resp, err := srv.Client().Get(srv.URL + "/.emulator/health")
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
		} else {
			resp.Body.Close()
		}
		srv.Close()
	}
	opts := &Options{}
	srv, err := StartTLS(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if opts.TLS || !strings.HasPrefix(srv.URL, "https://") {
		t.Errorf("StartTLS: caller's TLS %v, URL %s", opts.TLS, srv.URL)
	}
}
