package emulator

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"sync"
)

// opaqueHeader is the protected header of an opaque token, base64url
// encoded: direct encryption with AES-256-GCM of a nested JWT (RFC 7516).
var opaqueHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"dir","enc":"A256GCM","cty":"JWT"}`))

// opaqueTokens turns the emulator's JWTs into tokens that clients cannot
// decode (Options.OpaqueTokens) and back, for Introspect.
//
// An opaque token is the JWE compact serialization of the JWT the emulator
// would otherwise issue: header..iv.ciphertext.tag, five dot-separated
// parts, the second (the encrypted key) empty because the key is used
// directly. The key is derived from the signing key, so a data file that
// keeps the signing key keeps opaque tokens readable across restarts. Only
// the emulator reads these tokens; the format is standard so that clients
// see what an encrypted token looks like, not so that they decrypt it.
type opaqueTokens struct {
	enabled bool // issue opaque tokens

	once sync.Once
	aead cipher.AEAD
}

// cipherFor returns the AEAD keyed from e's signing key.
func (o *opaqueTokens) cipherFor(e *Emulator) cipher.AEAD {
	o.once.Do(func() {
		key, err := hkdf.Key(sha256.New, e.signer.priv.Seed(), nil, "acsidentity emulator opaque access tokens", 32)
		if err != nil {
			panic("emulator: deriving the opaque token key: " + err.Error()) // cannot happen for 32 bytes of SHA-256 output
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			panic("emulator: " + err.Error()) // cannot happen for a 32-byte key
		}
		o.aead, err = cipher.NewGCM(block)
		if err != nil {
			panic("emulator: " + err.Error()) // cannot happen for AES
		}
	})
	return o.aead
}

// sealToken returns jwt as an opaque token if Options.OpaqueTokens is set,
// else jwt itself.
func (e *Emulator) sealToken(jwt string) string {
	if !e.opaque.enabled {
		return jwt
	}
	aead := e.opaque.cipherFor(e)
	iv := make([]byte, aead.NonceSize())
	rand.Read(iv)
	sealed := aead.Seal(nil, iv, []byte(jwt), []byte(opaqueHeader))
	ct, tag := sealed[:len(sealed)-aead.Overhead()], sealed[len(sealed)-aead.Overhead():]
	enc := base64.RawURLEncoding
	var b strings.Builder
	b.Grow(len(opaqueHeader) + 4 + enc.EncodedLen(len(iv)) + enc.EncodedLen(len(ct)) + enc.EncodedLen(len(tag)))
	b.WriteString(opaqueHeader)
	b.WriteString("..")
	b.WriteString(enc.EncodeToString(iv))
	b.WriteByte('.')
	b.WriteString(enc.EncodeToString(ct))
	b.WriteByte('.')
	b.WriteString(enc.EncodeToString(tag))
	return b.String()
}

// openToken returns the JWT inside an opaque token of this emulator,
// whether or not it issues them now; any other token is returned as it is,
// for the signature check to refuse or accept.
func (e *Emulator) openToken(token string) string {
	rest, ok := strings.CutPrefix(token, opaqueHeader+"..")
	if !ok {
		return token
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 3 {
		return token
	}
	enc := base64.RawURLEncoding.Strict() // one spelling per token
	iv, err1 := enc.DecodeString(parts[0])
	ct, err2 := enc.DecodeString(parts[1])
	tag, err3 := enc.DecodeString(parts[2])
	aead := e.opaque.cipherFor(e)
	if err1 != nil || err2 != nil || err3 != nil || len(iv) != aead.NonceSize() || len(tag) != aead.Overhead() {
		return token
	}
	jwt, err := aead.Open(nil, iv, append(ct, tag...), []byte(opaqueHeader))
	if err != nil {
		return token
	}
	return string(jwt)
}
