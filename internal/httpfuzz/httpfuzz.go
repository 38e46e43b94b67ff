// Package httpfuzz holds what the fuzz targets of the emulator and of the
// trusted-service example share: telling which fuzzed header lines a real
// HTTP client could send, so that the targets test the handlers and not
// net/http's request parser.
package httpfuzz

import "strings"

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
