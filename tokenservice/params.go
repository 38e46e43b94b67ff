package tokenservice

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/acsgo/acsidentity"
)

// TokenPolicy says which tokens callers may ask for. The zero value allows
// every scope, any lifetime ACS allows, and issues voip tokens of ACS's
// longest lifetime (24 hours) to a caller who names neither.
type TokenPolicy struct {
	// AllowedScopes are the scopes callers may ask for. Default: every
	// scope of acsidentity.PossibleTokenScopeValues.
	AllowedScopes []acsidentity.TokenScope
	// DefaultScopes are issued when the caller names none. Default:
	// voip, the least a Calling client needs.
	DefaultScopes []acsidentity.TokenScope
	// MinLifetime and MaxLifetime bound the lifetime (expiresInMinutes) a
	// caller may ask for, in whole minutes. Default: ACS's own range, 60
	// minutes to 24 hours. A caller who asks for none gets MaxLifetime.
	MinLifetime, MaxLifetime time.Duration
}

// ACS's own range of token lifetimes.
const (
	minACSLifetime = 60 * time.Minute
	maxACSLifetime = 24 * time.Hour
)

// tokenRules is a checked TokenPolicy, and how much body a request may
// have.
type tokenRules struct {
	scopes      []acsidentity.TokenScope
	defaults    []acsidentity.TokenScope
	defaultList string // "voip": the defaults, for messages
	minMinutes  int
	maxMinutes  int
	lifetime    time.Duration // when the caller asks for none; 0: ACS's default
	maxBody     int64
}

// newTokenRules checks p.
func newTokenRules(p TokenPolicy, maxBody int64) (*tokenRules, error) {
	t := &tokenRules{maxBody: maxBody}
	t.scopes = slices.Clone(p.AllowedScopes)
	if len(t.scopes) == 0 {
		t.scopes = acsidentity.PossibleTokenScopeValues()
	}
	t.defaults = slices.Clone(p.DefaultScopes)
	if len(t.defaults) == 0 {
		t.defaults = []acsidentity.TokenScope{acsidentity.TokenScopeVoIP}
	}
	names := make([]string, len(t.defaults))
	for i, sc := range t.defaults {
		if !slices.Contains(t.scopes, sc) {
			return nil, fmt.Errorf("tokenservice: default scope %q is not one of AllowedScopes", sc)
		}
		names[i] = string(sc)
	}
	t.defaultList = strings.Join(names, ",")
	lo, hi := p.MinLifetime, p.MaxLifetime
	if lo == 0 {
		lo = minACSLifetime
	}
	if hi == 0 {
		hi = maxACSLifetime
	}
	if lo%time.Minute != 0 || hi%time.Minute != 0 || lo < minACSLifetime || hi > maxACSLifetime || lo > hi {
		return nil, fmt.Errorf("tokenservice: MinLifetime %v and MaxLifetime %v must be whole minutes from 60m to 24h, the shorter first", lo, hi)
	}
	t.minMinutes, t.maxMinutes = int(lo/time.Minute), int(hi/time.Minute)
	if hi < maxACSLifetime {
		t.lifetime = hi
	}
	return t, nil
}

// tokenRequest is the optional JSON body of POST {mount}/token.
type tokenRequest struct {
	Scopes           []string        `json:"scopes"`
	ExpiresInMinutes json.RawMessage `json:"expiresInMinutes"`
}

// tokenParams reads the scopes and lifetime from the query string and, for
// POST, the JSON body; each may be given in one place only.
func (t *tokenRules) tokenParams(r *http.Request) (scopes []acsidentity.TokenScope, lifetime time.Duration, err error) {
	q := readQuery(r.URL.RawQuery)
	names, scopesGiven, minutesText, lifetimeGiven := q.scopes, q.scopesGiven, q.minutes, q.minutesGiven
	if r.Method == http.MethodPost {
		var body tokenRequest
		present, err := t.readJSON(r, &body, false)
		if err != nil {
			return nil, 0, err
		}
		if present && body.Scopes != nil {
			if scopesGiven {
				return nil, 0, fail(http.StatusBadRequest, CodeInvalidRequest, "Give scopes in the query string or in the body, not both.")
			}
			scopesGiven, names = true, body.Scopes
		}
		if present && body.ExpiresInMinutes != nil {
			if lifetimeGiven {
				return nil, 0, fail(http.StatusBadRequest, CodeInvalidRequest, "Give expiresInMinutes in the query string or in the body, not both.")
			}
			lifetimeGiven, minutesText = true, string(body.ExpiresInMinutes)
		}
	}
	if !scopesGiven {
		scopes = t.defaults
	} else {
		for _, n := range names {
			sc := acsidentity.TokenScope(strings.TrimSpace(n))
			if !slices.Contains(t.scopes, sc) {
				return nil, 0, fail(http.StatusBadRequest, CodeInvalidScope, "Scopes must be "+t.scopeList()+".")
			}
			if !slices.Contains(scopes, sc) {
				scopes = append(scopes, sc)
			}
		}
		if len(scopes) == 0 {
			return nil, 0, fail(http.StatusBadRequest, CodeInvalidScope, "Name at least one scope, or leave scopes out for the default ("+t.defaultList+").")
		}
	}
	lifetime = t.lifetime
	if lifetimeGiven {
		m, err := strconv.Atoi(strings.TrimSpace(minutesText))
		if err != nil || m < t.minMinutes || m > t.maxMinutes {
			return nil, 0, fail(http.StatusBadRequest, CodeInvalidLifetime,
				fmt.Sprintf("expiresInMinutes must be a whole number from %d to %d.", t.minMinutes, t.maxMinutes))
		}
		lifetime = time.Duration(m) * time.Minute
	}
	return scopes, lifetime, nil
}

// tokenQuery is what the token endpoint reads from a query string.
type tokenQuery struct {
	scopes       []string // every scopes value, split at commas
	scopesGiven  bool
	minutes      string // the first expiresInMinutes value
	minutesGiven bool
}

// readQuery reads raw as url.ParseQuery does, without making its map:
// "code" (the Functions key) and anything else is ignored.
func readQuery(raw string) (q tokenQuery) {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if strings.Contains(pair, ";") {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		k, kerr := url.QueryUnescape(k)
		v, verr := url.QueryUnescape(v)
		switch {
		case kerr != nil || verr != nil:
		case k == "scopes":
			q.scopesGiven = true
			q.scopes = append(q.scopes, strings.Split(v, ",")...)
		case k == "expiresInMinutes" && !q.minutesGiven:
			q.minutesGiven, q.minutes = true, v
		}
	}
	return q
}

// scopeList names the allowed scopes for an error message: "chat, voip or
// voip.join".
func (t *tokenRules) scopeList() string {
	names := make([]string, len(t.scopes))
	for i, sc := range t.scopes {
		names[i] = string(sc)
	}
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// readJSON reads a JSON body of at most maxBody bytes into v, refusing
// unknown fields. present reports whether there was a body; without one
// and with required it is an error.
func (t *tokenRules) readJSON(r *http.Request, v any, required bool) (present bool, err error) {
	tooLarge := fail(http.StatusRequestEntityTooLarge, CodeRequestTooLarge, "The request body is too large.")
	if r.ContentLength > t.maxBody {
		return false, tooLarge
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, t.maxBody+1))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return false, tooLarge
		}
		return false, fail(http.StatusBadRequest, CodeInvalidRequest, "The request body could not be read.").because(err.Error())
	}
	if int64(len(body)) > t.maxBody {
		return false, tooLarge
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		if required {
			return false, fail(http.StatusBadRequest, CodeInvalidRequest, "A JSON body is required.")
		}
		return false, nil
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return false, fail(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, "The body must be JSON (Content-Type: application/json).")
	}
	d := json.NewDecoder(strings.NewReader(string(body)))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil || d.More() {
		if name, ok := strings.CutPrefix(fmt.Sprint(err), "json: unknown field "); ok {
			if name, uerr := strconv.Unquote(name); uerr == nil {
				return false, fail(http.StatusBadRequest, CodeInvalidRequest, fmt.Sprintf("The body has an unknown field %s; the accepted fields are %s.", quoteField(name), strings.Join(jsonFields(v), ", ")))
			}
		}
		return false, fail(http.StatusBadRequest, CodeInvalidRequest, "The body is not a JSON object of the accepted fields ("+strings.Join(jsonFields(v), ", ")+").")
	}
	return true, nil
}

// quoteField quotes a field name from the caller for an error message,
// shortened: the body may be up to MaxBodyBytes.
func quoteField(name string) string {
	const maxLen = 40
	if r := []rune(name); len(r) > maxLen {
		name = string(r[:maxLen]) + "…"
	}
	return strconv.Quote(name)
}

// jsonFields lists the JSON names of the fields of the struct v points to,
// quoted, for error messages.
func jsonFields(v any) []string {
	t := reflect.TypeOf(v).Elem()
	var names []string
	for f := range t.Fields() {
		if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name != "" && name != "-" {
			names = append(names, strconv.Quote(name))
		}
	}
	return names
}
