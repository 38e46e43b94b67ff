package acsidentity

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Sample tokens of the .NET and Java tests (hmac_ids.md §4.1).
const (
	sampleToken        = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjMyNTAzNjgwMDAwfQ.9i7FNNHHJT8cOzo-yrAUJyBSfJ-tPPk2emcHavOEpWc"
	sampleTokenExpiry  = 32503680000
	expiredSampleToken = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjEwMH0.1h_scYkNp-G98-O4cW6KvfJZwiz54uJMyeDACE4nypg"
	noExpToken         = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJza3lwZWlkIjoic3Bvb2w6PG15LXJlc291cmNlLWlkPl9hYmNkZWYtMDEyMzQ1Njc4OSJ9."
	jwtHeader          = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
	jsSignature        = "adM-ddBZZlQ1WlN3pdPBOF5G4Wh9iZpxNP_fSvpF4cWs"
)

// testEpoch is where fake clocks start: a whole second, so that tokens made
// from it have whole-second exp claims.
var testEpoch = time.Date(2025, 7, 1, 12, 0, 0, 0, time.UTC)

// makeToken returns an unsigned JWT that expires at exp, its payload in
// unpadded base64url as real ACS tokens have it.
func makeToken(exp time.Time) string {
	payload := fmt.Sprintf(`{"exp":%s,"skypeid":"acs:r_u"}`, strconv.FormatFloat(float64(exp.UnixNano())/1e9, 'f', -1, 64))
	return jwtHeader + "." + base64.RawURLEncoding.EncodeToString([]byte(payload)) + ".c2ln"
}

// makeJSToken builds a token the way the JS tests' generateToken does:
// standard base64 with padding and a fractional exp.
func makeJSToken(payload string) string {
	return jwtHeader + "." + base64.StdEncoding.EncodeToString([]byte(payload)) + "." + jsSignature
}

func TestJWTExpiry(t *testing.T) {
	t.Parallel()
	// "~~~" and "???" put "+" and "/" into standard base64; the length
	// leaves "=" padding.
	jsPayload := `{"exp":1751371200.75,"a":"~~~???"}`
	jsToken := makeJSToken(jsPayload)
	if !strings.ContainsAny(strings.Split(jsToken, ".")[1], "+/") || !strings.HasSuffix(strings.Split(jsToken, ".")[1], "=") {
		t.Fatalf("test setup: %q does not exercise the standard alphabet with padding", jsToken)
	}
	urlPadded := jwtHeader + "." + base64.URLEncoding.EncodeToString([]byte(`{"exp":1751371200,"a":"~~~???"}`)) + ".x"

	valid := []struct {
		name, token string
		want        time.Time
	}{
		{".NET SampleToken", sampleToken, time.Unix(sampleTokenExpiry, 0)},
		{".NET ExpiredToken", expiredSampleToken, time.Unix(100, 0)},
		{"JS generateToken: standard base64, padding, fractional exp", jsToken, time.Unix(1751371200, 750_000_000)},
		{"base64url with padding", urlPadded, time.Unix(1751371200, 0)},
		{"two parts only", jwtHeader + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"exp":5}`)), time.Unix(5, 0)},
		{"exponent notation", makeJSToken(`{"exp":1.5e3}`), time.Unix(1500, 0)},
		{"negative exp", makeJSToken(`{"exp":-1}`), time.Unix(-1, 0)},
	}
	for _, tc := range valid {
		got, err := jwtExpiry(tc.token)
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("%s: jwtExpiry = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}

	invalid := []struct{ name, token string }{
		{".NET foo", "foo"},
		{".NET foo.bar", "foo.bar"},
		{".NET foo.bar.foobar", "foo.bar.foobar"},
		{"Java token without exp", noExpToken},
		{"empty", ""},
		{"dot only", "."},
		{"empty payload", jwtHeader + "..sig"},
		{"mixed alphabets", jwtHeader + ".ab-+.sig"},
		{"payload null", makeJSToken(`null`)},
		{"payload array", makeJSToken(`[1]`)},
		{"exp string", makeJSToken(`{"exp":"100"}`)},
		{"exp null", makeJSToken(`{"exp":null}`)},
		{"exp bool", makeJSToken(`{"exp":true}`)},
		{"exp object", makeJSToken(`{"exp":{}}`)},
		{"exp beyond year 9999", makeJSToken(`{"exp":1e15}`)},
		{"exp overflows float64", makeJSToken(`{"exp":1e400}`)},
		{"JWE", "a.b.c.d.e"},
	}
	for _, tc := range invalid {
		_, err := jwtExpiry(tc.token)
		if !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: jwtExpiry error = %v, want ErrInvalidToken", tc.name, err)
			continue
		}
		if tc.token != "" && strings.Contains(err.Error(), tc.token) {
			t.Errorf("%s: error %q shows the token", tc.name, err)
		}
	}
}

// fakeClock is a credentialClock whose time moves only in Advance, which
// runs due timer functions synchronously, each at its own due time.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c      *fakeClock
	when   time.Time
	f      func()
	active bool
}

func newFakeClock() *fakeClock { return &fakeClock{now: testEpoch} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) credentialTimer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, when: c.now.Add(d), f: f, active: true}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.active
	t.active = false
	return was
}

// Advance moves the clock forward by d, firing due timers in order.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now.Add(d)
	for {
		var next *fakeTimer
		live := c.timers[:0]
		for _, t := range c.timers {
			if !t.active {
				continue
			}
			live = append(live, t)
			if !t.when.After(target) && (next == nil || t.when.Before(next.when)) {
				next = t
			}
		}
		c.timers = live
		if next == nil {
			c.now = target
			c.mu.Unlock()
			return
		}
		next.active = false
		if next.when.After(c.now) {
			c.now = next.when
		}
		c.mu.Unlock()
		next.f()
		c.mu.Lock()
	}
}

// nextTimer returns the due time of the earliest armed timer.
func (c *fakeClock) nextTimer() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var next time.Time
	found := false
	for _, t := range c.timers {
		if t.active && (!found || t.when.Before(next)) {
			next, found = t.when, true
		}
	}
	return next, found
}

// countingRefresher counts its calls and returns what mint returns.
type countingRefresher struct {
	calls atomic.Int32
	mint  func() (string, error)
}

func (r *countingRefresher) refresh(context.Context) (string, error) {
	r.calls.Add(1)
	return r.mint()
}

func newTestCredential(t *testing.T, o CommunicationTokenCredentialOptions, clk credentialClock) *CommunicationTokenCredential {
	t.Helper()
	c, err := newCommunicationTokenCredential(o, clk)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func mustGetToken(t *testing.T, c *CommunicationTokenCredential) AccessToken {
	t.Helper()
	tok, err := c.GetToken(context.Background())
	if err != nil {
		t.Fatalf("GetToken: %v", err)
	}
	return tok
}

func TestNewCommunicationTokenCredentialErrors(t *testing.T) {
	t.Parallel()
	refresher := func(context.Context) (string, error) { return sampleToken, nil }
	tests := []struct {
		name    string
		options CommunicationTokenCredentialOptions
		is      error
	}{
		{"nothing", CommunicationTokenCredentialOptions{}, nil},
		{"proactive without refresher", CommunicationTokenCredentialOptions{Token: sampleToken, RefreshProactively: true}, nil},
		{"non-JWT token", CommunicationTokenCredentialOptions{Token: "IAmNotAToken"}, ErrInvalidToken},
		{"non-JWT token with refresher", CommunicationTokenCredentialOptions{Token: "IAmNotAToken.secret", Refresher: refresher}, ErrInvalidToken},
	}
	for _, tc := range tests {
		c, err := NewCommunicationTokenCredential(tc.options)
		if err == nil {
			c.Close()
			t.Errorf("%s: no error", tc.name)
			continue
		}
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.is)
		}
		if tc.options.Token != "" && strings.Contains(err.Error(), tc.options.Token) {
			t.Errorf("%s: error %q shows the token", tc.name, err)
		}
	}
}

func TestStaticTokenUntilExpiry(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	token := makeToken(testEpoch.Add(time.Hour))
	c := newTestCredential(t, CommunicationTokenCredentialOptions{Token: token}, clk)

	if got := mustGetToken(t, c); got.Token != token || !got.ExpiresOn.Equal(testEpoch.Add(time.Hour)) {
		t.Fatalf("GetToken = %v", got)
	}
	clk.Advance(time.Hour - time.Nanosecond)
	if got := mustGetToken(t, c); got.Token != token {
		t.Fatal("token not returned just before expiry")
	}
	clk.Advance(time.Nanosecond)
	if _, err := c.GetToken(context.Background()); !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("GetToken after expiry: %v, want ErrTokenExpired", err)
	}
}

// JS "requests new token when token is about to expire": a token inside
// the 10-minute window is still returned; only an expired one is refreshed.
func TestOnDemandRefresh(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	r := &countingRefresher{mint: func() (string, error) { return makeToken(clk.Now().Add(20 * time.Minute)), nil }}
	c := newTestCredential(t, CommunicationTokenCredentialOptions{Refresher: r.refresh}, clk)

	first := mustGetToken(t, c)
	if first.Token != makeToken(testEpoch.Add(20*time.Minute)) || r.calls.Load() != 1 {
		t.Fatalf("first GetToken = %v after %d calls", first, r.calls.Load())
	}
	for range 10 {
		mustGetToken(t, c)
	}
	clk.Advance(19 * time.Minute)
	if got := mustGetToken(t, c); got.Token != first.Token {
		t.Fatal("a token that is still valid was replaced")
	}
	clk.Advance(5 * time.Minute)
	if got := mustGetToken(t, c); got.Token != makeToken(testEpoch.Add(44*time.Minute)) {
		t.Fatal("expired token was not refreshed")
	}
	if n := r.calls.Load(); n != 2 {
		t.Fatalf("refresher called %d times, want 2", n)
	}
	if _, ok := clk.nextTimer(); ok {
		t.Fatal("a timer was armed without RefreshProactively")
	}
}

func TestRefreshFailures(t *testing.T) {
	t.Parallel()
	errNoToken := errors.New("no token for you")
	tests := []struct {
		name string
		mint func(clk *fakeClock) (string, error)
		is   error
		text string
	}{
		{"refresher error", func(*fakeClock) (string, error) { return "", errNoToken }, errNoToken, "no token for you"},
		{"expired token", func(clk *fakeClock) (string, error) { return makeToken(clk.Now().Add(-time.Minute)), nil }, ErrRefreshedTokenExpired, "token returned by the refresher is expired"},
		{"token expiring now", func(clk *fakeClock) (string, error) { return makeToken(clk.Now()), nil }, ErrRefreshedTokenExpired, "token returned by the refresher is expired"},
		{"not a JWT", func(*fakeClock) (string, error) { return "IAmNotAToken", nil }, ErrInvalidToken, "not a JWT"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := newFakeClock()
			r := &countingRefresher{mint: func() (string, error) { return tc.mint(clk) }}
			c := newTestCredential(t, CommunicationTokenCredentialOptions{Refresher: r.refresh}, clk)
			_, err := c.GetToken(context.Background())
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("GetToken error = %v, want %v containing %q", err, tc.is, tc.text)
			}
			if tok, _ := tc.mint(clk); tok != "" && strings.Contains(err.Error(), tok) {
				t.Fatalf("error %q shows the token", err)
			}
			// Each failed GetToken tries again; nothing is cached.
			c.GetToken(context.Background())
			if n := r.calls.Load(); n != 2 {
				t.Fatalf("refresher called %d times, want 2", n)
			}
		})
	}
}

// blockingRefresher blocks every call until release is closed.
type blockingRefresher struct {
	calls   atomic.Int32
	entered chan struct{} // receives once per call
	release chan struct{}
	token   string
	ctxErr  atomic.Value // the refresher's ctx.Err() when released
}

func newBlockingRefresher(token string) *blockingRefresher {
	return &blockingRefresher{entered: make(chan struct{}, 100), release: make(chan struct{}), token: token}
}

func (r *blockingRefresher) refresh(ctx context.Context) (string, error) {
	r.calls.Add(1)
	r.entered <- struct{}{}
	select {
	case <-r.release:
		r.ctxErr.Store(fmt.Sprint(ctx.Err()))
		return r.token, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// waitForWaiters polls until n GetToken calls wait on the shared refresh.
func waitForWaiters(t *testing.T, c *CommunicationTokenCredential, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		w := c.waiting
		c.mu.Unlock()
		if w == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d GetToken calls waiting, want %d", w, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSingleFlight(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	token := makeToken(testEpoch.Add(time.Hour))
	r := newBlockingRefresher(token)
	c := newTestCredential(t, CommunicationTokenCredentialOptions{Refresher: r.refresh}, clk)

	const n = 32
	var wg sync.WaitGroup
	results := make(chan error, n)
	for range n {
		wg.Go(func() {
			tok, err := c.GetToken(context.Background())
			if err == nil && tok.Token != token {
				err = errors.New("wrong token")
			}
			results <- err
		})
	}
	waitForWaiters(t, c, n)
	close(r.release)
	wg.Wait()
	close(results)
	for err := range results {
		if err != nil {
			t.Error(err)
		}
	}
	if got := r.calls.Load(); got != 1 {
		t.Fatalf("%d concurrent GetToken calls made %d refresher calls, want 1", n, got)
	}
}

func TestWaiterCancellationDoesNotCancelSharedRefresh(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	token := makeToken(testEpoch.Add(time.Hour))
	r := newBlockingRefresher(token)
	c := newTestCredential(t, CommunicationTokenCredentialOptions{Refresher: r.refresh}, clk)

	ctxA, cancelA := context.WithCancel(context.Background())
	errA := make(chan error, 1)
	go func() {
		_, err := c.GetToken(ctxA)
		errA <- err
	}()
	<-r.entered
	type result struct {
		tok AccessToken
		err error
	}
	resB := make(chan result, 1)
	go func() {
		tok, err := c.GetToken(context.Background())
		resB <- result{tok, err}
	}()
	waitForWaiters(t, c, 2)

	cancelA()
	if err := <-errA; err != context.Canceled {
		t.Fatalf("cancelled waiter got %v, want context.Canceled", err)
	}
	close(r.release)
	b := <-resB
	if b.err != nil || b.tok.Token != token {
		t.Fatalf("other waiter got %v, %v", b.tok, b.err)
	}
	if got := r.ctxErr.Load(); got != "<nil>" {
		t.Fatalf("refresher's context ended: %v", got)
	}
	if r.calls.Load() != 1 {
		t.Fatalf("refresher called %d times", r.calls.Load())
	}

	// A caller whose context has already ended does not start a refresh.
	clk.Advance(2 * time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.GetToken(ctx); err != context.Canceled {
		t.Fatalf("GetToken with ended context: %v", err)
	}
	if r.calls.Load() != 1 {
		t.Fatal("a refresh started for a caller that had given up")
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	t.Run("static and refreshing", func(t *testing.T) {
		t.Parallel()
		clk := newFakeClock()
		static := newTestCredential(t, CommunicationTokenCredentialOptions{Token: sampleToken}, clk)
		withRefresher := newTestCredential(t, CommunicationTokenCredentialOptions{
			Refresher: func(context.Context) (string, error) { return sampleToken, nil },
		}, clk)
		for _, c := range []*CommunicationTokenCredential{static, withRefresher} {
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if err := c.Close(); err != nil {
				t.Fatal("second Close:", err)
			}
			if _, err := c.GetToken(context.Background()); !errors.Is(err, ErrCredentialClosed) {
				t.Fatalf("GetToken after Close: %v", err)
			}
		}
	})
	t.Run("cancels the timer", func(t *testing.T) {
		t.Parallel()
		clk := newFakeClock()
		r := &countingRefresher{mint: func() (string, error) { return makeToken(clk.Now().Add(20 * time.Minute)), nil }}
		c := newTestCredential(t, CommunicationTokenCredentialOptions{
			Token: makeToken(testEpoch.Add(20 * time.Minute)), Refresher: r.refresh, RefreshProactively: true,
		}, clk)
		c.Close()
		clk.Advance(19 * time.Minute)
		if n := r.calls.Load(); n != 0 {
			t.Fatalf("refresher called %d times after Close", n)
		}
	})
	t.Run("during a refresh", func(t *testing.T) {
		t.Parallel()
		clk := newFakeClock()
		r := newBlockingRefresher(sampleToken)
		c := newTestCredential(t, CommunicationTokenCredentialOptions{Refresher: r.refresh}, clk)
		errc := make(chan error, 1)
		go func() {
			_, err := c.GetToken(context.Background())
			errc <- err
		}()
		<-r.entered
		c.Close() // cancels the refresher's context and waits for it
		if err := <-errc; !errors.Is(err, ErrCredentialClosed) {
			t.Fatalf("waiter got %v, want ErrCredentialClosed", err)
		}
	})
	t.Run("zero value", func(t *testing.T) {
		t.Parallel()
		var c CommunicationTokenCredential
		if _, err := c.GetToken(context.Background()); !errors.Is(err, ErrTokenExpired) {
			t.Fatalf("GetToken on zero value: %v", err)
		}
		c.Close()
	})
}

// JS "uses initial token as expected".
func TestProactiveUsesInitialToken(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	token := makeToken(testEpoch.Add(time.Hour))
	r := &countingRefresher{mint: func() (string, error) { return makeToken(clk.Now().Add(2 * time.Hour)), nil }}
	c := newTestCredential(t, CommunicationTokenCredentialOptions{Token: token, Refresher: r.refresh, RefreshProactively: true}, clk)
	if got := mustGetToken(t, c); got.Token != token || r.calls.Load() != 0 {
		t.Fatalf("GetToken = %v after %d refresher calls", got, r.calls.Load())
	}
	if next, ok := clk.nextTimer(); !ok || !next.Equal(testEpoch.Add(50*time.Minute)) {
		t.Fatalf("proactive refresh scheduled at %v, %v; want exp-10min", next, ok)
	}
}

// JS "with proactive refresh, passing an expired token to constructor
// triggers immediate refresh", and the same without any initial token.
func TestProactiveImmediateRefresh(t *testing.T) {
	t.Parallel()
	for name, initial := range map[string]string{
		"expired token": makeToken(testEpoch.Add(-time.Minute)),
		"no token":      "",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			clk := newFakeClock()
			r := &countingRefresher{mint: func() (string, error) { return makeToken(clk.Now().Add(30 * time.Minute)), nil }}
			c := newTestCredential(t, CommunicationTokenCredentialOptions{Token: initial, Refresher: r.refresh, RefreshProactively: true}, clk)
			if next, ok := clk.nextTimer(); !ok || !next.Equal(testEpoch) {
				t.Fatalf("refresh scheduled at %v, %v; want now", next, ok)
			}
			clk.Advance(5 * time.Minute)
			if n := r.calls.Load(); n != 1 {
				t.Fatalf("refresher called %d times, want 1", n)
			}
			if got := mustGetToken(t, c); got.Token != makeToken(testEpoch.Add(30*time.Minute)) || r.calls.Load() != 1 {
				t.Fatal("GetToken did not return the proactively refreshed token")
			}
		})
	}
}

// JS "proactively refreshes token when it is about to expire" and "repeats
// proactive refreshing", with a refresher that always returns a token valid
// for 20 minutes from the time it is issued.
func TestProactiveRefreshRepeats(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	r := &countingRefresher{mint: func() (string, error) { return makeToken(clk.Now().Add(20 * time.Minute)), nil }}
	c := newTestCredential(t, CommunicationTokenCredentialOptions{
		Token: makeToken(testEpoch.Add(20 * time.Minute)), Refresher: r.refresh, RefreshProactively: true,
	}, clk)

	clk.Advance(19 * time.Minute)
	if n := r.calls.Load(); n != 1 {
		t.Fatalf("after 19 minutes: %d refresher calls, want 1", n)
	}
	// Refreshed at minute 10: valid until 30, next refresh at 20.
	if got := mustGetToken(t, c); !got.ExpiresOn.Equal(testEpoch.Add(30 * time.Minute)) {
		t.Fatalf("token expires %v, want minute 30", got.ExpiresOn)
	}
	if next, ok := clk.nextTimer(); !ok || !next.Equal(testEpoch.Add(20*time.Minute)) {
		t.Fatalf("next refresh at %v, %v; want minute 20", next, ok)
	}
	clk.Advance(40 * time.Minute) // to minute 59: refreshes at 20, 30, 40, 50
	if n := r.calls.Load(); n != 5 {
		t.Fatalf("after 59 minutes: %d refresher calls, want 5", n)
	}
	if got := mustGetToken(t, c); !got.ExpiresOn.Equal(testEpoch.Add(70 * time.Minute)) {
		t.Fatalf("token expires %v, want minute 70", got.ExpiresOn)
	}
}

// JS "applies fractional backoff when the token is about to expire": a
// refresher that keeps returning the same 20-minute token is called once in
// the first 10 minutes and floor(log2(1200)) = 10 times in all. The JS test
// steps its clock by one second and stops at the penultimate second; here
// the back-off itself ends when the next attempt would be under a second
// away, so the count stays 10 for the token's whole life and after it.
func TestProactiveFractionalBackoff(t *testing.T) {
	t.Parallel()
	for _, step := range []time.Duration{time.Second, 0} {
		t.Run(fmt.Sprint("step ", step), func(t *testing.T) {
			t.Parallel()
			clk := newFakeClock()
			exp := testEpoch.Add(20 * time.Minute)
			token := makeToken(exp)
			r := &countingRefresher{mint: func() (string, error) { return token, nil }}
			c := newTestCredential(t, CommunicationTokenCredentialOptions{Token: token, Refresher: r.refresh, RefreshProactively: true}, clk)
			mustGetToken(t, c)

			advance := func(d time.Duration) {
				if step == 0 {
					clk.Advance(d)
					return
				}
				for range d / step {
					clk.Advance(step)
				}
			}
			advance(10 * time.Minute)
			if n := r.calls.Load(); n != 1 {
				t.Fatalf("first 10 minutes: %d refresher calls, want 1", n)
			}
			advance(10*time.Minute - time.Second)
			if n := r.calls.Load(); n != 10 {
				t.Fatalf("until the last second: %d refresher calls, want 10", n)
			}
			advance(time.Hour)
			if n := r.calls.Load(); n != 10 {
				t.Fatalf("after expiry: %d refresher calls, want 10", n)
			}
			// On demand, the stale token is now refused rather than returned.
			if _, err := c.GetToken(context.Background()); !errors.Is(err, ErrRefreshedTokenExpired) {
				t.Fatalf("GetToken after expiry: %v", err)
			}
		})
	}
}

// A failed proactive refresh is retried at half the remaining lifetime
// ("with increasing frequency until it succeeds", credentials best
// practices), and a failure once the token has expired is left to GetToken.
func TestProactiveRefreshRetriesAfterFailure(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	var fail atomic.Bool
	fail.Store(true)
	r := &countingRefresher{mint: func() (string, error) {
		if fail.Load() {
			return "", errors.New("service unavailable")
		}
		return makeToken(clk.Now().Add(time.Hour)), nil
	}}
	c := newTestCredential(t, CommunicationTokenCredentialOptions{
		Token: makeToken(testEpoch.Add(20 * time.Minute)), Refresher: r.refresh, RefreshProactively: true,
	}, clk)

	clk.Advance(10 * time.Minute)
	if next, ok := clk.nextTimer(); r.calls.Load() != 1 || !ok || !next.Equal(testEpoch.Add(15*time.Minute)) {
		t.Fatalf("after a failure at minute 10: %d calls, next at %v %v; want a retry at minute 15", r.calls.Load(), next, ok)
	}
	fail.Store(false)
	clk.Advance(5 * time.Minute)
	if got := mustGetToken(t, c); r.calls.Load() != 2 || !got.ExpiresOn.Equal(testEpoch.Add(75*time.Minute)) {
		t.Fatalf("after the retry: %d calls, token expires %v", r.calls.Load(), got.ExpiresOn)
	}

	// Failing from the window to past expiry: the back-off ends, no timer
	// is left, and GetToken refreshes on demand.
	fail.Store(true)
	clk.Advance(2 * time.Hour)
	if _, ok := clk.nextTimer(); ok {
		t.Fatal("a timer is still armed for an expired token after failures")
	}
	calls := r.calls.Load()
	fail.Store(false)
	if got := mustGetToken(t, c); r.calls.Load() != calls+1 || !got.ExpiresOn.After(clk.Now()) {
		t.Fatal("GetToken did not refresh on demand")
	}
	if _, ok := clk.nextTimer(); !ok {
		t.Fatal("an on-demand refresh did not re-arm proactive refreshing")
	}
}

// A timer that fires while an on-demand refresh runs joins it instead of
// starting another, and a timer superseded by a reschedule does nothing.
func TestProactiveTimerJoinsRunningRefresh(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	r := newBlockingRefresher(makeToken(testEpoch.Add(time.Hour)))
	c := newTestCredential(t, CommunicationTokenCredentialOptions{
		Token: makeToken(testEpoch.Add(-time.Second)), Refresher: r.refresh, RefreshProactively: true,
	}, clk)
	done := make(chan error, 1)
	go func() {
		_, err := c.GetToken(context.Background())
		done <- err
	}()
	<-r.entered
	clk.Advance(0) // the immediate proactive refresh is due
	close(r.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := r.calls.Load(); n != 1 {
		t.Fatalf("refresher called %d times, want 1", n)
	}

	// The race time.Timer.Stop can lose: the old timer's function runs
	// after a newer one was armed.
	c.mu.Lock()
	stale := c.timerGen - 1
	c.wg.Add(1)
	c.mu.Unlock()
	c.onTimer(stale)
	if n := r.calls.Load(); n != 1 {
		t.Fatalf("a stale timer refreshed: %d calls", n)
	}
}

// TestCloseLeavesNoGoroutine uses the real clock and is not parallel, so
// that runtime.NumGoroutine counts only its own goroutines.
func TestCloseLeavesNoGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()

	r := newBlockingRefresher(sampleToken)
	c, err := NewCommunicationTokenCredential(CommunicationTokenCredentialOptions{Refresher: r.refresh, RefreshProactively: true})
	if err != nil {
		t.Fatal(err)
	}
	<-r.entered // the immediate proactive refresh runs on the timer's goroutine
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			_, err := c.GetToken(context.Background())
			errs <- err
		}()
	}
	waitForWaiters(t, c, 3)
	c.Close()
	for range 3 {
		if err := <-errs; !errors.Is(err, ErrCredentialClosed) {
			t.Errorf("waiter got %v", err)
		}
	}

	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRealClockProactiveRefresh runs one proactive refresh on real timers.
func TestRealClockProactiveRefresh(t *testing.T) {
	t.Parallel()
	refreshed := make(chan string, 1)
	initial := makeToken(time.Now().Add(proactiveRefreshWindow + 20*time.Millisecond))
	var once sync.Once
	c, err := NewCommunicationTokenCredential(CommunicationTokenCredentialOptions{
		Token: initial,
		Refresher: func(context.Context) (string, error) {
			tok := makeToken(time.Now().Add(time.Hour))
			once.Do(func() { refreshed <- tok })
			return tok, nil
		},
		RefreshProactively: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var want string
	select {
	case want = <-refreshed:
	case <-time.After(10 * time.Second):
		t.Fatal("no proactive refresh")
	}
	deadline := time.Now().Add(10 * time.Second)
	for mustGetToken(t, c).Token != want {
		if time.Now().After(deadline) {
			t.Fatal("refreshed token not stored")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCredentialDoesNotShowToken(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	token := makeToken(testEpoch.Add(time.Hour))
	o := CommunicationTokenCredentialOptions{Token: token, Refresher: func(context.Context) (string, error) { return token, nil }, RefreshProactively: true}
	c := newTestCredential(t, o, clk)
	out := fmt.Sprintf("%v %+v %#v %s %v %+v %#v %s", c, c, c, c, o, o, o, o)
	if strings.Contains(out, token) || strings.Contains(out, strings.Split(token, ".")[1]) {
		t.Fatalf("formatted credential shows the token: %s", out)
	}
	if !strings.Contains(out, "REDACTED") || !strings.Contains(out, "2025-07-01T13:00:00Z") {
		t.Fatalf("unexpected description: %s", out)
	}
	if s := (CommunicationTokenCredentialOptions{}).String(); !strings.Contains(s, `Token: ""`) {
		t.Fatalf("empty options described as %s", s)
	}
}

// trustedService is an httptest server mounted under /api, answering like
// the trusted token service of the ACS samples.
func trustedService(t *testing.T, h func(w http.ResponseWriter, r *http.Request)) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/api/token", h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/api/token"
}

func writeTrustedJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func tokenResponse(token string) map[string]any {
	return map[string]any{
		"user":      map[string]string{"communicationUserId": "8:acs:r_u"},
		"token":     token,
		"expiresOn": time.Now().Add(time.Hour).Format(time.RFC3339),
	}
}
