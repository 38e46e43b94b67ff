// Package httpfuzz holds what the fuzz targets of the emulator and of the
// trusted-service example share: telling which fuzzed header lines a real
// HTTP client could send, so that the targets test the handlers and not
// net/http's request parser.
package httpfuzz

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
)

// ValidFieldName reports whether s is an HTTP header field name (an RFC 9110 token).
func ValidFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// ValidFieldValue reports whether s may be sent as an HTTP header field value.
func ValidFieldValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// WriteHeaders writes the lines of headers ("Name: value", one a line) that
// a real client could send to b as HTTP/1.1 header lines. Lines that are not
// valid, and the framing headers the harness sets itself (Host,
// Content-Length, Transfer-Encoding, ...), are skipped.
func WriteHeaders(b *bytes.Buffer, headers string) {
	for line := range strings.SplitSeq(headers, "\n") {
		name, value, ok := strings.Cut(strings.TrimSuffix(line, "\r"), ":")
		if !ok || !ValidFieldName(name) || !ValidFieldValue(value) {
			continue
		}
		switch http.CanonicalHeaderKey(name) {
		case "Host", "Content-Length", "Transfer-Encoding", "Connection", "Trailer", "Te", "Expect", "Upgrade":
			continue
		}
		b.WriteString(name + ":" + value + "\r\n")
	}
}

// StrictJSON decodes one JSON value of b into v, refusing unknown fields and
// trailing data, so that a fuzz target can hold an answer to its exact shape.
func StrictJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("trailing data")
	}
	return nil
}
