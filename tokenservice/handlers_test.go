package tokenservice

import (
	"net/url"
	"slices"
	"strings"
	"testing"
)

// FuzzReadQuery: the token endpoint's query reader sees what url.ParseQuery
// (r.URL.Query) would.
func FuzzReadQuery(f *testing.F) {
	for _, s := range []string{"", "scopes=chat", "scopes=chat,voip&scopes=voip.join&expiresInMinutes=60&expiresInMinutes=90",
		"scopes", "scopes=&code=k", "scopes=chat%2Cvoip", "scopes=%zz&expiresInMinutes=61", "a;b=1&scopes=chat", "scopes=c+d", "&&scopes=chat&"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got := readQuery(raw)
		m, _ := url.ParseQuery(raw)
		var want tokenQuery
		_, want.scopesGiven = m["scopes"]
		for _, v := range m["scopes"] {
			want.scopes = append(want.scopes, strings.Split(v, ",")...)
		}
		if _, want.minutesGiven = m["expiresInMinutes"]; want.minutesGiven {
			want.minutes = m.Get("expiresInMinutes")
		}
		if !slices.Equal(got.scopes, want.scopes) || got.scopesGiven != want.scopesGiven || got.minutes != want.minutes || got.minutesGiven != want.minutesGiven {
			t.Fatalf("%q: %+v, url.ParseQuery gives %+v", raw, got, want)
		}
	})
}

func TestBounded(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{{"abc", 3, "abc"}, {"abcd", 3, "abc…"}, {"aé", 2, "a…"}, {"日本語", 4, "日…"}} {
		if got := bounded(c.in, c.n); got != c.want {
			t.Errorf("bounded(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}
