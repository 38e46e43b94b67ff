package main

// The web page (webapp/index.html) in a real browser: headless Chromium
// (Debian's chromium package; .ci/run installs it) driven over the DevTools
// protocol by chromedp. The page is served from its own loopback origin, as
// a web app's dev server would serve it, and calls the service across
// origins, so CORS is what a browser enforces, not what a test assumes.

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/acsgo/acsidentity/emulator"
)

// chromiumPath finds the browser. Without one the test is skipped, unless
// CI=true: CI installs Chromium, so there its absence is a failure.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no Chromium found (chromium, chromium-browser, google-chrome or $CHROMIUM), and CI=true: .ci/run installs Debian's chromium package")
	}
	t.Skip("no Chromium found: apt-get install chromium (or set CHROMIUM) to run the browser test")
	return ""
}

// newBrowser starts headless Chromium with the flags this machine needs
// (no sandbox as root, no background networking on a closed network) and a
// fresh profile, and returns a context for one tab.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	exe := chromiumPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx); err != nil { // starts the browser
		t.Fatalf("starting %s: %v", exe, err)
	}
	return bctx
}

// servePage serves webapp/index.html on a loopback origin of its own.
func servePage(t *testing.T) string {
	t.Helper()
	page, err := os.ReadFile("webapp/index.html")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(page)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// pageState is what the page shows.
type pageState struct {
	status, identity, first, scopes, expires, fetches, err string
}

func readPage(ctx context.Context) (pageState, error) {
	m, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](`(() => {
		const out = {};
		for (const id of ["status", "identity", "first-identity", "token-scopes", "expires", "fetches", "error"]) {
			out[id] = document.getElementById(id).textContent;
		}
		return out;
	})()`))
	return pageState{status: m["status"], identity: m["identity"], first: m["first-identity"], scopes: m["token-scopes"],
		expires: m["expires"], fetches: m["fetches"], err: m["error"]}, err
}

// waitPage polls the page until done says so (or the page shows an
// error), for up to two minutes: the machine may be loaded.
func waitPage(t *testing.T, ctx context.Context, what string, done func(pageState) bool) pageState {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		s, err := readPage(ctx)
		if err != nil {
			t.Fatalf("%s: reading the page: %v", what, err)
		}
		if done(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the page did not get there in 2 minutes; it shows %+v", what, s)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func fetched(n int) func(pageState) bool {
	return func(s pageState) bool {
		got, _ := strconv.Atoi(s.fetches)
		return got >= n || s.err != ""
	}
}

// startWithBearer opens url in a new tab, types the bearer token into the
// form (the page takes none from its URL) and presses "Get token".
func startWithBearer(t *testing.T, browser context.Context, url, bearer string) context.Context {
	t.Helper()
	tab, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	if err := chromedp.Do(tab,
		chromedp.Navigate(url),
		chromedp.SetValue(chromedp.ID("bearer"), bearer),
		chromedp.Click(chromedp.ID("start")),
	); err != nil {
		t.Fatal(err)
	}
	return tab
}

// pageURL is the page, pointed at service. refreshBefore is the page's
// proactive-refresh window in seconds: a window just under the token's 24
// hours makes the page refresh about 3 s after each fetch, so the test sees
// the refresh without waiting a day.
func pageURL(page, service string, extra url.Values) string {
	q := url.Values{"service": {service}, "scopes": {"chat,voip"}, "refreshBefore": {strconv.Itoa(24*3600 - 3)}}
	for k, v := range extra {
		q[k] = v
	}
	return page + "/?" + q.Encode()
}

// checkShown checks what the page shows for a token of identity, and that
// it refreshed: two fetches, the same identity both times.
func checkShown(t *testing.T, s pageState, identity string) {
	t.Helper()
	if s.err != "" || s.status != "ok" {
		t.Fatalf("the page shows status %q, error %q", s.status, s.err)
	}
	if s.identity != identity || s.first != identity {
		t.Errorf("the page shows identity %q (first %q), want %q for every fetch", s.identity, s.first, identity)
	}
	if s.scopes != "chat,voip" {
		t.Errorf("the page shows scopes %q, want chat,voip", s.scopes)
	}
	exp, err := time.Parse(time.RFC3339, strings.Fields(s.expires + " x")[0])
	if err != nil || exp.Before(time.Now().Add(23*time.Hour)) || exp.After(time.Now().Add(25*time.Hour)) {
		t.Errorf("the page shows expiry %q, want about 24 h from now", s.expires)
	}
}

// TestBrowserPage runs the page in headless Chromium against the service:
// a token for the right identity, refreshed before expiry for the same
// identity, with a caller ID (embedded emulator) and with a bearer token
// (OIDC); and a page on an origin the service does not allow is refused
// by the browser.
func TestBrowserPage(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a browser")
	}
	browser := newBrowser(t)
	page := servePage(t)

	t.Run("caller ID, embedded emulator, loopback origins allowed by default", func(t *testing.T) {
		h := launch(t, nil, "-addr", "127.0.0.1:0")
		m := h.waitLog(regexp.MustCompile(`msg=listening addr=(127\.0\.0\.1:\d+)`))
		h.base = "http://" + m[1]
		tab, cancel := chromedp.NewContext(browser)
		defer cancel()
		if err := chromedp.Do(tab, chromedp.Navigate(pageURL(page, h.base, url.Values{"callerId": {"browser-alice"}, "autostart": {"1"}}))); err != nil {
			t.Fatal(err)
		}
		s := waitPage(t, tab, "two fetches", fetched(2))
		// The identity the service keeps for this caller, asked without a
		// browser.
		want := wantToken(t, "direct", h.send(hostRequest{method: "GET", path: "/api/token", header: map[string]string{devCallerHeader: "browser-alice"}}), true)
		// The page's fetches send X-Caller-Id, so the browser asked the
		// CORS layer first (preflights do not reach the Service's log).
		checkShown(t, s, want.User.CommunicationUserID)
	})

	t.Run("an encrypted token: the answer's user and expiresOn", func(t *testing.T) {
		// ACS may hand out tokens that are not JWTs; the page must not
		// read them. The emulator's opaque tokens (five-part JWEs) stand
		// in for them, behind the service itself.
		em, err := emulator.Start(&emulator.Options{OpaqueTokens: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { em.Close() })
		h := startAsFunctionsHost(t, map[string]string{
			envConnectionString: em.ConnectionString(),
			envAllowAnonymous:   "true",
			envCORSOrigins:      page,
			envLogFormat:        "text",
		})
		tab, cancel := chromedp.NewContext(browser)
		defer cancel()
		if err := chromedp.Do(tab, chromedp.Navigate(pageURL(page, h.base, url.Values{"autostart": {"1"}}))); err != nil {
			t.Fatal(err)
		}
		s := waitPage(t, tab, "two fetches", fetched(2))
		if s.err != "" || s.status != "ok" || !strings.HasPrefix(s.identity, "8:acs:") || !strings.Contains(s.scopes, "not a JWT") {
			t.Fatalf("the page shows %+v", s)
		}
		// The page shows the answer's expiresOn, and the time it read from
		// it: "<ISO time, ms> (expiresOn <the answer's>)".
		m := regexp.MustCompile(`^(\S+) \(expiresOn (\S+)\)$`).FindStringSubmatch(s.expires)
		if m == nil {
			t.Fatalf("the page shows expiry %q, want it with the answer's expiresOn", s.expires)
		}
		exp, err1 := time.Parse(time.RFC3339, m[1])
		on, err2 := time.Parse(time.RFC3339Nano, m[2])
		if err1 != nil || err2 != nil || !exp.Equal(on.Truncate(time.Millisecond)) ||
			exp.Before(time.Now().Add(23*time.Hour)) || exp.After(time.Now().Add(25*time.Hour)) {
			t.Errorf("the page shows expiry %q, want the answer's expiresOn, about 24 h from now", s.expires)
		}
		// The service answered with an encrypted token indeed.
		r := h.send(hostRequest{method: "GET", path: "/api/token"})
		tok := wantToken(t, "direct", r, true)
		if strings.Count(tok.Token, ".") != 4 {
			t.Errorf("the service's token has %d parts, want the emulator's five-part encrypted token", strings.Count(tok.Token, ".")+1)
		}
	})

	// One service for the bearer and the refused origin: OIDC against a
	// test identity provider, CORS for the page's origin only.
	em, err := emulator.Start(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { em.Close() })
	signing := newTestKey(t, "key-1", "ES256")
	idp := newIDP(t, signing)
	h := startAsFunctionsHost(t, map[string]string{
		envConnectionString: em.ConnectionString(),
		envOIDCIssuer:       testIssuer,
		envOIDCAudience:     testAudience,
		envOIDCJWKSURL:      idp.JWKSURL(),
		envCORSOrigins:      page,
		envLogFormat:        "text",
	})
	bearer := signing.Sign(t, goodClaims(time.Now(), "browser-bob"), nil)

	t.Run("bearer token, listed origin", func(t *testing.T) {
		tab := startWithBearer(t, browser, pageURL(page, h.base, nil), bearer)
		s := waitPage(t, tab, "two fetches", fetched(2))
		want := wantToken(t, "direct", h.send(hostRequest{method: "GET", path: "/api/token", header: map[string]string{"Authorization": "Bearer " + bearer}}), true)
		checkShown(t, s, want.User.CommunicationUserID)
	})

	t.Run("origin not allowed", func(t *testing.T) {
		other := servePage(t) // another port: another origin
		before := strings.Count(h.logs.String(), "msg=request")
		tab := startWithBearer(t, browser, pageURL(other, h.base, nil), bearer)
		s := waitPage(t, tab, "an error", func(s pageState) bool { return s.err != "" || s.fetches != "0" })
		if s.fetches != "0" || s.identity != "" || !strings.Contains(s.err, "the browser refused") {
			t.Fatalf("the page on %s shows %+v, want the browser's refusal and no token", other, s)
		}
		if after := strings.Count(h.logs.String(), "msg=request"); after != before {
			t.Errorf("%d requests from the refused origin reached the service:\n%s", after-before, h.logs.String())
		}
	})
}
