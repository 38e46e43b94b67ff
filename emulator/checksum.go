package emulator

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/acsgo/acsidentity/internal/wire"
)

// The data file is tamper-evident: since format 2 it is an envelope
//
//	{"format":2,"sha256":"<hex>","state":{...}}
//
// whose sha256 is the SHA-256 of the state's bytes exactly as written, so
// that any edit, even one that keeps the JSON valid, is refused rather than
// loaded. It is a checksum, not a signature: it catches damage and hand
// edits, not someone who can write the file (and so could recompute it;
// the file holds the signing key anyway). Format 1, the state's fields and
// "format":1 in one object without a checksum, is still read; the next save
// writes format 2.
const (
	dataFormat       = 2
	legacyDataFormat = 1
)

// savedState is the state in the data file. It holds the token signing
// key, so the file is created with mode 0600.
type savedState struct {
	ResourceID string                          `json:"resourceId"`
	SigningKey []byte                          `json:"signingKeySeed"`
	TokenSeq   uint64                          `json:"tokenSeq"`
	Identities []savedIdentity                 `json:"identities"`
	Teams      []wire.TeamsExtensionAssignment `json:"teamsExtensionAssignments"`
	Entra      []wire.EntraAssignment          `json:"entraAssignments"`
}

// stateFields are the fields every saved state has (empty lists included).
var stateFields = []string{"resourceId", "signingKeySeed", "tokenSeq", "identities", "teamsExtensionAssignments", "entraAssignments"}

type savedIdentity struct {
	ID         string    `json:"id"`
	CustomID   string    `json:"customId,omitempty"`
	Created    time.Time `json:"created"`
	LastIssued time.Time `json:"lastTokenIssuedAt,omitzero"`
	RevokedAt  time.Time `json:"revokedAt,omitzero"`
	RevokedSeq uint64    `json:"revokedSeq,omitempty"`
	Deleted    bool      `json:"deleted,omitempty"`
	DeletedAt  time.Time `json:"deletedAt,omitzero"`
}

// envelope is the data file of format 2.
type envelope struct {
	Format int             `json:"format"`
	SHA256 string          `json:"sha256"`
	State  json.RawMessage `json:"state"`
}

// encodeDataFile returns the data file holding st.
func encodeDataFile(st *savedState) ([]byte, error) {
	state, err := json.MarshalIndent(st, " ", " ")
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(state)
	b := make([]byte, 0, len(state)+120)
	b = fmt.Appendf(b, "{\n \"format\": %d,\n \"sha256\": \"%x\",\n \"state\": ", dataFormat, sum)
	b = append(b, state...)
	return append(b, "\n}\n"...), nil
}

// decodeDataFile checks and decodes a data file of either format. Its
// errors say what is wrong; the caller names the file.
func decodeDataFile(b []byte) (*savedState, error) {
	fields, err := objectFields(b, "the file")
	if err != nil {
		return nil, err
	}
	raw, ok := fields["format"]
	if !ok {
		return nil, errors.New(`not an emulator data file: it has no "format" field`)
	}
	var format int
	if err := json.Unmarshal(raw, &format); err != nil {
		return nil, fmt.Errorf(`the "format" field is not a number: %s`, raw)
	}
	var state []byte
	switch format {
	case dataFormat:
		var env envelope
		if err := strictUnmarshal(b, &env); err != nil {
			return nil, fmt.Errorf("not a format %d data file: %w", dataFormat, err)
		}
		if env.SHA256 == "" {
			return nil, errors.New(`it has no "sha256" field`)
		}
		if len(env.State) == 0 {
			return nil, errors.New(`it has no "state" field`)
		}
		sum := sha256.Sum256(env.State)
		if !strings.EqualFold(env.SHA256, hex.EncodeToString(sum[:])) {
			return nil, fmt.Errorf("the checksum does not match: the state's SHA-256 is %x but the file records %s, so the file was edited or damaged after the emulator wrote it; restore a good copy, or remove the file to start with an empty state", sum, env.SHA256)
		}
		state = env.State
		if fields, err = objectFields(state, "the state"); err != nil {
			return nil, err
		}
	case legacyDataFormat:
		state = b
		delete(fields, "format")
	default:
		return nil, fmt.Errorf("unsupported format %d (this emulator reads formats %d and %d)", format, legacyDataFormat, dataFormat)
	}
	for _, f := range stateFields {
		if _, ok := fields[f]; !ok {
			return nil, fmt.Errorf("the %q field is missing", f)
		}
	}
	for f := range fields {
		if !slices.Contains(stateFields, f) {
			return nil, fmt.Errorf("unknown field %q", f)
		}
	}
	var st savedState
	if format == legacyDataFormat {
		var legacy struct {
			Format int `json:"format"`
			savedState
		}
		err = strictUnmarshal(state, &legacy)
		st = legacy.savedState
	} else {
		err = strictUnmarshal(state, &st)
	}
	if err != nil {
		return nil, err
	}
	if err := st.check(); err != nil {
		return nil, err
	}
	return &st, nil
}

// check rejects a state whose fields are present but not usable.
func (st *savedState) check() error {
	if len(st.SigningKey) != 32 {
		return fmt.Errorf(`"signingKeySeed" is %d bytes, not a 32-byte Ed25519 seed`, len(st.SigningKey))
	}
	seen := make(map[string]bool, len(st.Identities))
	for i, si := range st.Identities {
		switch {
		case si.ID == "":
			return fmt.Errorf(`identity %d has no "id"`, i)
		case seen[si.ID]:
			return fmt.Errorf("identity %s appears twice", si.ID)
		case si.Created.IsZero():
			return fmt.Errorf(`identity %s has no "created" time`, si.ID)
		}
		seen[si.ID] = true
	}
	for i, a := range st.Teams {
		if a.TenantID == "" || a.ObjectID == "" {
			return fmt.Errorf(`the Teams extension assignment %d has no "tenantId" or "objectId"`, i)
		}
	}
	for i, a := range st.Entra {
		if a.ObjectID == "" {
			return fmt.Errorf(`the Entra assignment %d has no "objectId"`, i)
		}
	}
	return nil
}

// objectFields returns the top-level fields of the JSON object b.
func objectFields(b []byte, what string) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s is not a JSON object: %w", what, err)
	}
	if m == nil {
		return nil, fmt.Errorf("%s is not a JSON object", what)
	}
	return m, nil
}

// strictUnmarshal decodes b into v, refusing unknown fields. b is known
// to be one JSON object (objectFields parsed it).
func strictUnmarshal(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	return d.Decode(v)
}
