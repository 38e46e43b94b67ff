// Package hmacauth holds the HMAC-SHA256 request-signing rules of Azure
// Communication Services, shared by the client's auth policy and the emulator's
// verifier so that the two can never drift apart.
//
// The string to sign is
//
//	METHOD + "\n" + RequestURI + "\n" + x-ms-date + ";" + host + ";" + x-ms-content-sha256
//
// where host is the Host header actually sent (a scheme's default port
// dropped) and x-ms-content-sha256 is base64(SHA-256(body)), the empty body
// included. The signature is base64(HMAC-SHA256(key, stringToSign)) with the
// base64-decoded access key.
package hmacauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash"
	"io"
	"net/url"
	"strings"
	"sync"
)

const (
	// SignedHeaders is the fixed list of headers the signature covers, in order.
	SignedHeaders = "x-ms-date;host;x-ms-content-sha256"
	// Scheme is the authorization scheme name.
	Scheme = "HMAC-SHA256"
	// AuthorizationPrefix is everything in the Authorization header before the signature.
	AuthorizationPrefix = Scheme + " SignedHeaders=" + SignedHeaders + "&Signature="
	// EmptyContentHash is base64(SHA-256("")).
	EmptyContentHash = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
	// DateHeader and ContentHashHeader are the names of the signed headers.
	DateHeader        = "x-ms-date"
	ContentHashHeader = "x-ms-content-sha256"
)

// Key is a decoded access key with a pool of keyed HMAC states, so that
// signing does not re-derive the HMAC pads on every request.
// It is safe for concurrent use.
type Key struct {
	pool sync.Pool
}

type signState struct {
	mac hash.Hash
	buf []byte
	sum [sha256.Size]byte
}

// NewKey returns a Key for the raw (already base64-decoded) key bytes.
// The bytes are copied.
func NewKey(raw []byte) *Key {
	k := append([]byte(nil), raw...)
	key := &Key{}
	key.pool.New = func() any {
		return &signState{mac: hmac.New(sha256.New, k), buf: make([]byte, 0, 512)}
	}
	return key
}

// String never reveals the key.
func (*Key) String() string { return "hmacauth.Key(REDACTED)" }

// GoString never reveals the key.
func (*Key) GoString() string { return "hmacauth.Key(REDACTED)" }

// Authorization returns the whole Authorization header value for the request
// described by its arguments. The request URI is escapedPath, then "?" and
// rawQuery when rawQuery is not empty; they are passed apart so that it is
// never built. (For a URL with an empty query but a trailing "?", pass the
// "?" as the end of escapedPath.)
func (k *Key) Authorization(method, escapedPath, rawQuery, date, host, contentHash string) string {
	st := k.pool.Get().(*signState)
	if escapedPath == "" {
		escapedPath = "/"
	}
	sum := st.sign(method, escapedPath, rawQuery, date, host, contentHash)
	n := base64.StdEncoding.EncodedLen(len(sum))
	st.buf = append(st.buf[:0], AuthorizationPrefix...)
	st.buf = st.buf[:len(AuthorizationPrefix)+n]
	base64.StdEncoding.Encode(st.buf[len(AuthorizationPrefix):], sum)
	out := string(st.buf)
	k.pool.Put(st)
	return out
}

// Signature returns base64(HMAC-SHA256(key, stringToSign)) for the request
// described by its arguments.
func (k *Key) Signature(method, requestURI, date, host, contentHash string) string {
	st := k.pool.Get().(*signState)
	// The URI is signed verbatim, a trailing "?" included.
	out := base64.StdEncoding.EncodeToString(st.sign(method, requestURI, "", date, host, contentHash))
	k.pool.Put(st)
	return out
}

// MAC returns base64(HMAC-SHA256(key, s)) for an arbitrary string.
func (k *Key) MAC(s string) string {
	st := k.pool.Get().(*signState)
	st.mac.Reset()
	io.WriteString(st.mac, s)
	out := base64.StdEncoding.EncodeToString(st.mac.Sum(st.sum[:0]))
	k.pool.Put(st)
	return out
}

// sign returns the raw MAC in st.sum; it is valid until st is reused.
func (st *signState) sign(method, path, query, date, host, contentHash string) []byte {
	b := st.buf[:0]
	b = append(b, method...)
	b = append(b, '\n')
	b = append(b, path...)
	if query != "" {
		b = append(b, '?')
		b = append(b, query...)
	}
	b = append(b, '\n')
	b = append(b, date...)
	b = append(b, ';')
	b = append(b, host...)
	b = append(b, ';')
	b = append(b, contentHash...)
	st.mac.Reset()
	st.mac.Write(b)
	st.buf = b
	return st.mac.Sum(st.sum[:0])
}

// StringToSign returns the string the signature covers. It exists for tests
// and diagnostics; signing does not allocate it.
func StringToSign(method, requestURI, date, host, contentHash string) string {
	return method + "\n" + requestURI + "\n" + date + ";" + host + ";" + contentHash
}

// ContentHash returns base64(SHA-256(body)).
func ContentHash(body []byte) string {
	if len(body) == 0 {
		return EmptyContentHash
	}
	sum := sha256.Sum256(body)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// ContentHashMatches reports whether claimed is ContentHash(body), without
// allocating (the emulator checks it on every signed request).
func ContentHashMatches(body []byte, claimed string) bool {
	sum := sha256.Sum256(body)
	var b64 [44]byte // base64 of 32 bytes
	base64.StdEncoding.Encode(b64[:], sum[:])
	return string(b64[:]) == claimed
}

var hasherPool = sync.Pool{New: func() any { return &hashState{h: sha256.New(), buf: make([]byte, 4096)} }}

type hashState struct {
	h   hash.Hash
	buf []byte
	sum [sha256.Size]byte
}

// HashReader returns base64(SHA-256(everything r yields)). A nil r is the empty body.
func HashReader(r io.Reader) (string, error) {
	if r == nil {
		return EmptyContentHash, nil
	}
	st := hasherPool.Get().(*hashState)
	defer hasherPool.Put(st)
	st.h.Reset()
	n, err := io.CopyBuffer(st.h, onlyReader{r}, st.buf)
	if err != nil {
		return "", err
	}
	if n == 0 {
		return EmptyContentHash, nil
	}
	return base64.StdEncoding.EncodeToString(st.h.Sum(st.sum[:0])), nil
}

// onlyReader hides WriterTo/ReaderFrom so that io.CopyBuffer uses our buffer.
type onlyReader struct{ io.Reader }

// SignedHost returns the host to sign and send for u: u.Host with the
// scheme's default port (80 for http, 443 for https) dropped.
func SignedHost(u *url.URL) string {
	host := u.Host
	i := strings.LastIndexByte(host, ':')
	if i < 0 || strings.HasSuffix(host, "]") {
		return host
	}
	port := host[i+1:]
	if (port == "443" && strings.EqualFold(u.Scheme, "https")) || (port == "80" && strings.EqualFold(u.Scheme, "http")) || port == "" {
		return host[:i]
	}
	return host
}

// ErrMalformedAuthorization is returned by ParseAuthorization.
var ErrMalformedAuthorization = errors.New("authorization header is not of the form 'HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=<base64>'")

// ParseAuthorization returns the signature of an HMAC-SHA256 Authorization
// header value. The scheme name is matched case-insensitively and the
// signed-header list must be exactly SignedHeaders.
func ParseAuthorization(v string) (signature string, err error) {
	scheme, rest, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, Scheme) {
		return "", ErrMalformedAuthorization
	}
	rest = strings.TrimSpace(rest)
	var signed string
	for part := range strings.SplitSeq(rest, "&") {
		name, val, ok := strings.Cut(part, "=")
		if !ok {
			return "", ErrMalformedAuthorization
		}
		switch strings.ToLower(name) {
		case "signedheaders":
			signed = val
		case "signature":
			signature = val
		default:
			return "", ErrMalformedAuthorization
		}
	}
	if !strings.EqualFold(signed, SignedHeaders) || signature == "" {
		return "", ErrMalformedAuthorization
	}
	return signature, nil
}
