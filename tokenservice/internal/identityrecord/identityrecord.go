// Package identityrecord checks what the identity stores (redisstore,
// sqlstore) keep: the caller key and the ACS user ID recorded for it. Both
// stores refuse the same inputs with the same words, and both treat a stored
// value that is not an ACS user ID as a corrupt record. Wrap words their
// server errors alike.
package identityrecord

import (
	"errors"
	"fmt"
	"strings"
)

// MaxCallerLen is the longest caller key a store accepts, in bytes.
const MaxCallerLen = 256

// MaxIDLen is the longest ACS user ID a store accepts, in bytes: far more
// than the 8:acs:<GUID>_<GUID> form (79 bytes) the service issues.
const MaxIDLen = 256

// maxUniqueLen bounds the part after the resource GUID.
const maxUniqueLen = 128

// ErrInvalidCaller is wrapped by every error CheckCaller returns.
var ErrInvalidCaller = errors.New("invalid caller key")

// ErrInvalidID is wrapped by every error CheckID returns.
var ErrInvalidID = errors.New("invalid ACS user ID")

// CheckCaller reports why caller is not a key a store accepts: it must be
// 1 to MaxCallerLen bytes of printable ASCII (0x20 to 0x7e). The error
// never quotes a long key whole.
func CheckCaller(caller string) error {
	if caller == "" {
		return fmt.Errorf("%w: it is empty", ErrInvalidCaller)
	}
	if len(caller) > MaxCallerLen {
		return fmt.Errorf("%w: %q is %d bytes; at most %d", ErrInvalidCaller, Short(caller), len(caller), MaxCallerLen)
	}
	for i := 0; i < len(caller); i++ {
		if c := caller[i]; c < 0x20 || c > 0x7e {
			return fmt.Errorf("%w: byte %d is 0x%02x, not printable ASCII", ErrInvalidCaller, i, c)
		}
	}
	return nil
}

// acsPrefixes are the raw-ID prefixes of ACS users, by cloud (public, US
// DoD, US GCC High), as in the SDKs' identifier rules.
var acsPrefixes = [...]string{"8:acs:", "8:dod-acs:", "8:gcch-acs:"}

// CheckID reports why id is not the raw ID of an ACS communication user as
// the Identity service issues it: "8:acs:" (or "8:dod-acs:", "8:gcch-acs:"),
// the resource's GUID, "_", and the identity's unique part (1 to 128
// letters, digits and hyphens; a GUID on the service and the emulator).
// Teams extension users (resource_tenant_user) and other identifier kinds
// are refused: a store records only identities that the Identity API
// creates. The error describes the fault without quoting id.
func CheckID(id string) error {
	if id == "" {
		return fmt.Errorf("%w: it is empty", ErrInvalidID)
	}
	if len(id) > MaxIDLen {
		return fmt.Errorf("%w: it is %d bytes; at most %d", ErrInvalidID, len(id), MaxIDLen)
	}
	rest, ok := "", false
	for _, p := range acsPrefixes {
		if rest, ok = strings.CutPrefix(id, p); ok {
			break
		}
	}
	if !ok {
		return fmt.Errorf("%w: it does not start with 8:acs:, 8:dod-acs: or 8:gcch-acs: (an ACS user's prefix)", ErrInvalidID)
	}
	resource, unique, ok := strings.Cut(rest, "_")
	if !ok {
		return fmt.Errorf("%w: it has no _ between the resource and the identity", ErrInvalidID)
	}
	if !isGUID(resource) {
		return fmt.Errorf("%w: the resource part is not a GUID", ErrInvalidID)
	}
	if unique == "" || len(unique) > maxUniqueLen {
		return fmt.Errorf("%w: the identity part is %d bytes; it must be 1 to %d", ErrInvalidID, len(unique), maxUniqueLen)
	}
	for i := 0; i < len(unique); i++ {
		c := unique[i]
		if c == '_' {
			return fmt.Errorf("%w: it has more than one _ (a Teams extension user or another kind of identifier)", ErrInvalidID)
		}
		if !(c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return fmt.Errorf("%w: the identity part has a character other than letters, digits and hyphens", ErrInvalidID)
		}
	}
	return nil
}

// isGUID reports whether s is 8-4-4-4-12 hexadecimal digits.
func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// shortLen is how much of a caller key Short keeps.
const shortLen = 40

// Short returns caller for an error message: whole when it is short, else
// its first bytes and "...". Callers that reach a store are printable
// ASCII, so the cut never splits a character; anything else is quoted by
// the %q that prints it.
func Short(caller string) string {
	if len(caller) <= shortLen {
		return caller
	}
	return caller[:shortLen] + "..."
}
