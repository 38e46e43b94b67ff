package acsidentity

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// The tests below are named after the case of an official SDK's
// CommunicationTokenCredential suite that each follows; a comment names the
// SDK and the test. Timing cases run in a testing/synctest bubble, whose
// fake clock drives time.Now and the credential's timers: time.Sleep moves
// it, and nothing waits for real time.
//
//   JS:     sdk/communication/communication-common/test/public/communicationTokenCredential.spec.ts
//   .NET:   sdk/communication/Azure.Communication.Common/tests/Identity/CommunicationTokenCredentialTest.cs
//   Python: sdk/communication/azure-communication-identity/tests/test_user_credential.py
//   Java:   sdk/communication/azure-communication-common/src/test/java/com/azure/communication/common/CommunicationTokenCredentialTests.java

// Sample tokens of the .NET and Java tests (hmac_ids.md §4.1).
const (
	sampleToken        = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjMyNTAzNjgwMDAwfQ.9i7FNNHHJT8cOzo-yrAUJyBSfJ-tPPk2emcHavOEpWc"
	sampleTokenExpiry  = 32503680000
	expiredSampleToken = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjEwMH0.1h_scYkNp-G98-O4cW6KvfJZwiz54uJMyeDACE4nypg"
	noExpToken         = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJza3lwZWlkIjoic3Bvb2w6PG15LXJlc291cmNlLWlkPl9hYmNkZWYtMDEyMzQ1Njc4OSJ9."
	jwtHeader          = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
	jsSignature        = "adM-ddBZZlQ1WlN3pdPBOF5G4Wh9iZpxNP_fSvpF4cWs"
)

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

// encryptedToken is what the JS tests' generateEncryptedToken makes: five
// copies of base64("opaque"), a JWE in shape that nothing can decode.
var encryptedToken = strings.Repeat(base64.StdEncoding.EncodeToString([]byte("opaque"))+".", 4) + base64.StdEncoding.EncodeToString([]byte("opaque"))

// makeEncryptedToken returns a distinct five-part token: a JWE with
// direct key agreement (empty encrypted key) in shape.
func makeEncryptedToken(n int) string {
	seg := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	return seg(`{"alg":"dir","enc":"A256GCM"}`) + ".." + seg("iv") + "." + seg(fmt.Sprint("ciphertext ", n)) + "." + seg("tag")
}

// inBubble runs f in a synctest bubble, in parallel with other tests.
func inBubble(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	t.Parallel()
	synctest.Test(t, f)
}

// sleep moves the bubble's clock by d and lets every goroutine that wakes
// up (timers due by then included) run until it blocks or ends.
func sleep(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
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

// validFor returns a refresher whose tokens expire d after they are made.
func validFor(d time.Duration) *countingRefresher {
	return &countingRefresher{mint: func() (string, error) { return makeToken(time.Now().Add(d)), nil }}
}

func newTestCredential(t *testing.T, o CommunicationTokenCredentialOptions) *CommunicationTokenCredential {
	t.Helper()
	c, err := NewCommunicationTokenCredential(o)
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

func wantCalls(t *testing.T, r interface{ count() int32 }, want int32, when string) {
	t.Helper()
	if n := r.count(); n != want {
		t.Fatalf("%s: refresher called %d times, want %d", when, n, want)
	}
}

func (r *countingRefresher) count() int32 { return r.calls.Load() }

// nextTimer returns when the proactive timer fires, if one is armed.
func nextTimer(c *CommunicationTokenCredential) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.timerAt, !c.timerAt.IsZero()
}

func waiting(c *CommunicationTokenCredential) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.waiting
}

// getAsync runs GetToken on a goroutine of its own.
func getAsync(ctx context.Context, c *CommunicationTokenCredential) <-chan tokenResult {
	ch := make(chan tokenResult, 1)
	go func() {
		tok, err := c.GetToken(ctx)
		ch <- tokenResult{tok, err}
	}()
	return ch
}

type tokenResult struct {
	tok AccessToken
	err error
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
		{"JWE", encryptedToken},
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

// parseAccessToken on what the JS parser of the five-part rule accepts and
// still rejects (JS tokenParser; tests "accepts an encrypted (undecodable)
// token using the fallback expiry" and "still throws for a malformed token
// string").
func TestParseAccessToken(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 7, 1, 12, 0, 0, 0, time.UTC)
	fivePartJWT := makeToken(now.Add(time.Hour)) + ".x.y" // decodable: its exp wins, as jwtDecode's does
	accepted := []struct {
		name     string
		token    string
		fallback time.Duration
		expires  time.Time
		window   time.Duration
	}{
		{"JWT", makeToken(now.Add(time.Hour)), 10 * time.Minute, now.Add(time.Hour), 10 * time.Minute},
		{"JS generateEncryptedToken", encryptedToken, 10 * time.Minute, now.Add(10 * time.Minute), 5 * time.Minute},
		{"JWE with an empty encrypted key", makeEncryptedToken(1), 10 * time.Minute, now.Add(10 * time.Minute), 5 * time.Minute},
		{"JS undecodableTokenExpiryIntervalInSeconds 1800", encryptedToken, 30 * time.Minute, now.Add(30 * time.Minute), 10 * time.Minute},
		{"fallback of 4 minutes", encryptedToken, 4 * time.Minute, now.Add(4 * time.Minute), 2 * time.Minute},
		{"five parts whose payload decodes", fivePartJWT, 10 * time.Minute, now.Add(time.Hour), 10 * time.Minute},
	}
	for _, tc := range accepted {
		tok, window, err := parseAccessToken(tc.token, now, tc.fallback)
		if err != nil || tok.Token != tc.token || !tok.ExpiresOn.Equal(tc.expires) || window != tc.window {
			t.Errorf("%s: parseAccessToken = %v, %v, %v; want expiry %v, window %v", tc.name, tok, window, err, tc.expires, tc.window)
		}
	}
	for _, token := range []string{
		"not.a.real.token", // JS "still throws for a malformed token string"
		"IAmNotAToken",     // JS "throws if non-JWT token"
		"a.b.c.d.e.f",
		".b.c.d.e",
		"a b.c.d.e",
		"a.b.c.d.e\n",
		"....",
		noExpToken,
	} {
		if _, _, err := parseAccessToken(token, now, 10*time.Minute); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%q: error %v, want ErrInvalidToken", token, err)
		}
	}
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
		// Python test_communicationtokencredential_throws_if_proactive_refresh_enabled_without_token_refresher.
		{"proactive without refresher", CommunicationTokenCredentialOptions{Token: sampleToken, RefreshProactively: true}, nil},
		// JS "throws if non-JWT token"; Java constructWithInvalidTokenStringShouldThrow.
		{"IAmNotAToken", CommunicationTokenCredentialOptions{Token: "IAmNotAToken"}, ErrInvalidToken},
		// .NET CommunicationTokenCredential_ThrowsIfInvalidToken.
		{".NET foo", CommunicationTokenCredentialOptions{Token: "foo"}, ErrInvalidToken},
		{".NET foo.bar", CommunicationTokenCredentialOptions{Token: "foo.bar"}, ErrInvalidToken},
		{".NET foo.bar.foobar", CommunicationTokenCredentialOptions{Token: "foo.bar.foobar"}, ErrInvalidToken},
		// Python test_communicationtokencredential_throws_if_invalid_token.
		{"Python foo.bar.tar", CommunicationTokenCredentialOptions{Token: "foo.bar.tar", Refresher: refresher}, ErrInvalidToken},
		// JS "still throws for a malformed token string".
		{"JS not.a.real.token", CommunicationTokenCredentialOptions{Token: "not.a.real.token"}, ErrInvalidToken},
		// JS tokenParser: the fallback lifetime must be positive.
		{"negative fallback", CommunicationTokenCredentialOptions{Token: encryptedToken, UndecodableTokenExpiresIn: -time.Second}, nil},
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

// .NET CommunicationTokenCredential_DecodesToken; Python
// test_communicationtokencredential_decodes_token; JS "returns token as
// expected"; Java constructWithValidTokenWithoutFresher.
func TestDecodesToken(t *testing.T) {
	t.Parallel()
	c := newTestCredential(t, CommunicationTokenCredentialOptions{Token: sampleToken})
	if got := mustGetToken(t, c); got.Token != sampleToken || got.ExpiresOn.Unix() != sampleTokenExpiry {
		t.Fatalf("GetToken = %v", got)
	}
}

// .NET CommunicationTokenCredential_StaticToken_ReturnsExpiredToken; JS
// "returns expired token when not using a lambda"; Python
// test_communicationtokencredential_static_token_returns_expired_token;
// Java constructWithExpiredTokenWithoutRefresher. And a static token that
// expires while the credential holds it is still returned.
func TestStaticTokenReturnsExpiredToken(t *testing.T) {
	t.Parallel()
	c := newTestCredential(t, CommunicationTokenCredentialOptions{Token: expiredSampleToken})
	if got := mustGetToken(t, c); got.Token != expiredSampleToken || got.ExpiresOn.Unix() != 100 {
		t.Fatalf("GetToken = %v, want the expired token with its expiry", got)
	}

	t.Run("expires while held", func(t *testing.T) {
		inBubble(t, func(t *testing.T) {
			exp := time.Now().Add(time.Hour)
			token := makeToken(exp)
			c := newTestCredential(t, CommunicationTokenCredentialOptions{Token: token})
			sleep(2 * time.Hour)
			got := mustGetToken(t, c)
			if got.Token != token || !got.ExpiresOn.Equal(exp) || got.ExpiresOn.After(time.Now()) {
				t.Fatalf("GetToken after expiry = %v", got)
			}
		})
	})
}

// JS "accepts an encrypted (undecodable) token using the fallback expiry".
func TestAcceptsEncryptedToken(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		c := newTestCredential(t, CommunicationTokenCredentialOptions{Token: encryptedToken})
		got := mustGetToken(t, c)
		if got.Token != encryptedToken || !got.ExpiresOn.Equal(time.Now().Add(10*time.Minute)) {
			t.Fatalf("GetToken = %v, want the token expiring in 10 minutes", got)
		}
		// Static: still returned once its assumed lifetime is over.
		sleep(time.Hour)
		if got := mustGetToken(t, c); got.Token != encryptedToken {
			t.Fatal("static encrypted token not returned after its assumed lifetime")
		}
	})
}

// JS "honors undecodableTokenExpiryIntervalInSeconds for an undecodable
// token": a token from the Refresher too.
func TestHonorsUndecodableTokenExpiresIn(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		r := &countingRefresher{mint: func() (string, error) { return encryptedToken, nil }}
		c := newTestCredential(t, CommunicationTokenCredentialOptions{Refresher: r.refresh, UndecodableTokenExpiresIn: 1800 * time.Second})
		if got := mustGetToken(t, c); got.Token != encryptedToken || !got.ExpiresOn.Equal(time.Now().Add(30*time.Minute)) {
			t.Fatalf("GetToken = %v, want the token expiring in 30 minutes", got)
		}
		wantCalls(t, r, 1, "first GetToken")
	})
}

// JS "proactively refreshes an undecodable token at half its fallback
// lifetime", with GetToken called every 30 seconds in between: neither the
// timer nor GetToken renews the token before half its assumed lifetime.
func TestProactivelyRefreshesUndecodableTokenAtHalfLife(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		var n atomic.Int32
		r := &countingRefresher{mint: func() (string, error) { return makeEncryptedToken(int(n.Add(1))), nil }}
		initial := makeEncryptedToken(0)
		c := newTestCredential(t, CommunicationTokenCredentialOptions{Token: initial, Refresher: r.refresh, RefreshProactively: true})
		start := time.Now()
		for range 8 {
			if got := mustGetToken(t, c); got.Token != initial {
				t.Fatal("the initial encrypted token was replaced within 4 minutes")
			}
			sleep(30 * time.Second)
		}
		wantCalls(t, r, 0, "4 minutes")
		sleep(61 * time.Second)
		wantCalls(t, r, 1, "5 minutes and a second")
		got := mustGetToken(t, c)
		if got.Token != makeEncryptedToken(1) || !got.ExpiresOn.Equal(start.Add(15*time.Minute)) {
			t.Fatalf("GetToken = %v, want the refreshed token expiring at minute 15", got)
		}
		if next, ok := nextTimer(c); !ok || !next.Equal(start.Add(10*time.Minute)) {
			t.Fatalf("next refresh at %v, %v; want minute 10", next, ok)
		}
		wantCalls(t, r, 1, "after GetToken")
	})
}

// An encrypted token without RefreshProactively is refreshed once its
// assumed lifetime is over, not before (the JS rule for any token).
func TestEncryptedTokenRefreshedOnDemandWhenExpired(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		r := &countingRefresher{mint: func() (string, error) { return encryptedToken, nil }}
		c := newTestCredential(t, CommunicationTokenCredentialOptions{Refresher: r.refresh})
		for range 10 {
			mustGetToken(t, c)
		}
		sleep(10*time.Minute - time.Second)
		mustGetToken(t, c)
		wantCalls(t, r, 1, "within the assumed lifetime")
		sleep(time.Second)
		mustGetToken(t, c)
		wantCalls(t, r, 2, "at the end of the assumed lifetime")
	})
}

// JS "requests new token when token is about to expire": without
// RefreshProactively a token inside the 10-minute window is still
// returned; only an expired one is refreshed.
func TestRequestsNewTokenWhenTokenIsAboutToExpire(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		start := time.Now()
		r := validFor(20 * time.Minute)
		c := newTestCredential(t, CommunicationTokenCredentialOptions{Refresher: r.refresh})

		first := mustGetToken(t, c)
		if first.Token != makeToken(start.Add(20*time.Minute)) {
			t.Fatal("first GetToken did not return the refreshed token")
		}
		sleep(19 * time.Minute)
		if got := mustGetToken(t, c); got.Token != first.Token {
			t.Fatal("a token that is still valid was replaced")
		}
		sleep(5 * time.Minute)
		if got := mustGetToken(t, c); got.Token != makeToken(start.Add(44*time.Minute)) {
			t.Fatal("expired token was not refreshed")
		}
		wantCalls(t, r, 2, "end")
		if _, ok := nextTimer(c); ok {
			t.Fatal("a timer was armed without RefreshProactively")
		}
	})
}

// JS "multiple calls to getToken call tokenRefresher only once" and
// "returns token as expected when using lambda"; Java
// shouldCallbackOnDemandWithoutRefresher and
// expiredTokenShouldBeRefreshedOnDemandWithoutProactiveFetch; .NET
// GetTokenSeries_RefreshTokenOnDemandIfNeeded; Python
// test_communicationtokencredential_token_expired_refresh_called.
func TestMultipleCallsToGetTokenCallRefresherOnlyOnce(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		for _, initial := range []string{"", expiredSampleToken} {
			r := &countingRefresher{mint: func() (string, error) { return sampleToken, nil }}
			c := newTestCredential(t, CommunicationTokenCredentialOptions{Token: initial, Refresher: r.refresh})
			wantCalls(t, r, 0, "construction")
			for range 10 {
				if got := mustGetToken(t, c); got.Token != sampleToken || got.ExpiresOn.Unix() != sampleTokenExpiry {
					t.Fatalf("GetToken = %v", got)
				}
			}
			wantCalls(t, r, 1, "10 GetToken calls")
		}
	})
}

// JS "no proactive refresh, accepts expired token": nothing calls the
// Refresher before GetToken does.
func TestNoProactiveRefreshAcceptsExpiredToken(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		r := validFor(-time.Minute)
		newTestCredential(t, CommunicationTokenCredentialOptions{Refresher: r.refresh})
		sleep(5 * time.Minute)
		wantCalls(t, r, 0, "5 minutes without GetToken")
	})
}

// JS "throws if tokenRefresher returns an expired token", "doesn't swallow
// error from tokenRefresher" and "throws if non-JWT passed as lambda";
// Python test_communicationtokencredential_raises_if_refresher_returns_expired_token;
// .NET CurrentTokenExpired_TokenRefreshFails_Throws; Java
// doNotSwallowExceptionWithoutProactiveFetching.
func TestRefreshFailures(t *testing.T) {
	errNoToken := errors.New("no token for you")
	tests := []struct {
		name string
		mint func() (string, error)
		is   error
		text string
	}{
		{"refresher error", func() (string, error) { return "", errNoToken }, errNoToken, "no token for you"},
		{"expired token", func() (string, error) { return makeToken(time.Now().Add(-time.Minute)), nil }, ErrRefreshedTokenExpired, "token returned by the refresher is expired"},
		{"token expiring now", func() (string, error) { return makeToken(time.Now()), nil }, ErrRefreshedTokenExpired, "token returned by the refresher is expired"},
		{"not a JWT", func() (string, error) { return "IAmNotAToken", nil }, ErrInvalidToken, "not a JWT"},
		{"four parts", func() (string, error) { return "not.a.real.token", nil }, ErrInvalidToken, "not a JWT"},
	}
	for _, tc := range tests {
		for _, proactive := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s proactive=%t", tc.name, proactive), func(t *testing.T) {
				inBubble(t, func(t *testing.T) {
					r := &countingRefresher{mint: tc.mint}
					c := newTestCredential(t, CommunicationTokenCredentialOptions{
						Token: makeToken(time.Now().Add(-10 * time.Minute)), Refresher: r.refresh, RefreshProactively: proactive,
					})
					synctest.Wait() // a proactive credential's immediate refresh
					calls := r.count()
					_, err := c.GetToken(context.Background())
					if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.text) {
						t.Fatalf("GetToken error = %v, want %v containing %q", err, tc.is, tc.text)
					}
					if tok, _ := tc.mint(); tok != "" && strings.Contains(err.Error(), tok) {
						t.Fatalf("error %q shows the token", err)
					}
					// Each failed GetToken tries again; nothing is cached.
					c.GetToken(context.Background())
					wantCalls(t, r, calls+2, "two GetToken calls")
				})
			})
		}
	}
}

// JS "passes abortSignal through to tokenRefresher"; .NET
// CommunicationTokenCredential_PassesCancellationToken (with and without
// proactive refreshing): the Refresher gets the context of the GetToken
// call that needs the token, with its values and deadline, and ended by
// the caller's cancellation or by Close.
func TestPassesContextToRefresher(t *testing.T) {
	type key struct{}
	for _, proactive := range []bool{false, true} {
		t.Run(fmt.Sprint("proactive=", proactive), func(t *testing.T) {
			inBubble(t, func(t *testing.T) {
				var gotValue any
				var gotDeadline time.Time
				r := &countingRefresher{}
				refresher := func(ctx context.Context) (string, error) {
					gotValue = ctx.Value(key{})
					gotDeadline, _ = ctx.Deadline()
					return r.refresh(ctx)
				}
				r.mint = func() (string, error) { return makeToken(time.Now().Add(time.Hour)), nil }
				// Five minutes left: inside the window, but the proactive
				// timer is not due before 2.5 minutes.
				c := newTestCredential(t, CommunicationTokenCredentialOptions{
					Token: makeToken(time.Now().Add(5 * time.Minute)), Refresher: refresher, RefreshProactively: proactive,
				})
				if !proactive {
					sleep(6 * time.Minute)
				}
				deadline := time.Now().Add(time.Minute)
				ctx, cancel := context.WithDeadline(context.WithValue(context.Background(), key{}, "trace span"), deadline)
				defer cancel()
				if _, err := c.GetToken(ctx); err != nil {
					t.Fatal(err)
				}
				wantCalls(t, r, 1, "GetToken")
				if gotValue != "trace span" || !gotDeadline.Equal(deadline) {
					t.Fatalf("refresher saw value %v and deadline %v; want the caller's", gotValue, gotDeadline)
				}
			})
		})
	}

	t.Run("cancelled by the caller and by Close", func(t *testing.T) {
		inBubble(t, func(t *testing.T) {
			ctxs := make(chan context.Context, 2)
			refresher := func(ctx context.Context) (string, error) {
				ctxs <- ctx
				<-ctx.Done()
				return "", ctx.Err()
			}
			c := newTestCredential(t, CommunicationTokenCredentialOptions{Refresher: refresher})

			ctx, cancel := context.WithCancel(context.Background())
			res := getAsync(ctx, c)
			rctx := <-ctxs
			cancel()
			if r := <-res; r.err != context.Canceled {
				t.Fatalf("GetToken = %v, want context.Canceled", r.err)
			}
			synctest.Wait()
			if rctx.Err() != context.Canceled {
				t.Fatalf("refresher's context: %v", rctx.Err())
			}

			res = getAsync(context.Background(), c)
			rctx = <-ctxs
			c.Close()
			if r := <-res; !errors.Is(r.err, ErrCredentialClosed) {
				t.Fatalf("GetToken = %v, want ErrCredentialClosed", r.err)
			}
			if rctx.Err() == nil || !errors.Is(context.Cause(rctx), ErrCredentialClosed) {
				t.Fatalf("refresher's context after Close: %v, cause %v", rctx.Err(), context.Cause(rctx))
			}
		})
	})
}

// blockingRefresher hands each call's context to the test and blocks it
// until the test answers on release.
type blockingRefresher struct {
	calls   atomic.Int32
	entered chan context.Context
	release chan refresherAnswer
	// honourCtx makes a call return ctx.Err() when its context ends.
	honourCtx bool
}

type refresherAnswer struct {
	token string
	err   error
}

func newBlockingRefresher(honourCtx bool) *blockingRefresher {
	return &blockingRefresher{entered: make(chan context.Context, 100), release: make(chan refresherAnswer), honourCtx: honourCtx}
}

func (r *blockingRefresher) count() int32 { return r.calls.Load() }

func (r *blockingRefresher) refresh(ctx context.Context) (string, error) {
	r.calls.Add(1)
	r.entered <- ctx
	done := ctx.Done()
	if !r.honourCtx {
		done = nil
	}
	select {
	case a := <-r.release:
		return a.token, a.err
	case <-done:
		return "", ctx.Err()
	}
}

// startRefresh starts a refresh with a GetToken under a cancellable child
// of parent and returns once the Refresher has been called.
func startRefresh(parent context.Context, c *CommunicationTokenCredential, r *blockingRefresher) (context.CancelFunc, <-chan tokenResult, context.Context) {
	ctx, cancel := context.WithCancel(parent)
	res := getAsync(ctx, c)
	return cancel, res, <-r.entered
}

// Java shouldCallRefresherOnlyOnceWhileRefreshingIsInProgress and
// withoutInitialTokenShouldCallFresherOnlyOnceWhileRefreshingIsInProgress;
// .NET GetTokenSeries_CallsRefreshTokenOnlyOnce: many goroutines, one
// refresh.
func TestCallsRefresherOnlyOnceWhileRefreshingIsInProgress(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		r := newBlockingRefresher(true)
		c := newTestCredential(t, CommunicationTokenCredentialOptions{Refresher: r.refresh})
		token := makeToken(time.Now().Add(time.Hour))

		const n = 100
		var wg sync.WaitGroup
		results := make(chan tokenResult, n)
		for range n {
			wg.Go(func() {
				tok, err := c.GetToken(context.Background())
				results <- tokenResult{tok, err}
			})
		}
		synctest.Wait()
		if w := waiting(c); w != n {
			t.Fatalf("%d GetToken calls wait, want %d", w, n)
		}
		r.release <- refresherAnswer{token: token}
		wg.Wait()
		close(results)
		for res := range results {
			if res.err != nil || res.tok.Token != token {
				t.Errorf("GetToken = %v, %v", res.tok, res.err)
			}
		}
		wantCalls(t, r, 1, fmt.Sprint(n, " concurrent GetToken calls"))
	})
}

// JS "calls tokenRefresher only once when proactive refreshing is in
// progress": GetToken calls that arrive during a proactive refresh wait
// for it.
func TestCallsRefresherOnlyOnceWhenProactiveRefreshingIsInProgress(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		r := newBlockingRefresher(true)
		c := newTestCredential(t, CommunicationTokenCredentialOptions{Refresher: r.refresh, RefreshProactively: true})
		rctx := <-r.entered // the immediate proactive refresh
		var res []<-chan tokenResult
		for range 10 {
			res = append(res, getAsync(context.Background(), c))
		}
		synctest.Wait()
		token := makeToken(time.Now().Add(time.Hour))
		r.release <- refresherAnswer{token: token}
		for _, ch := range res {
			if got := <-ch; got.err != nil || got.tok.Token != token {
				t.Fatalf("GetToken = %v, %v", got.tok, got.err)
			}
		}
		wantCalls(t, r, 1, "10 GetToken calls during a proactive refresh")
		if rctx.Err() != nil {
			t.Fatal("the proactive refresh's context ended")
		}
	})
}

// Issue 18, rule 2: when the GetToken call that started a refresh gives up,
// its refresh ends with it, and a waiter whose context is still live starts
// a fresh refresh under its own context instead of failing.
func TestWaiterStartsFreshRefreshWhenStarterCancelled(t *testing.T) {
	type key struct{}
	inBubble(t, func(t *testing.T) {
		r := newBlockingRefresher(true)
		c := newTestCredential(t, CommunicationTokenCredentialOptions{Refresher: r.refresh})

		cancelA, resA, first := startRefresh(context.WithValue(context.Background(), key{}, "A"), c, r)
		if v := first.Value(key{}); v != "A" {
			t.Fatalf("first refresh runs under %v, want A's context", v)
		}
		resB := getAsync(context.WithValue(context.Background(), key{}, "B"), c)
		resC := getAsync(context.WithValue(context.Background(), key{}, "C"), c)
		synctest.Wait()
		if w := waiting(c); w != 3 {
			t.Fatalf("%d GetToken calls wait, want 3", w)
		}

		cancelA()
		if got := <-resA; got.err != context.Canceled {
			t.Fatalf("A got %v, want context.Canceled", got.err)
		}
		second := <-r.entered
		if v := second.Value(key{}); v != "B" && v != "C" {
			t.Fatalf("second refresh runs under %v, want B's or C's context", v)
		}
		synctest.Wait()
		wantCalls(t, r, 2, "after A gave up")
		token := makeToken(time.Now().Add(time.Hour))
		r.release <- refresherAnswer{token: token}
		for _, ch := range []<-chan tokenResult{resB, resC} {
			if got := <-ch; got.err != nil || got.tok.Token != token {
				t.Fatalf("waiter got %v, %v", got.tok, got.err)
			}
		}
		wantCalls(t, r, 2, "end")
	})
}

// A Refresher that ignores its context and succeeds after the call that
// started it gave up still delivers its token to the waiters, once; a
// caller whose context has already ended starts nothing.
func TestRefreshThatOutlivesStarterServesWaiters(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		r := newBlockingRefresher(false)
		c := newTestCredential(t, CommunicationTokenCredentialOptions{Refresher: r.refresh})

		cancelA, resA, _ := startRefresh(context.Background(), c, r)
		ctxB, cancelB := context.WithTimeout(context.Background(), time.Minute)
		defer cancelB()
		resB := getAsync(ctxB, c)
		resC := getAsync(context.Background(), c)
		synctest.Wait()
		cancelA()
		if got := <-resA; got.err != context.Canceled {
			t.Fatalf("A got %v", got.err)
		}
		sleep(2 * time.Minute) // B's own deadline passes while the refresh runs
		if got := <-resB; got.err != context.DeadlineExceeded {
			t.Fatalf("B got %v, want its own deadline", got.err)
		}
		token := makeToken(time.Now().Add(time.Hour))
		r.release <- refresherAnswer{token: token}
		if got := <-resC; got.err != nil || got.tok.Token != token {
			t.Fatalf("C got %v, %v", got.tok, got.err)
		}
		wantCalls(t, r, 1, "end")

		// A caller whose context has already ended does not start a refresh.
		sleep(2 * time.Hour)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := c.GetToken(ctx); err != context.Canceled {
			t.Fatalf("GetToken with ended context: %v", err)
		}
		wantCalls(t, r, 1, "a GetToken whose context had ended")
	})
}

// A waiter that starts a fresh refresh after the first caller gave up gets
// that refresh's own result, an error included: it does not loop.
func TestWaiterGetsErrorOfItsOwnRefresh(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		r := newBlockingRefresher(true)
		c := newTestCredential(t, CommunicationTokenCredentialOptions{Refresher: r.refresh})
		cancelA, resA, _ := startRefresh(context.Background(), c, r)
		resB := getAsync(context.Background(), c)
		synctest.Wait()
		cancelA()
		<-resA
		<-r.entered // B's refresh
		errDown := errors.New("trusted service down")
		r.release <- refresherAnswer{err: errDown}
		if got := <-resB; !errors.Is(got.err, errDown) {
			t.Fatalf("B got %v, want its refresh's error", got.err)
		}
	})
}

// JS "throws if disposed"; .NET GetTokenSeries_Throws_IfTokenRequestedWhileDisposed
// and GetTokenSeries_StaticToken_Throws_IfTokenRequestedWhileDisposed; Java
// shouldThrowWhenGetTokenCalledOnClosedObject; Python
// test_exit_enter_scenario_throws_exception.
func TestThrowsIfDisposed(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		static := newTestCredential(t, CommunicationTokenCredentialOptions{Token: sampleToken})
		withRefresher := newTestCredential(t, CommunicationTokenCredentialOptions{
			Refresher: func(context.Context) (string, error) { return sampleToken, nil },
		})
		proactive := newTestCredential(t, CommunicationTokenCredentialOptions{
			Refresher: func(context.Context) (string, error) { return sampleToken, nil }, RefreshProactively: true,
		})
		for _, c := range []*CommunicationTokenCredential{static, withRefresher, proactive} {
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if err := c.Close(); err != nil {
				t.Fatal("second Close:", err)
			}
			if _, err := c.GetToken(context.Background()); !errors.Is(err, ErrCredentialClosed) {
				t.Fatalf("GetToken after Close: %v", err)
			}
			if s := c.String(); !strings.Contains(s, "Closed: true") {
				t.Fatalf("closed credential described as %s", s)
			}
		}
	})
}

// JS "dispose cancels timer"; .NET Dispose_CancelsTimer; Java
// shouldStopRefreshTimerWhenClosed; Python test_exit_cancels_timer.
func TestDisposeCancelsTimer(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		r := validFor(20 * time.Minute)
		c := newTestCredential(t, CommunicationTokenCredentialOptions{
			Token: makeToken(time.Now().Add(20 * time.Minute)), Refresher: r.refresh, RefreshProactively: true,
		})
		if _, ok := nextTimer(c); !ok {
			t.Fatal("no timer armed")
		}
		c.Close()
		if _, ok := nextTimer(c); ok {
			t.Fatal("timer still armed after Close")
		}
		sleep(19 * time.Minute)
		wantCalls(t, r, 0, "after Close")
	})
}

// Close during an on-demand refresh cancels the Refresher's context, waits
// for it to return, and fails every waiter with ErrCredentialClosed; Close
// during a proactive refresh does the same to the proactive context.
func TestCloseDuringRefresh(t *testing.T) {
	for _, proactive := range []bool{false, true} {
		t.Run(fmt.Sprint("proactive=", proactive), func(t *testing.T) {
			inBubble(t, func(t *testing.T) {
				r := newBlockingRefresher(true)
				c := newTestCredential(t, CommunicationTokenCredentialOptions{Refresher: r.refresh, RefreshProactively: proactive})
				var res []<-chan tokenResult
				if !proactive {
					res = append(res, getAsync(context.Background(), c))
				}
				rctx := <-r.entered
				for range 5 {
					res = append(res, getAsync(context.Background(), c))
				}
				synctest.Wait()
				c.Close() // returns once the refresher has
				if rctx.Err() == nil {
					t.Fatal("Close did not cancel the refresher's context")
				}
				for _, ch := range res {
					if got := <-ch; !errors.Is(got.err, ErrCredentialClosed) {
						t.Fatalf("waiter got %v, want ErrCredentialClosed", got.err)
					}
				}
				wantCalls(t, r, 1, "end")
			})
		})
	}
}

// Close with a Refresher that ignores its context waits for it, and the
// token it returns is dropped.
func TestCloseWaitsForRefresher(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		r := newBlockingRefresher(false)
		c := newTestCredential(t, CommunicationTokenCredentialOptions{Refresher: r.refresh})
		res := getAsync(context.Background(), c)
		<-r.entered
		closed := make(chan struct{})
		go func() { c.Close(); close(closed) }()
		synctest.Wait()
		select {
		case <-closed:
			t.Fatal("Close returned while the refresher ran")
		default:
		}
		r.release <- refresherAnswer{token: sampleToken}
		<-closed
		if got := <-res; !errors.Is(got.err, ErrCredentialClosed) {
			t.Fatalf("waiter got %v", got.err)
		}
	})
}

func TestZeroCredential(t *testing.T) {
	t.Parallel()
	var c CommunicationTokenCredential
	if _, err := c.GetToken(context.Background()); err == nil || !strings.Contains(err.Error(), "NewCommunicationTokenCredential") {
		t.Fatalf("GetToken on zero value: %v", err)
	}
	c.Close()
}

// JS "uses initial token as expected"; Python test_uses_initial_token_as_expected.
func TestUsesInitialTokenAsExpected(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		exp := time.Now().Add(time.Hour)
		token := makeToken(exp)
		r := validFor(2 * time.Hour)
		c := newTestCredential(t, CommunicationTokenCredentialOptions{Token: token, Refresher: r.refresh, RefreshProactively: true})
		if got := mustGetToken(t, c); got.Token != token {
			t.Fatal("initial token not returned")
		}
		wantCalls(t, r, 0, "GetToken")
		if next, ok := nextTimer(c); !ok || !next.Equal(exp.Add(-10*time.Minute)) {
			t.Fatalf("proactive refresh scheduled at %v, %v; want exp-10min", next, ok)
		}
	})
}

// JS "with proactive refresh, passing an expired token to constructor
// triggers immediate refresh"; .NET
// CommunicationTokenCredential_RefreshsTokenProactively_ImmediateWhenExpired;
// Java refresherShouldBeCalledImmediatelyWithExpiredToken; and the same
// without any initial token.
func TestProactiveRefreshImmediateWhenExpired(t *testing.T) {
	for name, lifetime := range map[string]time.Duration{"expired token": -time.Minute, "no token": 0} {
		t.Run(name, func(t *testing.T) {
			inBubble(t, func(t *testing.T) {
				start := time.Now()
				initial := ""
				if lifetime != 0 {
					initial = makeToken(start.Add(lifetime))
				}
				r := validFor(30 * time.Minute)
				c := newTestCredential(t, CommunicationTokenCredentialOptions{Token: initial, Refresher: r.refresh, RefreshProactively: true})
				synctest.Wait()
				wantCalls(t, r, 1, "construction")
				if got := mustGetToken(t, c); got.Token != makeToken(start.Add(30*time.Minute)) {
					t.Fatal("GetToken did not return the proactively refreshed token")
				}
				wantCalls(t, r, 1, "GetToken")
			})
		})
	}
}

// JS "proactively refreshes token when it is about to expire" and "repeats
// proactive refreshing"; .NET ProactiveRefreshingEnabled_KeepsSchedulingNewTimers;
// Java refresherShouldBeCalledAgainAfterFirstRefreshCall: a refresher that
// always returns a token valid for 20 minutes from when it is made.
func TestRepeatsProactiveRefreshing(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		start := time.Now()
		r := validFor(20 * time.Minute)
		c := newTestCredential(t, CommunicationTokenCredentialOptions{
			Token: makeToken(start.Add(20 * time.Minute)), Refresher: r.refresh, RefreshProactively: true,
		})
		sleep(19 * time.Minute)
		wantCalls(t, r, 1, "19 minutes")
		// Refreshed at minute 10: valid until 30, next refresh at 20.
		if got := mustGetToken(t, c); !got.ExpiresOn.Equal(start.Add(30 * time.Minute)) {
			t.Fatalf("token expires %v, want minute 30", got.ExpiresOn)
		}
		if next, ok := nextTimer(c); !ok || !next.Equal(start.Add(20*time.Minute)) {
			t.Fatalf("next refresh at %v, %v; want minute 20", next, ok)
		}
		sleep(40 * time.Minute) // to minute 59: refreshes at 20, 30, 40, 50
		wantCalls(t, r, 5, "59 minutes")
		if got := mustGetToken(t, c); !got.ExpiresOn.Equal(start.Add(70 * time.Minute)) {
			t.Fatalf("token expires %v, want minute 70", got.ExpiresOn)
		}
	})
}

// JS "applies fractional backoff when the token is about to expire"; Python
// test_fractional_backoff_applied_when_token_expiring: a refresher that
// keeps returning the same 20-minute token is called once in the first 10
// minutes and floor(log2(1200)) = 10 times in all. The JS test steps its
// clock by one second and stops at the penultimate second; here the
// back-off ends when the next attempt would be under a second away, so the
// count stays 10 for the token's whole life and after it. With GetToken
// called every second as well, the on-demand rule refreshes no more often:
// a refreshed token inside the window is not asked for again before half
// its remaining lifetime.
func TestAppliesFractionalBackoff(t *testing.T) {
	for _, getEverySecond := range []bool{false, true} {
		t.Run(fmt.Sprint("GetToken every second=", getEverySecond), func(t *testing.T) {
			inBubble(t, func(t *testing.T) {
				start := time.Now()
				token := makeToken(start.Add(20 * time.Minute))
				r := &countingRefresher{mint: func() (string, error) { return token, nil }}
				c := newTestCredential(t, CommunicationTokenCredentialOptions{Token: token, Refresher: r.refresh, RefreshProactively: true})
				mustGetToken(t, c)
				for time.Since(start) < 10*time.Minute {
					sleep(time.Second)
					if getEverySecond {
						mustGetToken(t, c)
					}
				}
				wantCalls(t, r, 1, "first 10 minutes")
				for time.Since(start) < 20*time.Minute-time.Second {
					sleep(time.Second)
					if getEverySecond {
						mustGetToken(t, c)
					}
				}
				wantCalls(t, r, 10, "until the last second")
				sleep(time.Hour)
				wantCalls(t, r, 10, "after expiry")
				// On demand, the stale token is now refused rather than returned.
				if _, err := c.GetToken(context.Background()); !errors.Is(err, ErrRefreshedTokenExpired) {
					t.Fatalf("GetToken after expiry: %v", err)
				}
			})
		})
	}

	// Python: the timer's interval halves with each refresh.
	t.Run("Python milestones", func(t *testing.T) {
		inBubble(t, func(t *testing.T) {
			start := time.Now()
			token := makeToken(start.Add(5 * time.Minute))
			r := &countingRefresher{mint: func() (string, error) { return token, nil }}
			c := newTestCredential(t, CommunicationTokenCredentialOptions{Token: token, Refresher: r.refresh, RefreshProactively: true})
			if next, _ := nextTimer(c); !next.Equal(start.Add(150 * time.Second)) {
				t.Fatalf("first timer at %v, want 150 s", next.Sub(start))
			}
			sleep(150 * time.Second)
			mustGetToken(t, c)
			wantCalls(t, r, 1, "first milestone")
			if next, _ := nextTimer(c); !next.Equal(start.Add(225 * time.Second)) {
				t.Fatalf("second timer at %v, want 225 s", next.Sub(start))
			}
		})
	})
}

// Python test_proactive_refresher_should_be_called_after_specified_time
// and .NET CurrentTokenExpiringSoon_TokenRefreshed: with RefreshProactively,
// a GetToken that finds the token inside the 10-minute window refreshes it
// before returning, before the timer (due at half the remaining lifetime)
// has fired. Without it, the JS rule returns the valid token.
func TestProactiveRefresherShouldBeCalledAfterSpecifiedTime(t *testing.T) {
	for _, proactive := range []bool{true, false} {
		t.Run(fmt.Sprint("proactive=", proactive), func(t *testing.T) {
			inBubble(t, func(t *testing.T) {
				initial := makeToken(time.Now().Add(5 * time.Minute))
				fresh := makeToken(time.Now().Add(2 * time.Hour))
				r := &countingRefresher{mint: func() (string, error) { return fresh, nil }}
				c := newTestCredential(t, CommunicationTokenCredentialOptions{Token: initial, Refresher: r.refresh, RefreshProactively: proactive})
				got := mustGetToken(t, c)
				if proactive {
					if got.Token != fresh {
						t.Fatal("a token inside the window was returned")
					}
					wantCalls(t, r, 1, "GetToken")
					return
				}
				if got.Token != initial {
					t.Fatal("the valid token was replaced without RefreshProactively")
				}
				wantCalls(t, r, 0, "GetToken")
			})
		})
	}
}

// Python test_proactive_refresher_should_not_be_called_before_specified_time,
// test_refresher_should_not_be_called_when_token_still_valid; Java
// fresherShouldNotBeCalledBeforeExpiringTime and
// shouldNotCallRefresherWhenTokenStillValid.
func TestRefresherShouldNotBeCalledWhenTokenStillValid(t *testing.T) {
	for _, proactive := range []bool{true, false} {
		t.Run(fmt.Sprint("proactive=", proactive), func(t *testing.T) {
			inBubble(t, func(t *testing.T) {
				token := makeToken(time.Now().Add(15 * time.Minute))
				r := validFor(10 * time.Minute)
				c := newTestCredential(t, CommunicationTokenCredentialOptions{Token: token, Refresher: r.refresh, RefreshProactively: proactive})
				for range 10 {
					if got := mustGetToken(t, c); got.Token != token {
						t.Fatal("valid token replaced")
					}
				}
				sleep(4 * time.Minute)
				mustGetToken(t, c)
				wantCalls(t, r, 0, "4 minutes")
			})
		})
	}
}

// Java shouldNotModifyTokenWhenRefresherThrows: after a failed proactive
// refresh the token is still returned while it is valid. GetToken tries the
// refresh again (.NET and Python), and once the token has less than .NET's
// 2-minute on-demand margin left it returns the error instead.
func TestShouldNotModifyTokenWhenRefresherThrows(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		errOffline := errors.New("lost internet connection")
		r := &countingRefresher{mint: func() (string, error) { return "", errOffline }}
		token := makeToken(time.Now().Add(601 * time.Second))
		c := newTestCredential(t, CommunicationTokenCredentialOptions{Token: token, Refresher: r.refresh, RefreshProactively: true})
		sleep(time.Second)
		wantCalls(t, r, 1, "the proactive refresh")
		if got := mustGetToken(t, c); got.Token != token {
			t.Fatal("the valid token was not returned after a failed refresh")
		}
		wantCalls(t, r, 2, "GetToken inside the window")

		sleep(8 * time.Minute) // 2 minutes left
		if got := mustGetToken(t, c); got.Token != token {
			t.Fatal("token with 2 minutes left not returned")
		}
		sleep(time.Second)
		if _, err := c.GetToken(context.Background()); !errors.Is(err, errOffline) {
			t.Fatalf("GetToken with under 2 minutes left: %v, want the refresher's error", err)
		}
	})
}

// A failed proactive refresh is retried at half the remaining lifetime
// ("with increasing frequency until it succeeds", JS CHANGELOG 2.0.0), and
// a failure once the token has expired is left to GetToken.
func TestProactiveRefreshRetriesAfterFailure(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		start := time.Now()
		var fail atomic.Bool
		fail.Store(true)
		r := &countingRefresher{mint: func() (string, error) {
			if fail.Load() {
				return "", errors.New("service unavailable")
			}
			return makeToken(time.Now().Add(time.Hour)), nil
		}}
		c := newTestCredential(t, CommunicationTokenCredentialOptions{
			Token: makeToken(start.Add(20 * time.Minute)), Refresher: r.refresh, RefreshProactively: true,
		})
		sleep(10 * time.Minute)
		wantCalls(t, r, 1, "minute 10")
		if next, ok := nextTimer(c); !ok || !next.Equal(start.Add(15*time.Minute)) {
			t.Fatalf("after a failure at minute 10: next at %v %v; want a retry at minute 15", next, ok)
		}
		fail.Store(false)
		sleep(5 * time.Minute)
		wantCalls(t, r, 2, "minute 15")
		if got := mustGetToken(t, c); !got.ExpiresOn.Equal(start.Add(75 * time.Minute)) {
			t.Fatalf("after the retry the token expires %v", got.ExpiresOn)
		}

		// Failing from the window to past expiry: the back-off ends, no
		// timer is left, and GetToken refreshes on demand.
		fail.Store(true)
		sleep(2 * time.Hour)
		if _, ok := nextTimer(c); ok {
			t.Fatal("a timer is still armed for an expired token after failures")
		}
		calls := r.count()
		fail.Store(false)
		if got := mustGetToken(t, c); r.count() != calls+1 || !got.ExpiresOn.After(time.Now()) {
			t.Fatal("GetToken did not refresh on demand")
		}
		if _, ok := nextTimer(c); !ok {
			t.Fatal("an on-demand refresh did not re-arm proactive refreshing")
		}
	})
}

// A timer that fires while an on-demand refresh runs joins it instead of
// starting another, and a timer superseded by a reschedule does nothing.
func TestProactiveTimerJoinsRunningRefresh(t *testing.T) {
	inBubble(t, func(t *testing.T) {
		r := newBlockingRefresher(true)
		exp := time.Now().Add(5 * time.Minute)
		c := newTestCredential(t, CommunicationTokenCredentialOptions{Token: makeToken(exp), Refresher: r.refresh, RefreshProactively: true})
		// Inside the window: GetToken refreshes on demand at once, and the
		// timer, due at half the remaining lifetime, finds it running.
		res := getAsync(context.Background(), c)
		<-r.entered
		sleep(3 * time.Minute)
		if _, ok := nextTimer(c); ok {
			t.Fatal("the timer that fired during the refresh is still armed")
		}
		fresh := time.Now().Add(time.Hour)
		r.release <- refresherAnswer{token: makeToken(fresh)}
		if got := <-res; got.err != nil || !got.tok.ExpiresOn.Equal(fresh) {
			t.Fatalf("GetToken = %v, %v", got.tok, got.err)
		}
		wantCalls(t, r, 1, "end")
		if next, ok := nextTimer(c); !ok || !next.Equal(fresh.Add(-10*time.Minute)) {
			t.Fatalf("next refresh at %v, %v; want 10 minutes before the new expiry", next, ok)
		}

		// The race time.Timer.Stop can lose: the old timer's function runs
		// after a newer one was armed.
		c.mu.Lock()
		stale := c.timerGen - 1
		c.wg.Add(1)
		c.mu.Unlock()
		c.onTimer(stale)
		wantCalls(t, r, 1, "a stale timer")
	})
}

// TestRealClockProactiveRefresh runs one proactive refresh on real timers,
// outside any bubble.
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
	case <-time.After(30 * time.Second):
		t.Fatal("no proactive refresh")
	}
	deadline := time.Now().Add(30 * time.Second)
	for mustGetToken(t, c).Token != want {
		if time.Now().After(deadline) {
			t.Fatal("refreshed token not stored")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestCredentialDoesNotShowToken(t *testing.T) {
	t.Parallel()
	token := makeToken(time.Date(2025, 7, 1, 13, 0, 0, 0, time.UTC))
	o := CommunicationTokenCredentialOptions{Token: token, Refresher: func(context.Context) (string, error) { return token, nil }, UndecodableTokenExpiresIn: time.Hour}
	c := newTestCredential(t, o)
	out := fmt.Sprintf("%v %+v %#v %s %v %+v %#v %s", c, c, c, c, o, o, o, o)
	if strings.Contains(out, token) || strings.Contains(out, strings.Split(token, ".")[1]) {
		t.Fatalf("formatted credential shows the token: %s", out)
	}
	if !strings.Contains(out, "REDACTED") || !strings.Contains(out, "2025-07-01T13:00:00Z") || !strings.Contains(out, "UndecodableTokenExpiresIn: 1h0m0s") {
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

// BenchmarkCredentialGetToken measures GetToken on a valid token, the path
// every Chat or Calling request takes, from many goroutines at once.
func BenchmarkCredentialGetToken(b *testing.B) {
	for _, proactive := range []bool{false, true} {
		b.Run(fmt.Sprint("proactive=", proactive), func(b *testing.B) {
			c, err := NewCommunicationTokenCredential(CommunicationTokenCredentialOptions{
				Token:              makeToken(time.Now().Add(time.Hour)),
				Refresher:          func(context.Context) (string, error) { return sampleToken, nil },
				RefreshProactively: proactive,
			})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			ctx := context.Background()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := c.GetToken(ctx); err != nil {
						b.Error(err)
					}
				}
			})
		})
	}
}
