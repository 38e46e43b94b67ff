package emulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/acsgo/acsidentity/internal/wire"
)

// call is the state of one ACS request.
type call struct {
	e       *Emulator
	w       http.ResponseWriter
	r       *http.Request
	op      *operation
	params  []string
	version string
	body    []byte
	bearer  *bearerClaims // set when the caller used an Entra ID token
	discard bool          // an after-commit fault answers instead of the handler
	created *createBody   // decoded early for throttling

	deadline readDeadliner // set when a read deadline bounds the body
	bodyHeld int64         // bytes of the body budget held until the call ends
}

// The service's two content types (recorded): success bodies name their
// charset, error bodies do not.
var (
	jsonContentType  = []string{"application/json; charset=utf-8"}
	errorContentType = []string{"application/json"}
)

// fail writes an ACS error response.
func (c *call) fail(status int, code, message, target string) {
	c.writeJSON(status, wire.ErrorResponse{Error: wire.ErrorDetail{Code: code, Message: message, Target: target}})
}

func (c *call) validation(target, message string) {
	c.fail(http.StatusBadRequest, "ValidationError", message, target)
}

func (c *call) writeJSON(status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"InternalServerError","message":"The emulator could not encode its response."}}`)
	}
	c.writeRaw(status, b)
}

func (c *call) writeRaw(status int, b []byte) {
	if c.discard {
		return
	}
	h := c.w.Header()
	if status >= http.StatusBadRequest {
		h["Content-Type"] = errorContentType
	} else {
		h["Content-Type"] = jsonContentType
	}
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	c.w.WriteHeader(status)
	c.w.Write(b)
}

func (c *call) noContent() {
	if c.discard {
		return
	}
	c.w.WriteHeader(http.StatusNoContent)
}

// queryValue returns the first value of a query parameter without building
// the whole url.Values map.
func queryValue(rawQuery, name string) (string, bool) {
	for part := range strings.SplitSeq(rawQuery, "&") {
		k, v, _ := strings.Cut(part, "=")
		if k != name {
			if strings.IndexByte(k, '%') < 0 && strings.IndexByte(k, '+') < 0 {
				continue
			}
			if u, err := queryUnescape(k); err != nil || u != name {
				continue
			}
		}
		u, err := queryUnescape(v)
		if err != nil {
			return v, true
		}
		return u, true
	}
	return "", false
}

func queryUnescape(s string) (string, error) {
	if strings.IndexByte(s, '%') < 0 && strings.IndexByte(s, '+') < 0 {
		return s, nil
	}
	return url.QueryUnescape(s)
}

// checkVersion validates api-version for the operation.
func (c *call) checkVersion() bool {
	v, ok := queryValue(c.r.URL.RawQuery, "api-version")
	if !ok || v == "" {
		c.fail(http.StatusBadRequest, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.", "")
		return false
	}
	if !wire.Known(v) {
		c.fail(http.StatusBadRequest, "UnsupportedApiVersion", fmt.Sprintf("The HTTP resource that matches the request URI '%s' does not support the API version '%s'.", c.requestURL(), v), "")
		return false
	}
	if !wire.Has(v, c.op.feature) {
		c.fail(http.StatusBadRequest, "UnsupportedApiVersion", fmt.Sprintf("The API version '%s' does not support the operation %s (%s); use one of: %s.", v, c.op.name, c.op.feature, strings.Join(wire.VersionsWith(c.op.feature), ", ")), "")
		return false
	}
	c.version = v
	return true
}

// requestURL is the absolute URL of the request, as the client addressed it.
func (c *call) requestURL() string {
	scheme := "http"
	if c.r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + c.r.Host + c.r.URL.RequestURI()
}

// readBody reads the request body within the size limit and checks its
// media type.
func (c *call) readBody() bool {
	r := c.r
	if r.Body != nil && r.Body != http.NoBody {
		buf, held, err := c.e.bodies.readAll(r.Body, r.ContentLength)
		c.bodyHeld = held
		if err != nil {
			c.bodyFailed(err, &c.e.bodies)
			return false
		}
		c.body = buf
	}
	if c.deadline != nil {
		// The body is in: a handler slower than the deadline (a slow
		// disk) must not be cut off.
		c.deadline.SetReadDeadline(time.Time{})
	}
	if len(bytes.TrimSpace(c.body)) == 0 {
		if c.op.required {
			c.validation("", "The request body is required.")
			return false
		}
		return true
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && c.op.body != "" {
		want := "application/json"
		if c.op.body == "merge-patch" {
			want = "application/merge-patch+json"
		}
		mt, _, _ := strings.Cut(ct, ";")
		if !strings.EqualFold(strings.TrimSpace(mt), want) {
			c.fail(http.StatusUnsupportedMediaType, "UnsupportedMediaType", fmt.Sprintf("The content type %q is not supported; use %s.", ct, want), "")
			return false
		}
	}
	return true
}

// decode unmarshals the body into v, answering 400 on failure. An empty
// body leaves v as it is.
func (c *call) decode(v any) bool {
	if len(bytes.TrimSpace(c.body)) == 0 {
		return true
	}
	// encoding/json would turn each invalid byte, and each escaped UTF-16
	// surrogate without its other half, into U+FFFD, so two different
	// custom IDs could name one identity: refuse instead.
	if !utf8.Valid(c.body) {
		c.validation("", "The request body is not valid UTF-8.")
		return false
	}
	if i := loneSurrogate(c.body); i >= 0 {
		c.validation("", fmt.Sprintf("The request body escapes a lone UTF-16 surrogate (%s at byte %d): a surrogate is half of a character, so the string is refused rather than read as U+FFFD.", c.body[i:i+6], i))
		return false
	}
	if err := json.Unmarshal(c.body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			c.validation(targetName(te.Field), fmt.Sprintf("The value for %s has the wrong JSON type (%s).", targetName(te.Field), te.Value))
			return false
		}
		c.validation("", "The request body is not valid JSON: "+err.Error())
		return false
	}
	return true
}

// loneSurrogate returns the offset of the first \uXXXX escape in the JSON
// text b that is a UTF-16 surrogate without its other half (a high one not
// followed at once by an escaped low one, or a low one not preceded by a
// high one), or -1 if there is none. Backslashes occur only in strings in
// valid JSON, so the scan needs no JSON state; invalid JSON is left to the
// decoder.
func loneSurrogate(b []byte) int {
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		r, ok := escapedRune(b, i)
		if !ok {
			i++ // \" \\ \n and the like: skip the escaped byte
			continue
		}
		switch {
		case utf16.IsSurrogate(r) && r >= 0xDC00: // low, with no high before it
			return i
		case utf16.IsSurrogate(r):
			low, ok := escapedRune(b, i+6)
			if !ok || low < 0xDC00 || low > 0xDFFF {
				return i
			}
			i += 11
		default:
			i += 5
		}
	}
	return -1
}

// escapedRune decodes the \uXXXX escape at b[i:], if there is one.
func escapedRune(b []byte, i int) (rune, bool) {
	if i+6 > len(b) || b[i] != '\\' || b[i+1] != 'u' {
		return 0, false
	}
	var r rune
	for _, h := range b[i+2 : i+6] {
		switch {
		case '0' <= h && h <= '9':
			r = r<<4 | rune(h-'0')
		case 'a' <= h && h <= 'f':
			r = r<<4 | rune(h-'a'+10)
		case 'A' <= h && h <= 'F':
			r = r<<4 | rune(h-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// targetName turns a JSON field name into the service's target form
// (expiresInMinutes -> ExpiresInMinutes).
func targetName(field string) string {
	if i := strings.LastIndexByte(field, '.'); i >= 0 {
		field = field[i+1:]
	}
	if field == "" {
		return field
	}
	return strings.ToUpper(field[:1]) + field[1:]
}

// strictUnmarshal decodes b, one JSON value, into v, refusing unknown
// fields.
func strictUnmarshal(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("more than one JSON value")
	}
	return nil
}
