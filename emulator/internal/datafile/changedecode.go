package datafile

import (
	"bytes"
	"time"
	"unicode/utf8"
)

// decodeChange decodes a journal line's change, refusing unknown fields.
// Nearly every line of a long journal is one identity's new state, which
// decodeIdentityChange reads several times faster than encoding/json;
// anything else goes to encoding/json.
func decodeChange(raw []byte, ch *Change) error {
	if decodeIdentityChange(raw, ch) {
		return nil
	}
	*ch = Change{}
	return strictUnmarshal(raw, ch)
}

// decodeIdentityChange decodes raw if it is exactly what json.Marshal
// writes for a change of one identity, {"tokenSeq":N,"identity":{...}},
// with its fields in order and no string that needs unescaping, and
// reports whether it did. It accepts nothing that encoding/json would
// decode differently or refuse, so the two agree wherever it says yes.
func decodeIdentityChange(raw []byte, ch *Change) bool {
	d := fastDecoder{b: raw}
	var it Identity
	ok := d.lit(`{"tokenSeq":`) && d.uint(&ch.TokenSeq) &&
		d.lit(`,"identity":{"id":`) && d.str(&it.ID) &&
		d.optStr(`,"customId":`, &it.CustomID) &&
		d.lit(`,"created":`) && d.time(&it.Created) &&
		d.optTime(`,"lastTokenIssuedAt":`, &it.LastIssued) &&
		d.optTime(`,"revokedAt":`, &it.RevokedAt) &&
		d.optUint(`,"revokedSeq":`, &it.RevokedSeq) &&
		d.optTrue(`,"deleted":`, &it.Deleted) &&
		d.optTime(`,"deletedAt":`, &it.DeletedAt) &&
		d.lit(`}}`) && len(d.b) == 0
	if !ok {
		return false
	}
	ch.Identity = &it
	return true
}

// fastDecoder reads the canonical JSON of a change from the front of b.
type fastDecoder struct{ b []byte }

func (d *fastDecoder) lit(s string) bool {
	if !bytes.HasPrefix(d.b, []byte(s)) {
		return false
	}
	d.b = d.b[len(s):]
	return true
}

// uint reads a decimal number without sign, fraction, exponent or
// leading zero that fits in a uint64.
func (d *fastDecoder) uint(v *uint64) bool {
	i, n := 0, uint64(0)
	for i < len(d.b) && d.b[i] >= '0' && d.b[i] <= '9' {
		if i == 1 && d.b[0] == '0' || i == 19 {
			return false // a leading zero, or 20 digits that may overflow: leave it to encoding/json
		}
		n = n*10 + uint64(d.b[i]-'0')
		i++
	}
	if i == 0 {
		return false
	}
	d.b, *v = d.b[i:], n
	return true
}

// str reads a string with no escape, no control character and valid
// UTF-8 (what json.Marshal writes for such a string).
func (d *fastDecoder) str(v *string) bool {
	if len(d.b) == 0 || d.b[0] != '"' {
		return false
	}
	end := bytes.IndexByte(d.b[1:], '"')
	if end < 0 {
		return false
	}
	s := d.b[1 : 1+end]
	for _, c := range s {
		if c < 0x20 || c == '\\' {
			return false
		}
	}
	if !utf8.Valid(s) {
		return false
	}
	*v = string(s)
	d.b = d.b[end+2:]
	return true
}

func (d *fastDecoder) time(v *time.Time) bool {
	var s string
	return d.str(&s) && v.UnmarshalText([]byte(s)) == nil
}

func (d *fastDecoder) optStr(key string, v *string) bool {
	return !d.lit(key) || d.str(v)
}

func (d *fastDecoder) optTime(key string, v *time.Time) bool {
	return !d.lit(key) || d.time(v)
}

func (d *fastDecoder) optUint(key string, v *uint64) bool {
	return !d.lit(key) || d.uint(v)
}

func (d *fastDecoder) optTrue(key string, v *bool) bool {
	if !d.lit(key) {
		return true
	}
	*v = true
	return d.lit("true")
}
