package emulator

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Token statuses reported by Introspect.
const (
	StatusValid   = "valid"
	StatusExpired = "expired"
	StatusRevoked = "revoked"
	StatusDeleted = "deleted"
	StatusInvalid = "invalid"
)

// TokenStatus is what the emulator knows about an access token it issued.
type TokenStatus struct {
	// Status is "valid", "expired", "revoked" (its identity's tokens were
	// revoked after it was issued), "deleted" (its identity was deleted) or
	// "invalid" (not a token this emulator signed).
	Status string `json:"status"`
	// User is the raw ID the token was issued for, such as "8:acs:...".
	User string `json:"user,omitempty"`
	// Scopes are the token's scopes.
	Scopes []string `json:"scopes,omitempty"`
	// ExpiresOn is when the token expires: its exp claim, which is the
	// expiresOn it was issued with truncated to the second.
	ExpiresOn time.Time `json:"expiresOn,omitzero"`
}

// scopeBits is the scp bitmask of each scope. The chat value matches an
// observed service token (scp 1792 with acsScope "chat"); the others are the
// emulator's own choice.
var scopeBits = map[string]int{
	"chat":              0x700,
	"voip":              0x800,
	"chat.join":         0x1000,
	"chat.join.limited": 0x2000,
	"voip.join":         0x4000,
}

// signer makes and checks the emulator's EdDSA (Ed25519) JWTs.
type signer struct {
	priv   ed25519.PrivateKey
	pub    ed25519.PublicKey
	kid    string
	header string // base64url of the JOSE header, with the trailing '.'
}

// newSigner returns a signer for seed, or for a fresh key if seed is nil.
func newSigner(seed []byte) (*signer, error) {
	var priv ed25519.PrivateKey
	if seed == nil {
		_, p, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		priv = p
	} else {
		if len(seed) != ed25519.SeedSize {
			return nil, errBadSeed
		}
		priv = ed25519.NewKeyFromSeed(seed)
	}
	pub := priv.Public().(ed25519.PublicKey)
	s := &signer{priv: priv, pub: pub}
	// kid is the RFC 7638 JWK thumbprint.
	x := base64.RawURLEncoding.EncodeToString(pub)
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + x + `"}`))
	s.kid = base64.RawURLEncoding.EncodeToString(sum[:])
	s.header = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"EdDSA","typ":"JWT","kid":"`+s.kid+`"}`)) + "."
	return s, nil
}

// jwk returns the public key as an OKP JWK.
func (s *signer) jwk() map[string]string {
	return map[string]string{
		"kty": "OKP", "crv": "Ed25519", "x": base64.RawURLEncoding.EncodeToString(s.pub),
		"kid": s.kid, "alg": "EdDSA", "use": "sig",
	}
}

// tokenClaims are the claims of an emulator token.
type tokenClaims struct {
	SkypeID    string `json:"skypeid"`
	Scp        int    `json:"scp"`
	CSI        string `json:"csi"`
	Iat        int64  `json:"iat"`
	Exp        int64  `json:"exp"`
	ACSScope   string `json:"acsScope"`
	ResourceID string `json:"resourceId"`
	JTI        string `json:"jti"`
}

// sign returns a JWT for rawID (such as 8:acs:...) with the given scopes,
// issue time, expiry (exp is its whole second) and issue sequence number.
func (s *signer) sign(rawID string, scopes []string, resourceID string, iat, exp time.Time, seq uint64) string {
	var jti [16]byte
	binary.BigEndian.PutUint64(jti[:8], seq)
	rand.Read(jti[8:])
	scp := 0
	for _, sc := range scopes {
		scp |= scopeBits[sc]
	}
	p := make([]byte, 0, 320)
	p = append(p, `{"skypeid":`...)
	p = appendJSONString(p, strings.TrimPrefix(rawID, "8:"))
	p = append(p, `,"scp":`...)
	p = strconv.AppendInt(p, int64(scp), 10)
	p = append(p, `,"csi":"`...)
	p = strconv.AppendInt(p, iat.Unix(), 10)
	p = append(p, `","iat":`...)
	p = strconv.AppendInt(p, iat.Unix(), 10)
	p = append(p, `,"exp":`...)
	p = strconv.AppendInt(p, exp.Unix(), 10)
	p = append(p, `,"acsScope":`...)
	p = appendJSONString(p, strings.Join(scopes, ","))
	p = append(p, `,"resourceId":`...)
	p = appendJSONString(p, resourceID)
	p = append(p, `,"jti":"`...)
	p = base64.RawURLEncoding.AppendEncode(p, jti[:])
	p = append(p, `"}`...)

	out := make([]byte, 0, len(s.header)+base64.RawURLEncoding.EncodedLen(len(p))+1+base64.RawURLEncoding.EncodedLen(ed25519.SignatureSize))
	out = append(out, s.header...)
	out = base64.RawURLEncoding.AppendEncode(out, p)
	sig := ed25519.Sign(s.priv, out)
	out = append(out, '.')
	out = base64.RawURLEncoding.AppendEncode(out, sig)
	return string(out)
}

// verify checks token's signature and returns its claims and issue
// sequence number.
func (s *signer) verify(token string) (*tokenClaims, uint64, bool) {
	i := strings.LastIndexByte(token, '.')
	if i < 0 || !strings.HasPrefix(token, s.header) || strings.Count(token, ".") != 2 {
		return nil, 0, false
	}
	sig, err := base64.RawURLEncoding.DecodeString(token[i+1:])
	if err != nil || !ed25519.Verify(s.pub, []byte(token[:i]), sig) {
		return nil, 0, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(token[len(s.header):i])
	if err != nil {
		return nil, 0, false
	}
	var cl tokenClaims
	if err := json.Unmarshal(payload, &cl); err != nil {
		return nil, 0, false
	}
	jti, err := base64.RawURLEncoding.DecodeString(cl.JTI)
	if err != nil || len(jti) != 16 {
		return nil, 0, false
	}
	return &cl, binary.BigEndian.Uint64(jti[:8]), true
}

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x7f || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// Introspect reports what the emulator knows about token: whether it is
// valid, expired, revoked, deleted or not the emulator's at all. It is the
// same as POST /.emulator/introspect.
func (e *Emulator) Introspect(token string) TokenStatus {
	cl, seq, ok := e.signer.verify(e.openToken(token))
	if !ok {
		return TokenStatus{Status: StatusInvalid}
	}
	st := TokenStatus{User: "8:" + cl.SkypeID, ExpiresOn: time.Unix(cl.Exp, 0).UTC()}
	if cl.ACSScope != "" {
		st.Scopes = strings.Split(cl.ACSScope, ",")
	}
	if strings.HasPrefix(cl.SkypeID, "acs:") {
		switch e.store.tokenState(st.User, seq) {
		case stateUnknown:
			return TokenStatus{Status: StatusInvalid}
		case stateDeleted:
			st.Status = StatusDeleted
			return st
		case stateRevoked:
			st.Status = StatusRevoked
			return st
		}
	}
	if !e.now().Before(st.ExpiresOn) {
		st.Status = StatusExpired
		return st
	}
	st.Status = StatusValid
	return st
}
