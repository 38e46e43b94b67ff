package acsidentity

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Errors of [CommunicationTokenCredential]. They are wrapped with detail;
// test for them with errors.Is.
var (
	// ErrInvalidToken means a token is not a JWT whose payload is a JSON
	// object with a numeric exp claim. The token is never part of the error.
	ErrInvalidToken = errors.New("token is not a JWT with an exp claim")
	// ErrTokenExpired means the credential's token has expired and it has no
	// Refresher to get another.
	ErrTokenExpired = errors.New("token is expired and there is no refresher")
	// ErrRefreshedTokenExpired means the Refresher returned a token that had
	// already expired.
	ErrRefreshedTokenExpired = errors.New("token returned by the refresher is expired")
	// ErrCredentialClosed means the credential was closed.
	ErrCredentialClosed = errors.New("credential is closed")
)

const (
	// proactiveRefreshWindow is how long before expiry a proactive refresh
	// starts (JS defaultExpiringSoonInterval, .NET, Python and Java: 10 min).
	proactiveRefreshWindow = 10 * time.Minute
	// minProactiveRefreshDelay ends the half-life back-off: when the next
	// attempt would be less than this away, none is scheduled and GetToken
	// refreshes on demand once the token has expired.
	minProactiveRefreshDelay = time.Second
	// maxJWTExp bounds |exp| to the end of year 9999, well inside time.Time.
	maxJWTExp = 253402300799
)

// CommunicationTokenCredentialOptions configures a
// [CommunicationTokenCredential]. At least one of Token and Refresher is
// required.
//
// Its String and GoString methods do not show the token.
type CommunicationTokenCredentialOptions struct {
	// Token is the initial token, a JWT. Without a Refresher it is used until
	// it expires, after which GetToken fails with ErrTokenExpired.
	Token string
	// Refresher returns a new token, usually by calling the application's
	// trusted token service (see NewTrustedServiceRefresher). It is called
	// from one goroutine at a time, with a context that Close cancels, and
	// must honour that context. The token it returns must not be expired.
	Refresher func(ctx context.Context) (string, error)
	// RefreshProactively refreshes the token in the background before it
	// expires, so that GetToken does not wait: 10 minutes before expiry,
	// then, while the Refresher fails or keeps returning tokens that expire
	// within 10 minutes, each time half the remaining lifetime has passed,
	// until the next attempt would be less than a second away (GetToken then
	// refreshes on demand once the token has expired). It needs a Refresher.
	RefreshProactively bool
}

// String describes o without its token.
func (o CommunicationTokenCredentialOptions) String() string {
	return fmt.Sprintf("acsidentity.CommunicationTokenCredentialOptions{Token: %s, Refresher: %t, RefreshProactively: %t}",
		redacted(o.Token), o.Refresher != nil, o.RefreshProactively)
}

// GoString describes o without its token.
func (o CommunicationTokenCredentialOptions) GoString() string { return o.String() }

func redacted(s string) string {
	if s == "" {
		return `""`
	}
	return "REDACTED"
}

// CommunicationTokenCredential holds an ACS user access token on the client
// side and renews it through a Refresher: the Go counterpart of the
// CommunicationTokenCredential of the JS, .NET, Java and Python SDKs.
//
// GetToken returns the current token while it is valid, even inside the
// last 10 minutes (the JS rule), and refreshes it once it has expired;
// concurrent callers share a single refresh. With RefreshProactively the
// token is renewed in the background before it expires.
//
// A CommunicationTokenCredential is safe for concurrent use. Close it when
// done to stop its timer. Its String and GoString methods do not show the
// token.
type CommunicationTokenCredential struct {
	clk       credentialClock
	refresher func(ctx context.Context) (string, error)
	proactive bool

	// ctx is passed to the refresher; Close cancels it.
	ctx    context.Context
	cancel context.CancelFunc
	// wg counts running refreshes and armed timers.
	wg sync.WaitGroup

	mu       sync.Mutex
	token    AccessToken
	closed   bool
	inflight *refreshCall
	timer    credentialTimer
	timerGen uint64 // identifies the armed timer; stale callbacks bail out
	waiting  int    // GetToken calls waiting for inflight
}

// refreshCall is one refresh, shared by every caller that needs it.
type refreshCall struct {
	done  chan struct{} // closed when token and err are set
	token AccessToken
	err   error
}

// NewCommunicationTokenCredential returns a credential for the token and
// refresher in options. It fails if options has neither a Token nor a
// Refresher, if RefreshProactively is set without a Refresher, or if Token
// is not a JWT with an exp claim (ErrInvalidToken).
//
// With RefreshProactively and no Token, or an expired one, the first refresh
// starts at once.
//
// The options are passed by value because they are not optional: the token
// or refresher they carry is what the credential is made of.
func NewCommunicationTokenCredential(options CommunicationTokenCredentialOptions) (*CommunicationTokenCredential, error) {
	return newCommunicationTokenCredential(options, systemClock{})
}

func newCommunicationTokenCredential(o CommunicationTokenCredentialOptions, clk credentialClock) (*CommunicationTokenCredential, error) {
	if o.Token == "" && o.Refresher == nil {
		return nil, errors.New("acsidentity: CommunicationTokenCredentialOptions needs a Token or a Refresher")
	}
	if o.RefreshProactively && o.Refresher == nil {
		return nil, errors.New("acsidentity: CommunicationTokenCredentialOptions.RefreshProactively needs a Refresher")
	}
	c := &CommunicationTokenCredential{clk: clk, refresher: o.Refresher, proactive: o.RefreshProactively}
	if o.Token != "" {
		tok, err := parseAccessToken(o.Token)
		if err != nil {
			return nil, fmt.Errorf("acsidentity: initial token: %w", err)
		}
		c.token = tok
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if c.proactive {
		c.mu.Lock()
		c.scheduleLocked(false)
		c.mu.Unlock()
	}
	return c, nil
}

// GetToken returns a valid token. If the current one has expired it
// refreshes it, sharing one call of the Refresher among all concurrent
// callers; if ctx ends first, GetToken returns ctx.Err() while the refresh
// goes on for the others.
//
// It fails with ErrTokenExpired when the token has expired and there is no
// Refresher, ErrRefreshedTokenExpired or ErrInvalidToken when the Refresher
// returns an unusable token, the Refresher's own error (wrapped), and
// ErrCredentialClosed after Close.
func (c *CommunicationTokenCredential) GetToken(ctx context.Context) (AccessToken, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return AccessToken{}, fmt.Errorf("acsidentity: %w", ErrCredentialClosed)
	}
	if c.clk != nil && c.clk.Now().Before(c.token.ExpiresOn) {
		tok := c.token
		c.mu.Unlock()
		return tok, nil
	}
	if c.refresher == nil {
		c.mu.Unlock()
		return AccessToken{}, fmt.Errorf("acsidentity: %w", ErrTokenExpired)
	}
	if err := ctx.Err(); err != nil {
		c.mu.Unlock()
		return AccessToken{}, err
	}
	call, started := c.startLocked()
	c.waiting++
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.waiting--
		c.mu.Unlock()
	}()
	if started {
		// The refresh runs on its own goroutine with the credential's
		// context, so that one caller giving up does not cancel it.
		go c.run(call)
	}
	select {
	case <-call.done:
		return call.token, call.err
	case <-ctx.Done():
		return AccessToken{}, ctx.Err()
	}
}

// Close stops proactive refreshing, cancels the context of a running
// Refresher call and waits for it to return, and forgets the token. Later
// GetToken calls fail with ErrCredentialClosed. Close is idempotent and
// always returns nil; it must not be called from the Refresher.
func (c *CommunicationTokenCredential) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.stopTimerLocked()
	c.token = AccessToken{}
	c.mu.Unlock()
	if c.cancel != nil {
		c.cancel()
	}
	c.wg.Wait()
	return nil
}

// String describes c without its token.
func (c *CommunicationTokenCredential) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprintf("acsidentity.CommunicationTokenCredential{ExpiresOn: %s, Refresher: %t, RefreshProactively: %t, Closed: %t}",
		c.token.ExpiresOn.UTC().Format(time.RFC3339), c.refresher != nil, c.proactive, c.closed)
}

// GoString describes c without its token.
func (c *CommunicationTokenCredential) GoString() string { return c.String() }

// startLocked returns the running refresh, or a new one that the caller must
// run (started is true).
func (c *CommunicationTokenCredential) startLocked() (call *refreshCall, started bool) {
	if c.inflight != nil {
		return c.inflight, false
	}
	c.inflight = &refreshCall{done: make(chan struct{})}
	c.wg.Add(1)
	return c.inflight, true
}

// run calls the refresher once, stores the result and reschedules.
func (c *CommunicationTokenCredential) run(call *refreshCall) {
	defer c.wg.Done()
	tok, err := c.fetch()
	c.mu.Lock()
	c.inflight = nil
	switch {
	case c.closed:
		tok, err = AccessToken{}, fmt.Errorf("acsidentity: %w", ErrCredentialClosed)
	case err == nil:
		c.token = tok
		if c.proactive {
			c.scheduleLocked(false)
		}
	case c.proactive:
		c.scheduleLocked(true)
	}
	c.mu.Unlock()
	call.token, call.err = tok, err
	close(call.done)
}

func (c *CommunicationTokenCredential) fetch() (AccessToken, error) {
	s, err := c.refresher(c.ctx)
	if err != nil {
		return AccessToken{}, fmt.Errorf("acsidentity: token refresher failed: %w", err)
	}
	tok, err := parseAccessToken(s)
	if err != nil {
		return AccessToken{}, fmt.Errorf("acsidentity: token returned by the refresher: %w", err)
	}
	if !c.clk.Now().Before(tok.ExpiresOn) {
		return AccessToken{}, fmt.Errorf("acsidentity: %w (expired at %s)", ErrRefreshedTokenExpired, tok.ExpiresOn.Format(time.RFC3339))
	}
	return tok, nil
}

// scheduleLocked arms the proactive timer for the current token (JS
// scheduleRefresh): outside the 10-minute window, when the window starts;
// inside it, after half the remaining lifetime; for an expired token, at
// once, unless this follows a failed refresh (then GetToken retries on
// demand rather than the timer hammering a failing Refresher).
// Callers make sure c is not closed.
func (c *CommunicationTokenCredential) scheduleLocked(afterFailure bool) {
	c.stopTimerLocked()
	ttl := c.token.ExpiresOn.Sub(c.clk.Now())
	var d time.Duration
	switch {
	case ttl <= 0:
		if afterFailure {
			return
		}
	case ttl > proactiveRefreshWindow:
		d = ttl - proactiveRefreshWindow
	default:
		d = ttl / 2
		if d < minProactiveRefreshDelay {
			return
		}
	}
	c.wg.Add(1)
	gen := c.timerGen
	c.timer = c.clk.AfterFunc(d, func() { c.onTimer(gen) })
}

func (c *CommunicationTokenCredential) stopTimerLocked() {
	c.timerGen++
	if c.timer == nil {
		return
	}
	if c.timer.Stop() {
		c.wg.Done() // onTimer will not run
	}
	c.timer = nil
}

// onTimer runs a proactive refresh on the timer's goroutine, or leaves it to
// the refresh already running, which reschedules when it ends. A timer that
// fired just as another refresh replaced it (gen is stale) does nothing.
func (c *CommunicationTokenCredential) onTimer(gen uint64) {
	defer c.wg.Done()
	c.mu.Lock()
	if c.closed || gen != c.timerGen {
		c.mu.Unlock()
		return
	}
	call, started := c.startLocked()
	c.mu.Unlock()
	if started {
		c.run(call)
	}
}

// credentialClock is the credential's time source; tests use a fake one.
type credentialClock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) credentialTimer
}

// credentialTimer is a timer armed by a credentialClock. Stop reports
// whether it prevented the function from running, like time.Timer.Stop.
type credentialTimer interface {
	Stop() bool
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) AfterFunc(d time.Duration, f func()) credentialTimer { return time.AfterFunc(d, f) }

// parseAccessToken reads the expiry of a JWT without verifying it.
func parseAccessToken(token string) (AccessToken, error) {
	exp, err := jwtExpiry(token)
	if err != nil {
		return AccessToken{}, err
	}
	return AccessToken{Token: token, ExpiresOn: exp}, nil
}

// jwtExpiry returns the exp claim of a JWT, read without verifying the
// signature. The payload may use either base64 alphabet, with or without
// padding (JS tests build it with standard base64), and exp may be any JSON
// number, fractions included. Errors wrap ErrInvalidToken and never contain
// the token.
func jwtExpiry(token string) (time.Time, error) {
	parts := strings.Split(token, ".")
	if len(parts) < 2 {
		return time.Time{}, fmt.Errorf("%w: fewer than two dot-separated parts", ErrInvalidToken)
	}
	payload := strings.TrimRight(parts[1], "=")
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(payload)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: payload is not base64", ErrInvalidToken)
	}
	var claims map[string]json.RawMessage
	if err := json.Unmarshal(b, &claims); err != nil || claims == nil {
		return time.Time{}, fmt.Errorf("%w: payload is not a JSON object", ErrInvalidToken)
	}
	raw, ok := claims["exp"]
	if !ok {
		return time.Time{}, fmt.Errorf("%w: no exp claim", ErrInvalidToken)
	}
	// A JSON number is valid ParseFloat input; strings, null, true and
	// false are not.
	exp, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsNaN(exp) || math.Abs(exp) > maxJWTExp {
		return time.Time{}, fmt.Errorf("%w: exp is not a number of seconds up to the year 9999", ErrInvalidToken)
	}
	sec, frac := math.Modf(exp)
	return time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC(), nil
}
