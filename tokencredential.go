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
	// ErrInvalidToken means a token is neither a JWT whose payload is a JSON
	// object with a numeric exp claim nor an encrypted token of five
	// dot-separated parts. The token is never part of the error.
	ErrInvalidToken = errors.New("token is not a JWT with an exp claim nor an encrypted token")
	// ErrRefreshedTokenExpired means the Refresher returned a token that had
	// already expired.
	ErrRefreshedTokenExpired = errors.New("token returned by the refresher is expired")
	// ErrCredentialClosed means the credential was closed.
	ErrCredentialClosed = errors.New("credential is closed")
)

const (
	// proactiveRefreshWindow is how long before expiry a token counts as
	// expiring soon: the proactive timer fires then, and with
	// RefreshProactively GetToken refreshes on demand from then on (JS
	// defaultExpiringSoonInterval; .NET, Python and Java also use 10 min).
	proactiveRefreshWindow = 10 * time.Minute
	// onDemandRefreshInterval is .NET's OnDemandRefreshIntervalInMinutes: a
	// token with less left than this is not handed out while a refresh
	// fails, because it may expire before the request that carries it
	// arrives.
	onDemandRefreshInterval = 2 * time.Minute
	// defaultUndecodableTokenExpiresIn is the lifetime assumed for a token
	// whose expiry cannot be read (JS default
	// undecodableTokenExpiryIntervalInSeconds, 600).
	defaultUndecodableTokenExpiresIn = 10 * time.Minute
	// minProactiveRefreshDelay ends the half-life back-off: when the next
	// attempt would be less than this away, none is scheduled and GetToken
	// refreshes on demand.
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
	// Token is the initial token: a JWT, whose exp claim says when it
	// expires, or an encrypted token (see UndecodableTokenExpiresIn).
	//
	// Without a Refresher the credential is static: GetToken returns Token
	// for the credential's whole life, even once it has expired, as the JS,
	// .NET, Java and Python credentials do; the service then rejects it.
	// Compare the returned AccessToken.ExpiresOn with the time to tell.
	Token string

	// Refresher returns a new token, usually by calling the application's
	// trusted token service (see NewTrustedServiceRefresher). It is called
	// from one goroutine at a time and must honour ctx. The token it
	// returns must not be expired.
	//
	// When GetToken starts a refresh, ctx is the context of that GetToken
	// call, with its values, deadline and cancellation, and is also
	// cancelled by Close: the JS credential passes the caller's abortSignal
	// and the .NET one the caller's CancellationToken to their refreshers
	// in the same way. Other GetToken calls that arrive meanwhile wait for
	// that refresh under their own contexts; if it fails because the
	// context of the call that started it ended, one whose context is still
	// live starts a new refresh rather than failing. A proactive refresh
	// (RefreshProactively) has a context of its own that only Close
	// cancels.
	Refresher func(ctx context.Context) (string, error)

	// RefreshProactively renews the token before it expires, so that
	// GetToken seldom waits and does not hand out a token within 2 minutes
	// of expiry. It needs a Refresher.
	//
	// In the background it follows the JS credential: a timer fires 10
	// minutes before expiry; while the Refresher fails or keeps returning
	// tokens that expire within 10 minutes, it fires again each time half
	// the remaining lifetime has passed, until the next attempt would be
	// less than a second away. An expired initial Token, or none, is
	// refreshed at once.
	//
	// GetToken follows .NET and Python (both refresh on demand before
	// expiry; JS leaves renewal to its timer): when it finds the token
	// within 10 minutes of expiry, because the timer has not fired yet
	// (a machine that slept) or its refresh failed, it refreshes before
	// returning, sharing any refresh already running. If the Refresher
	// itself returned a token inside that window, asking again at once
	// would bring the same; GetToken then waits until half that token's
	// remaining lifetime has passed, the point where the timer retries. If
	// such a refresh fails while the current token still has at least 2
	// minutes left (.NET's on-demand margin), GetToken returns the current
	// token, as Java's credential does after a failed proactive refresh;
	// with less left it returns the error.
	//
	// Without RefreshProactively GetToken follows JS and Java: it returns
	// the current token until it has expired and only then refreshes.
	RefreshProactively bool

	// UndecodableTokenExpiresIn is the lifetime assumed for a token whose
	// expiry cannot be read, such as an encrypted access token (a JWE of
	// five dot-separated parts); 0 means 10 minutes. It must not be
	// negative. This follows the JS credential's
	// undecodableTokenExpiryIntervalInSeconds, with the same default, JS
	// being the only one of the four whose tests cover such tokens; as in
	// the JS version whose tests accept five-part tokens only, any other
	// string that is not a JWT with an exp claim is still rejected with
	// ErrInvalidToken, so that a mistake such as a truncated token fails
	// early.
	//
	// Such a token's ExpiresOn is the time it was received plus this
	// lifetime. Its refresh window, how long before ExpiresOn it counts as
	// expiring soon, is half this lifetime, at most 10 minutes: that puts
	// its renewal where the JS timer puts it, 5 minutes after it was
	// received by default, and keeps GetToken (with RefreshProactively)
	// from renewing a token just received on every call.
	UndecodableTokenExpiresIn time.Duration
}

// String describes o without its token.
func (o CommunicationTokenCredentialOptions) String() string {
	return fmt.Sprintf("acsidentity.CommunicationTokenCredentialOptions{Token: %s, Refresher: %t, RefreshProactively: %t, UndecodableTokenExpiresIn: %s}",
		redacted(o.Token), o.Refresher != nil, o.RefreshProactively, o.UndecodableTokenExpiresIn)
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
// NewCommunicationTokenCredential makes one from a token or a Refresher;
// NewEntraCommunicationTokenCredential makes one that exchanges the user's
// Entra ID token instead (its rules are on that constructor).
//
// The rules, and which SDK each follows, are those of the fields of
// [CommunicationTokenCredentialOptions]. In short: a static credential
// returns its token even after it has expired; a refreshing one returns the
// current token while it is valid and refreshes it once it has expired, or,
// with RefreshProactively, in the background and on demand within 10
// minutes of expiry; concurrent callers share a single refresh, which runs
// under the context of the call that started it; tokens that cannot be
// decoded are accepted with an assumed lifetime.
//
// A CommunicationTokenCredential is safe for concurrent use. Close it when
// done to stop its timer. Its String and GoString methods do not show the
// token.
type CommunicationTokenCredential struct {
	refresher func(ctx context.Context) (string, error)
	// exchange, when set, makes this an Entra user credential
	// (NewEntraCommunicationTokenCredential): GetToken exchanges Entra ID
	// tokens, and refresher, proactive and fallback are unused.
	exchange  *entraExchange
	proactive bool
	fallback  time.Duration // lifetime of an undecodable token

	// closing is cancelled by Close. It is the context of proactive
	// refreshes and ends the context of on-demand ones.
	closing context.Context
	close   context.CancelFunc
	// wg counts running refreshes and armed timers.
	wg sync.WaitGroup

	mu    sync.Mutex
	token AccessToken
	// window is how long before expiry the token counts as expiring soon:
	// proactiveRefreshWindow, or less for an undecodable token.
	window time.Duration
	// refreshAt is when, with RefreshProactively, GetToken starts to
	// refresh the token on demand.
	refreshAt time.Time
	closed    bool
	inflight  *refreshCall
	timer     *time.Timer
	timerAt   time.Time // when timer fires; zero when no timer is armed
	timerGen  uint64    // identifies the armed timer; stale callbacks bail out
	waiting   int       // GetToken calls waiting for a refresh
}

// refreshCall is one refresh, shared by every caller that needs it.
type refreshCall struct {
	// caller is the context of the GetToken call that started the refresh;
	// nil for a proactive refresh.
	caller context.Context
	done   chan struct{} // closed when the fields below are set
	token  AccessToken
	err    error
	// abandoned reports that the refresh failed after caller ended, so
	// that a waiter with a live context starts another.
	abandoned bool
}

// NewCommunicationTokenCredential returns a credential for the token and
// refresher in options. It fails if options has neither a Token nor a
// Refresher, if RefreshProactively is set without a Refresher, if
// UndecodableTokenExpiresIn is negative, or if Token is neither a JWT with
// an exp claim nor a five-part encrypted token (ErrInvalidToken).
//
// With RefreshProactively and no Token, or an expired one, the first refresh
// starts at once.
//
// The options are passed by value because they are not optional: the token
// or refresher they carry is what the credential is made of.
func NewCommunicationTokenCredential(options CommunicationTokenCredentialOptions) (*CommunicationTokenCredential, error) {
	o := options
	if o.Token == "" && o.Refresher == nil {
		return nil, errors.New("acsidentity: CommunicationTokenCredentialOptions needs a Token or a Refresher")
	}
	if o.RefreshProactively && o.Refresher == nil {
		return nil, errors.New("acsidentity: CommunicationTokenCredentialOptions.RefreshProactively needs a Refresher")
	}
	if o.UndecodableTokenExpiresIn < 0 {
		return nil, fmt.Errorf("acsidentity: CommunicationTokenCredentialOptions.UndecodableTokenExpiresIn is negative (%v)", o.UndecodableTokenExpiresIn)
	}
	c := &CommunicationTokenCredential{refresher: o.Refresher, proactive: o.RefreshProactively, fallback: o.UndecodableTokenExpiresIn}
	if c.fallback == 0 {
		c.fallback = defaultUndecodableTokenExpiresIn
	}
	if o.Token != "" {
		tok, window, err := parseAccessToken(o.Token, time.Now(), c.fallback)
		if err != nil {
			return nil, fmt.Errorf("acsidentity: initial token: %w", err)
		}
		// Python and .NET refresh an initial token inside the window on
		// the first GetToken.
		c.token, c.window, c.refreshAt = tok, window, tok.ExpiresOn.Add(-window)
	}
	c.closing, c.close = context.WithCancel(context.Background())
	if c.proactive {
		c.mu.Lock()
		c.scheduleLocked(time.Now(), false)
		c.mu.Unlock()
	}
	return c, nil
}

// GetToken returns the credential's token. For an Entra user credential it
// follows the rules of [NewEntraCommunicationTokenCredential]; otherwise it
// refreshes the token first when the rules of
// [CommunicationTokenCredentialOptions] say so. One call of the
// Refresher is shared among all concurrent callers; the call that starts it
// passes its ctx to the Refresher. If ctx ends first, GetToken returns
// ctx.Err() at once.
//
// Without a Refresher it returns the token even once it has expired (see
// CommunicationTokenCredentialOptions.Token); AccessToken.ExpiresOn tells.
//
// It fails with the Refresher's own error (wrapped), ErrRefreshedTokenExpired
// or ErrInvalidToken when the Refresher returns an unusable token, and
// ErrCredentialClosed after Close.
func (c *CommunicationTokenCredential) GetToken(ctx context.Context) (AccessToken, error) {
	if c.exchange != nil {
		return c.getExchangedToken(ctx)
	}
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return AccessToken{}, fmt.Errorf("acsidentity: %w", ErrCredentialClosed)
		}
		if c.refresher == nil {
			tok := c.token
			c.mu.Unlock()
			if tok.Token == "" {
				return AccessToken{}, errors.New("acsidentity: CommunicationTokenCredential has no token: make it with NewCommunicationTokenCredential")
			}
			return tok, nil
		}
		now := time.Now()
		if now.Before(c.token.ExpiresOn) && (!c.proactive || now.Before(c.refreshAt)) {
			tok := c.token
			c.mu.Unlock()
			return tok, nil
		}
		if err := ctx.Err(); err != nil {
			c.mu.Unlock()
			return AccessToken{}, err
		}
		call, started := c.startLocked()
		if started {
			call.caller = ctx
		}
		c.waiting++
		c.mu.Unlock()
		if started {
			// The refresh runs on a goroutine of its own so that this call
			// can return as soon as ctx ends, even if the Refresher does not
			// honour ctx; waiters then start another refresh.
			go c.run(call)
		}
		var done bool
		select {
		case <-call.done:
			done = true
		case <-ctx.Done():
		}
		c.mu.Lock()
		c.waiting--
		current := c.token
		c.mu.Unlock()
		switch {
		case done && call.err == nil:
			return call.token, nil
		case ctx.Err() != nil:
			return AccessToken{}, ctx.Err()
		case call.abandoned:
			continue // the call that started it gave up; refresh under ctx
		case c.proactive && !errors.Is(call.err, ErrCredentialClosed) &&
			time.Until(current.ExpiresOn) >= onDemandRefreshInterval:
			return current, nil
		}
		return AccessToken{}, call.err
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
	if c.close != nil {
		c.close()
	}
	c.wg.Wait()
	if c.exchange != nil {
		c.exchange.guard.remember(nil)
	}
	return nil
}

// String describes c without its token.
func (c *CommunicationTokenCredential) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.exchange != nil {
		return fmt.Sprintf("acsidentity.CommunicationTokenCredential{ExpiresOn: %s, Exchange: %s, Closed: %t}",
			c.token.ExpiresOn.UTC().Format(time.RFC3339), c.exchange.path, c.closed)
	}
	return fmt.Sprintf("acsidentity.CommunicationTokenCredential{ExpiresOn: %s, Refresher: %t, RefreshProactively: %t, Closed: %t}",
		c.token.ExpiresOn.UTC().Format(time.RFC3339), c.refresher != nil, c.proactive, c.closed)
}

// GoString describes c without its token.
func (c *CommunicationTokenCredential) GoString() string { return c.String() }

// startLocked returns the running refresh, or a new one that the caller must
// run (started is true) after setting its caller, if it is not proactive.
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
	tok, window, err := c.fetch(call.caller)
	c.mu.Lock()
	c.inflight = nil
	now := time.Now()
	switch {
	case c.closed:
		tok, err = AccessToken{}, fmt.Errorf("acsidentity: %w", ErrCredentialClosed)
	case err == nil:
		c.token, c.window = tok, window
		if ttl := tok.ExpiresOn.Sub(now); ttl > window {
			c.refreshAt = tok.ExpiresOn.Add(-window)
		} else {
			// Asking again at once would bring the same: back off to half
			// the remaining lifetime, as the proactive timer does.
			c.refreshAt = now.Add(ttl / 2)
		}
		if c.proactive {
			c.scheduleLocked(now, false)
		}
	default:
		call.abandoned = call.caller != nil && call.caller.Err() != nil
		if c.proactive {
			c.scheduleLocked(now, true)
		}
	}
	c.mu.Unlock()
	call.token, call.err = tok, err
	close(call.done)
}

// fetch calls the refresher under caller's context (nil: a proactive
// refresh), which Close also cancels.
func (c *CommunicationTokenCredential) fetch(caller context.Context) (AccessToken, time.Duration, error) {
	ctx, cancel := c.callContext(caller)
	defer cancel()
	s, err := c.refresher(ctx)
	if err != nil {
		return AccessToken{}, 0, fmt.Errorf("acsidentity: token refresher failed: %w", err)
	}
	now := time.Now()
	tok, window, err := parseAccessToken(s, now, c.fallback)
	if err != nil {
		return AccessToken{}, 0, fmt.Errorf("acsidentity: token returned by the refresher: %w", err)
	}
	if !now.Before(tok.ExpiresOn) {
		return AccessToken{}, 0, fmt.Errorf("acsidentity: %w (expired at %s)", ErrRefreshedTokenExpired, tok.ExpiresOn.Format(time.RFC3339))
	}
	return tok, window, nil
}

// callContext returns the context of a refresh or exchange started by
// caller's GetToken (nil: by the credential itself): caller's, also
// cancelled by Close, or the credential's own.
func (c *CommunicationTokenCredential) callContext(caller context.Context) (context.Context, context.CancelFunc) {
	if caller == nil {
		return c.closing, func() {}
	}
	ctx, cancel := context.WithCancelCause(caller)
	stop := context.AfterFunc(c.closing, func() { cancel(ErrCredentialClosed) })
	return ctx, func() { stop(); cancel(nil) }
}

// scheduleLocked arms the proactive timer for the current token (JS
// scheduleRefresh): outside its window, when the window starts; inside it,
// after half the remaining lifetime; for an expired token, at once, unless
// this follows a failed refresh (then GetToken retries on demand rather than
// the timer hammering a failing Refresher). Callers make sure c is not
// closed.
func (c *CommunicationTokenCredential) scheduleLocked(now time.Time, afterFailure bool) {
	c.stopTimerLocked()
	ttl := c.token.ExpiresOn.Sub(now)
	var d time.Duration
	switch {
	case ttl <= 0:
		if afterFailure {
			return
		}
	case ttl > c.window:
		d = ttl - c.window
	default:
		d = ttl / 2
		if d < minProactiveRefreshDelay {
			return
		}
	}
	c.wg.Add(1)
	gen := c.timerGen
	c.timerAt = now.Add(d)
	c.timer = time.AfterFunc(d, func() { c.onTimer(gen) })
}

func (c *CommunicationTokenCredential) stopTimerLocked() {
	c.timerGen++
	c.timerAt = time.Time{}
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
	c.timer, c.timerAt = nil, time.Time{}
	call, started := c.startLocked()
	c.mu.Unlock()
	if started {
		c.run(call)
	}
}

// parseAccessToken returns token with its expiry and its refresh window: the
// exp claim of a JWT, read without verifying it, and the 10-minute window;
// or, for a token of five dot-separated parts that is not such a JWT (an
// encrypted JWE), now plus fallback and a window of half that, at most 10
// minutes. Anything else is ErrInvalidToken.
func parseAccessToken(token string, now time.Time, fallback time.Duration) (AccessToken, time.Duration, error) {
	exp, err := jwtExpiry(token)
	switch {
	case err == nil:
		return AccessToken{Token: token, ExpiresOn: exp}, proactiveRefreshWindow, nil
	case isEncryptedToken(token):
		return AccessToken{Token: token, ExpiresOn: now.Add(fallback)}, min(proactiveRefreshWindow, fallback/2), nil
	}
	return AccessToken{}, 0, err
}

// isEncryptedToken reports whether token has the shape of a JWE in compact
// serialization: five dot-separated parts of base64 characters, the first
// (the protected header) not empty. The JS credential accepts any five
// parts; the character check keeps out text that is plainly no token.
func isEncryptedToken(token string) bool {
	if strings.Count(token, ".") != 4 || token[0] == '.' {
		return false
	}
	for i := 0; i < len(token); i++ {
		switch b := token[i]; {
		case 'A' <= b && b <= 'Z', 'a' <= b && b <= 'z', '0' <= b && b <= '9',
			b == '-', b == '_', b == '+', b == '/', b == '=', b == '.':
		default:
			return false
		}
	}
	return true
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
