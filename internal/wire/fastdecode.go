package wire

import (
	"bytes"
	"encoding/json"
)

// DecodeAccessToken decodes an issue-token answer. The service's answer,
// {"token":"<JWT>","expiresOn":"<date-time>"}, is read without reflection:
// a JWT and a date need no JSON escapes. Anything else — escapes, other
// fields, a repeated field, non-ASCII bytes, another shape — goes through
// encoding/json, so the result is always what json.Unmarshal gives.
//
// Why: this is the answer to nearly every call a trusted service makes, and
// json.Unmarshal of it takes about 4x the time (BenchmarkDecodeAccessToken:
// ~0.65 µs and 3 allocations against ~2.8 µs and 7). The reference is
// json.Unmarshal itself: FuzzDecodeAccessToken, whose seeds run with every
// go test, checks that both give the same result for any input.
func DecodeAccessToken(b []byte) (AccessToken, error) {
	var t AccessToken
	if p, ok := fastAccessToken(b, skipSpace(b, 0), &t); ok && skipSpace(b, p) == len(b) {
		return t, nil
	}
	t = AccessToken{}
	err := json.Unmarshal(b, &t)
	return t, err
}

// DecodeAccessTokenResult decodes a create-identity answer, the answer to
// every token a trusted service hands out:
// {"identity":{"id":...,"customId":...,"lastTokenIssuedAt":...},"accessToken":{"token":...,"expiresOn":...}}.
// Like DecodeAccessToken it reads the answer without reflection when every
// member is one of these with a plain string value (and each object's
// members appear once, in any order), and otherwise leaves it to
// encoding/json, so the result is always what json.Unmarshal gives
// (FuzzDecodeAccessTokenResult).
//
// Why: encoding/json took ~24 µs of a trusted service's CPU per token
// under load (issue 16); BenchmarkDecodeAccessTokenResult compares the two.
func DecodeAccessTokenResult(b []byte) (AccessTokenResult, error) {
	var r AccessTokenResult
	if p, ok := fastAccessTokenResult(b, skipSpace(b, 0), &r); ok && skipSpace(b, p) == len(b) {
		return r, nil
	}
	r = AccessTokenResult{}
	err := json.Unmarshal(b, &r)
	return r, err
}

func fastAccessTokenResult(b []byte, p int, r *AccessTokenResult) (int, bool) {
	var haveIdentity bool
	return members(b, p, func(key []byte, p int) (int, bool) {
		switch {
		case string(key) == "identity" && !haveIdentity:
			haveIdentity = true
			return fastIdentity(b, p, &r.Identity)
		case string(key) == "accessToken" && r.AccessToken == nil:
			r.AccessToken = new(AccessToken)
			return fastAccessToken(b, p, r.AccessToken)
		}
		return 0, false
	})
}

func fastIdentity(b []byte, p int, id *Identity) (int, bool) {
	var haveID, haveCustomID bool
	return members(b, p, func(key []byte, p int) (int, bool) {
		val, next, ok := plainString(b, p)
		switch {
		case !ok:
			return 0, false
		case string(key) == "id" && !haveID:
			haveID, id.ID = true, string(val)
		case string(key) == "customId" && !haveCustomID:
			haveCustomID, id.CustomID = true, string(val)
		case string(key) == "lastTokenIssuedAt" && id.LastTokenIssuedAt == nil:
			t, err := ParseTime(string(val))
			if err != nil {
				return 0, false
			}
			id.LastTokenIssuedAt = &Time{Time: t}
		default:
			return 0, false
		}
		return next, true
	})
}

// fastAccessToken reads the object at b[p] as {"token":"...","expiresOn":"..."}
// (either member may be missing, neither repeated; values plain strings)
// and returns the index after it. It reports false, leaving the rest to
// encoding/json, at the first byte that does not fit.
func fastAccessToken(b []byte, p int, t *AccessToken) (int, bool) {
	var haveToken, haveExpires bool
	return members(b, p, func(key []byte, p int) (int, bool) {
		val, next, ok := plainString(b, p)
		switch {
		case !ok:
			return 0, false
		case string(key) == "token" && !haveToken:
			haveToken, t.Token = true, string(val)
		case string(key) == "expiresOn" && !haveExpires:
			v, err := ParseTime(string(val))
			if err != nil {
				return 0, false
			}
			haveExpires, t.ExpiresOn.Time = true, v
		default:
			return 0, false
		}
		return next, true
	})
}

// members reads the JSON object at b[p], whose keys must be plain strings,
// calling value with each key and the index of its value; value reads the
// value and returns the index after it. members returns the index after
// the object, or false at the first byte that does not fit or when value
// reports false.
func members(b []byte, p int, value func(key []byte, p int) (int, bool)) (int, bool) {
	if p >= len(b) || b[p] != '{' {
		return 0, false
	}
	p = skipSpace(b, p+1)
	if p < len(b) && b[p] == '}' {
		return p + 1, true
	}
	for {
		key, next, ok := plainString(b, p)
		if !ok {
			return 0, false
		}
		p = skipSpace(b, next)
		if p >= len(b) || b[p] != ':' {
			return 0, false
		}
		if p, ok = value(key, skipSpace(b, p+1)); !ok {
			return 0, false
		}
		p = skipSpace(b, p)
		if p >= len(b) {
			return 0, false
		}
		switch b[p] {
		case ',':
			p = skipSpace(b, p+1)
		case '}':
			return p + 1, true
		default:
			return 0, false
		}
	}
}

// plainString reads a JSON string at b[p] that has no escapes and only
// printable ASCII, returning its contents and the index after it.
func plainString(b []byte, p int) (s []byte, next int, ok bool) {
	if p >= len(b) || b[p] != '"' {
		return nil, 0, false
	}
	end := bytes.IndexByte(b[p+1:], '"')
	if end < 0 {
		return nil, 0, false
	}
	s = b[p+1 : p+1+end]
	for _, c := range s {
		if c < 0x20 || c >= 0x7f || c == '\\' {
			return nil, 0, false
		}
	}
	return s, p + end + 2, true
}

func skipSpace(b []byte, p int) int {
	for p < len(b) && (b[p] == ' ' || b[p] == '\t' || b[p] == '\n' || b[p] == '\r') {
		p++
	}
	return p
}
