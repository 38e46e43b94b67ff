package emulator

import (
	"cmp"
	"context"
	"crypto"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/acsgo/acsidentity/emulator/internal/datafile"
	"github.com/acsgo/acsidentity/internal/hmacauth"
	"github.com/acsgo/acsidentity/internal/wire"
)

// DefaultAddr is the address the acsidentity-emulator command listens on
// unless told otherwise.
const DefaultAddr = "127.0.0.1:10780"

// DevelopmentKey is the well-known access key (64 bytes, base64) the
// emulator accepts when Options.AccessKey is empty. It is public: never use
// it for anything but local development and tests.
const DevelopmentKey = "3x7p0eSIV80p4cKqdoM6rxlPoPpH2VHNL4pNPiUN+VFTQPuRUQnaEFUYLDunlcDC1Vuo+m16Wt6KBT46fPToYA=="

// DevelopmentResourceID is the ACS resource ID the emulator uses when
// Options.ResourceID is empty. Identities look like
// 8:acs:6ec8b855-ada4-44d7-b3e9-6e76508c6ec9_<unique>.
const DevelopmentResourceID = "6ec8b855-ada4-44d7-b3e9-6e76508c6ec9"

const (
	defaultMaxBodyBytes = 1 << 20
	defaultPageSize     = 100
	// maxClockSkew is how far x-ms-date may be from the emulator's clock.
	maxClockSkew = 15 * time.Minute
	// defaultLifetime is the token lifetime when expiresInMinutes is absent.
	defaultLifetime = 24 * time.Hour
)

// Options configures an Emulator. The zero value (or nil) is a working
// in-memory emulator with the development key.
type Options struct {
	// AccessKey is the base64 access key requests must be signed with.
	// Empty means DevelopmentKey.
	AccessKey string
	// ResourceID is the resource GUID used in identity IDs. Empty means
	// DevelopmentResourceID.
	ResourceID string
	// AllowBearer makes the emulator accept Microsoft Entra ID bearer tokens
	// whose aud is https://communication.azure.com. Their signatures are NOT
	// checked; see the package documentation.
	AllowBearer bool
	// Throttle enforces the service's per-30-second limits and answers 429
	// with Retry-After above them.
	Throttle bool
	// DataFile, when set, is where the emulator keeps its state. Every
	// acknowledged change is on disk before the response is sent (see
	// Persistence in the package documentation). Empty means in memory
	// only.
	DataFile string
	// MaxBodyBytes caps request bodies (413 above it). 0 means 1 MiB. The
	// bodies being received at any one time share a budget of four times
	// MaxBodyBytes or 8 MiB, whichever is more; a request that would
	// exceed it is answered 503 with Retry-After.
	MaxBodyBytes int64
	// BodyTimeout is how long a request body may take to arrive, counted
	// from when the emulator starts handling the request, however slowly
	// its bytes trickle in; a body still incomplete then is answered 408
	// and its connection closed. 0 means 10 seconds. It applies wherever
	// the connection supports read deadlines (net/http servers do).
	BodyTimeout time.Duration
	// Logger receives one Info record per request (method, path, status,
	// duration and MS-CV) and, from a server made by Start or Listen, the
	// HTTP server's connection errors (a failed TLS handshake, say), also
	// at Info. What needs the operator (a data file migrated, or no longer
	// saved; the connection cap reached) comes at Warn or Error. Nil means
	// silent. Keys, tokens and the Authorization header are never logged.
	Logger *slog.Logger
	// Now is the emulator's clock. Nil means time.Now.
	Now func() time.Time
	// PageSize is the page size of the Entra assignment list. 0 means 100.
	PageSize int
	// TLS makes Start and Listen serve HTTPS with a fresh self-signed
	// certificate instead of HTTP. New, which serves nothing, ignores it.
	TLS bool
	// MaxConns caps the connections a server made by Start or Listen keeps
	// open; at the cap a new connection closes the one idle longest (or
	// slowest to send its request). 0 means half of what the process's
	// open-file limit leaves after 64 descriptors, at most 1024 (480 under
	// a limit of 1024). New ignores it.
	MaxConns int
	// AllowedHosts are the names, besides loopback names (localhost,
	// 127.0.0.0/8 and ::1), IP addresses and the machine's host name, that
	// a server made by Start or Listen accepts in the Host header, on any
	// address it listens on; any other is answered 403, so that a web
	// page cannot reach the emulator through DNS rebinding. A name with a
	// leading dot (".example.test", ".localhost") allows that domain and
	// every name under it; "*" accepts any Host. Listen fails on an entry
	// that is not a host name (one with a port, say). New ignores it.
	AllowedHosts []string
	// MigrateLegacyDataFile lets New load a DataFile of an older format
	// and save it as format 4; it logs the migration at Warn. Without it
	// such a file is refused, since nothing could tell an edit to it (format
	// 1 has no checksum) or lines cut from its journal's end (formats 2 and
	// 3 do not record it) from the state the emulator saved.
	MigrateLegacyDataFile bool
	// JournalLimit is how many bytes of changes the DataFile may collect
	// after its last full copy of the state before a new copy is written
	// in the background and the changes dropped (compaction). 0 means the
	// size of that copy or 1 MiB, whichever is more, so that the cost of a
	// save does not grow with the state and the file stays under about
	// twice its size.
	JournalLimit int64
	// OpaqueTokens makes the emulator issue access tokens that clients
	// cannot decode instead of JWTs: each is the JWT it would otherwise
	// issue, encrypted as a JWE of five dot-separated parts ("dir",
	// "A256GCM") under a key derived from the signing key. It is a test aid
	// for clients that must cope with encrypted tokens, such as
	// acsidentity.CommunicationTokenCredential and the JS SDK's credential,
	// which assume a lifetime for a token they cannot decode. The real
	// service's encrypted form is not public; this is not it. Responses
	// still carry expiresOn, and Introspect reads these tokens.
	OpaqueTokens bool
	// MaxDataFileBytes is the largest DataFile New reads; a larger one is
	// refused, as is one that is not a regular file. 0 means
	// DefaultMaxDataFileBytes (1 GiB).
	MaxDataFileBytes int64
	// AllowRemoteInspection lets the inspection and reset endpoints
	// (/.emulator/identities, /.emulator/reset, /.emulator/seed) answer
	// requests that reached the emulator on an address other than
	// loopback; without it they answer 403 there. Methods such as
	// Emulator.Reset are not affected.
	AllowRemoteInspection bool
	// Seed are identities New creates unless they exist (see
	// Emulator.Seed); ReadSeedFile reads them from a file.
	Seed []SeedIdentity
	// CustomIDRaces makes creates with a custom ID race as they do on the
	// real service: creates with the same custom ID that overlap in time
	// each make their own identity, and from then on a create with that
	// custom ID answers 409 MultipleIdentitiesForCustomId (see "Custom ID
	// races" in the package documentation). Without it a create with a
	// custom ID is atomic: it makes an identity only if no live identity
	// has the custom ID.
	CustomIDRaces bool
	// CustomIDRaceWindow is, with CustomIDRaces, how long a create that
	// finds no live identity with its custom ID waits before it makes
	// one; every create with that custom ID that arrives meanwhile makes
	// its own. 0 means DefaultCustomIDRaceWindow. Without CustomIDRaces it
	// is ignored.
	CustomIDRaceWindow time.Duration
}

// DefaultCustomIDRaceWindow is the race window of Options.CustomIDRaces
// when Options.CustomIDRaceWindow is 0: long enough that creates sent
// together overlap even on a busy machine, short enough not to slow a
// test much (only the first create of a custom ID waits).
const DefaultCustomIDRaceWindow = 50 * time.Millisecond

// Emulator is an in-process ACS Identity service. It implements
// http.Handler and is safe for concurrent use.
type Emulator struct {
	key           *hmacauth.Key
	resourceID    string
	idPrefix      string // "8:acs:" + resourceID + "_"
	allowBearer   bool
	maxBody       int64
	bodyTimeout   time.Duration
	bodies        bodyBudget // the ACS routes'
	extBodies     bodyBudget // the extension routes', which need no credentials
	pageSize      int
	logger        *slog.Logger
	now           func() time.Time
	signer        *signer
	store         *store
	tokenSeq      atomic.Uint64
	faults        faultQueue
	throttle      *throttler
	persist       *datafile.Persister
	closed        atomic.Bool
	supportedHdr  []string
	hosts         *hostFilter // nil: any Host; set by Listen
	logRequests   bool
	opaque        opaqueTokens
	issuer        issuer // the development OIDC issuer's key
	remoteInspect bool
	loaded        DataFileStatus
}

var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func isGUID(s string) bool { return len(s) == 36 && guidRE.MatchString(s) }

// New returns an Emulator configured by opts (nil is allowed). With a
// DataFile it loads the saved state, or starts a new file.
func New(opts *Options) (*Emulator, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.AccessKey == "" {
		o.AccessKey = DevelopmentKey
	}
	raw, err := base64.StdEncoding.DecodeString(o.AccessKey)
	if err != nil || len(raw) == 0 {
		return nil, errors.New("emulator: the access key is not valid base64")
	}
	if o.ResourceID == "" {
		o.ResourceID = DevelopmentResourceID
	}
	if !isGUID(o.ResourceID) {
		return nil, fmt.Errorf("emulator: resource ID %q is not a GUID", o.ResourceID)
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = defaultMaxBodyBytes
	}
	if o.JournalLimit < 0 {
		return nil, fmt.Errorf("emulator: JournalLimit is %d, want 0 (the default) or more", o.JournalLimit)
	}
	if o.MaxDataFileBytes < 0 {
		return nil, fmt.Errorf("emulator: MaxDataFileBytes is %d, want 0 (the default, %d) or more", o.MaxDataFileBytes, DefaultMaxDataFileBytes)
	}
	if o.CustomIDRaceWindow < 0 {
		return nil, fmt.Errorf("emulator: CustomIDRaceWindow is %v, want 0 (the default) or more", o.CustomIDRaceWindow)
	}
	if o.BodyTimeout <= 0 {
		o.BodyTimeout = defaultBodyTimeout
	}
	if o.PageSize <= 0 {
		o.PageSize = defaultPageSize
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	e := &Emulator{
		key:           hmacauth.NewKey(raw),
		resourceID:    strings.ToLower(o.ResourceID),
		allowBearer:   o.AllowBearer,
		maxBody:       o.MaxBodyBytes,
		bodyTimeout:   o.BodyTimeout,
		pageSize:      o.PageSize,
		logger:        o.Logger,
		now:           o.Now,
		store:         newStore(),
		supportedHdr:  []string{strings.Join(wire.Versions, ", ")},
		opaque:        opaqueTokens{enabled: o.OpaqueTokens},
		remoteInspect: o.AllowRemoteInspection,
	}
	e.idPrefix = "8:acs:" + e.resourceID + "_"
	if o.CustomIDRaces {
		e.store.raceWindow = cmp.Or(o.CustomIDRaceWindow, DefaultCustomIDRaceWindow)
	}
	e.logRequests = o.Logger != nil && o.Logger.Enabled(context.Background(), slog.LevelInfo)
	e.bodies.max, e.bodies.limit = e.maxBody, max(minBodyBudget, 4*e.maxBody)
	e.extBodies.max, e.extBodies.limit = maxExtensionBody, extensionBodyBudget
	if o.Throttle {
		e.throttle = newThrottler()
	}
	if o.DataFile != "" {
		if err := e.openDataFile(o.DataFile, &o); err != nil {
			return nil, err
		}
	} else {
		s, err := newSigner(nil)
		if err != nil {
			return nil, err
		}
		e.signer = s
	}
	if len(o.Seed) > 0 {
		if _, err := e.Seed(o.Seed); err != nil {
			e.Close()
			return nil, err
		}
	}
	return e, nil
}

// PublicKey returns the Ed25519 public key that signs the emulator's access
// tokens (an ed25519.PublicKey).
func (e *Emulator) PublicKey() crypto.PublicKey { return e.signer.pub }

// Close saves any pending state and stops the emulator from accepting
// further ACS requests. It is safe to call more than once.
func (e *Emulator) Close() error {
	if e.closed.Swap(true) {
		return nil
	}
	if e.persist != nil {
		return e.persist.Close()
	}
	return nil
}

// ServeHTTP answers one request.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cv := newCorrelationVector()
	if e.logRequests {
		start := time.Now()
		lw := &logWriter{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			e.logger.LogAttrs(r.Context(), slog.LevelInfo, "request",
				slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.Int("status", lw.status), slog.Duration("duration", time.Since(start)),
				slog.String("ms-cv", cv))
		}()
		w = lw
	}
	h := w.Header()
	h["Ms-Cv"] = []string{cv}
	h["Api-Supported-Versions"] = e.supportedHdr
	if id := r.Header["X-Ms-Client-Request-Id"]; len(id) > 0 {
		h["X-Ms-Client-Request-Id"] = id[:1]
	}
	deadline := e.armBodyDeadline(w, r)
	if e.hosts != nil && !e.hosts.allows(r.Host) {
		(&call{e: e, w: w, r: r, deadline: deadline}).refuseHost()
		return
	}
	path := r.URL.EscapedPath()
	if e.serveExtension(w, r, path, deadline) {
		return
	}
	c := &call{e: e, w: w, r: r, deadline: deadline}
	rt, params, status := e.match(r.Method, path)
	switch status {
	case http.StatusNotFound:
		c.fail(http.StatusNotFound, "NotFound", "The requested resource was not found.", "")
		return
	case http.StatusMethodNotAllowed:
		h["Allow"] = []string{rt.allow}
		c.fail(http.StatusMethodNotAllowed, "MethodNotAllowed", fmt.Sprintf("The HTTP method %s is not allowed on this resource.", r.Method), "")
		return
	}
	op := rt.methods[r.Method]
	c.op = op
	c.params = params
	if e.closed.Load() {
		c.fail(http.StatusServiceUnavailable, "ServiceUnavailable", "The emulator is shutting down.", "")
		return
	}
	if !c.checkVersion() {
		return
	}
	if !c.authenticate() {
		return
	}
	ok := c.readBody()
	defer e.bodies.give(c.bodyHeld)
	if !ok || !c.checkContentHash() {
		return
	}
	if e.throttle != nil {
		if wait, ok := e.throttle.allow(op.throttleClass(c), e.now()); !ok {
			secs := int((wait + time.Second - 1) / time.Second)
			if secs < 1 {
				secs = 1
			}
			h["Retry-After"] = []string{fmt.Sprint(secs)}
			c.fail(http.StatusTooManyRequests, "TooManyRequests", "Too many requests: the service limit for this operation was reached. Retry after the time in the Retry-After header.", "")
			return
		}
	}
	if f, ok := e.faults.take(op.name); ok {
		c.applyFault(f)
		return
	}
	op.handle(c)
}

// newCorrelationVector returns a random MS-CV value such as
// "k3FzWb1mQdCn0l6uJ0l5Yw.0". It is not a secret.
func newCorrelationVector() string {
	var b [16]byte
	u1, u2 := rand.Uint64(), rand.Uint64()
	for i := range 8 {
		b[i] = byte(u1 >> (8 * i))
		b[8+i] = byte(u2 >> (8 * i))
	}
	var out [24]byte
	base64.RawURLEncoding.Encode(out[:22], b[:])
	out[22], out[23] = '.', '0'
	return string(out[:])
}

// logWriter records the status for the request log.
type logWriter struct {
	http.ResponseWriter
	status int
}

func (l *logWriter) WriteHeader(code int) {
	l.status = code
	l.ResponseWriter.WriteHeader(code)
}

func (l *logWriter) Unwrap() http.ResponseWriter { return l.ResponseWriter }
