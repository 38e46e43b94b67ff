package emulator

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Limits of a server made by Start or Listen on what a client can make it
// hold before it has checked the client's credentials.
const (
	// maxStreams is the most HTTP/2 requests one connection may have open.
	maxStreams = 100
	// maxHeaderBytes caps a request's header block, over HTTP/1 (431
	// above it; net/http allows 4 KiB more for the request line) and
	// HTTP/2 (where the connection ends). An ACS request's headers take
	// about 1 KiB; an Entra ID bearer token with the most groups it
	// lists (200) about 12 KiB.
	maxHeaderBytes = 16 << 10
	// headerTimeout is how long a client may take to send a request's
	// headers, and before the first one its TLS handshake.
	headerTimeout = 5 * time.Second
	// h2PingAfter is how long an HTTP/2 connection may send no complete
	// frame before it is pinged, and h2PingTimeout how long it then has
	// to answer. A client that stalls in the middle of a header block
	// cannot answer (any frame but the block's next one ends the
	// connection), so such a block is cut after the two together.
	h2PingAfter   = 4 * time.Second
	h2PingTimeout = 4 * time.Second
	// h2MaxFrame is the protocol's smallest frame size limit: a frame is
	// read whole into memory before it is parsed.
	h2MaxFrame = 16 << 10
)

// Server is an Emulator serving HTTP or HTTPS on a TCP address.
type Server struct {
	// URL is the base URL, such as http://127.0.0.1:43127 (no trailing slash).
	URL string
	// Emulator is the emulator being served.
	Emulator *Emulator

	accessKey string
	srv       *http.Server
	ln        net.Listener
	cert      *x509.Certificate
	certPEM   []byte
	done      chan struct{}
}

// Start serves a new Emulator on a free loopback port: over HTTP, or over
// HTTPS if opts.TLS is set.
func Start(opts *Options) (*Server, error) { return Listen("127.0.0.1:0", opts) }

// StartTLS is Start with Options.TLS set: it serves a new Emulator over
// HTTPS on a free loopback port with a self-signed certificate for
// 127.0.0.1, ::1 and localhost; use Server.Client, Server.CertPool or
// Server.Certificate to trust it.
func StartTLS(opts *Options) (*Server, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	o.TLS = true
	return Listen("127.0.0.1:0", &o)
}

// Listen serves a new Emulator on addr (":0" ports pick a free port), over
// HTTPS with a fresh self-signed certificate if opts.TLS is set. It bounds
// what clients can make it hold: header size and time, HTTP/2 frames and
// streams, and open connections (Options.MaxConns); on any addr it answers
// only loopback Host names, IP addresses, the machine's host name and
// Options.AllowedHosts. The package
// documentation's "Hostile clients" says how.
func Listen(addr string, opts *Options) (*Server, error) {
	useTLS := opts != nil && opts.TLS
	e, err := New(opts)
	if err != nil {
		return nil, err
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.MaxConns < 0 {
		e.Close()
		return nil, fmt.Errorf("emulator: MaxConns is %d, want 0 (the default) or more", o.MaxConns)
	}
	if o.MaxConns == 0 {
		o.MaxConns = defaultMaxConns()
	}
	hosts, err := newHostFilter(o.AllowedHosts)
	if err != nil {
		e.Close()
		return nil, err
	}
	inner, err := net.Listen("tcp", addr)
	if err != nil {
		e.Close()
		return nil, err
	}
	tcp := inner.Addr().(*net.TCPAddr)
	e.hosts = hosts
	ln := newConnLimiter(inner, o.MaxConns, o.Logger)
	s := &Server{Emulator: e, ln: ln, done: make(chan struct{}), accessKey: DevelopmentKey}
	if o.AccessKey != "" {
		s.accessKey = o.AccessKey
	}
	s.srv = &http.Server{
		Handler:           e,
		ReadHeaderTimeout: headerTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		IdleTimeout:       2 * time.Minute,
		ConnState:         ln.track,
		// Over HTTP/2 one connection carries many requests: bound how many
		// run at once, how much unread body each may have buffered, how
		// large a frame may be and how long a header block may stall.
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams:          maxStreams,
			MaxReadFrameSize:              h2MaxFrame,
			MaxReceiveBufferPerConnection: 1 << 20,
			MaxReceiveBufferPerStream:     256 << 10,
			SendPingTimeout:               h2PingAfter,
			PingTimeout:                   h2PingTimeout,
		},
		// Connection-level errors (such as a client that does not trust
		// the certificate) go to the Logger, or nowhere.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	if o.Logger != nil {
		s.srv.ErrorLog = slog.NewLogLogger(o.Logger.Handler(), slog.LevelInfo)
	}
	scheme := "http"
	if useTLS {
		cert, der, err := selfSigned()
		if err != nil {
			ln.Close()
			e.Close()
			return nil, err
		}
		s.cert, _ = x509.ParseCertificate(der)
		s.certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		s.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		scheme = "https"
	}
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	s.URL = scheme + "://" + net.JoinHostPort(host, strconv.Itoa(tcp.Port))
	go func() {
		defer close(s.done)
		if useTLS {
			s.srv.ServeTLS(ln, "", "") // offers HTTP/2 and HTTP/1.1
		} else {
			s.srv.Serve(ln)
		}
	}()
	return s, nil
}

// selfSigned makes an ECDSA P-256 certificate for the loopback names,
// valid for a year.
func selfSigned() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "acsidentity-emulator", Organization: []string{"acsidentity emulator (self-signed)"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, der, nil
}

// ConnectionString returns "endpoint=<URL>/;accesskey=<key>" for the
// server. It contains the access key: do not log it.
func (s *Server) ConnectionString() string {
	return "endpoint=" + s.URL + "/;accesskey=" + s.accessKey
}

// Certificate returns the server's self-signed certificate, or nil if it
// serves plain HTTP.
func (s *Server) Certificate() *x509.Certificate { return s.cert }

// CertificatePEM returns the PEM encoding of Certificate, or nil.
func (s *Server) CertificatePEM() []byte { return s.certPEM }

// CertPool returns a pool that trusts the server's certificate (the system
// pool is not included), or nil for plain HTTP.
func (s *Server) CertPool() *x509.CertPool {
	if s.cert == nil {
		return nil
	}
	p := x509.NewCertPool()
	p.AddCert(s.cert)
	return p
}

// Client returns an HTTP client that trusts the server's certificate.
func (s *Server) Client() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if s.cert != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: s.CertPool(), MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr}
}

// Shutdown stops accepting connections, waits for active requests (until
// ctx ends) and closes the emulator, saving its state.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	<-s.done
	return errors.Join(err, s.Emulator.Close())
}

// Close stops the server at once and closes the emulator, saving its
// state.
func (s *Server) Close() error {
	err := s.srv.Close()
	<-s.done
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return errors.Join(err, s.Emulator.Close())
}
