package datafile

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/acsgo/acsidentity/internal/wire"
)

// The data file is tamper-evident: since format 2 it is an envelope
//
//	{"format":4,"journalEnd":"...","sha256":"<hex>","state":{...}}
//
// whose sha256 is the SHA-256 of the state's bytes exactly as written, so
// that any edit, even one that keeps the JSON valid, is refused rather than
// loaded. It is a checksum, not a signature: it catches damage and hand
// edits, not someone who can write the file (and so could recompute it;
// the file holds the signing key anyway). Format 3 added the journal of
// changes after the envelope (see journal.go), and format 4 the record of
// where the journal ends (journalEnd, below). Formats 1 (the state's
// fields and "format":1 in one object, without a checksum), 2 (the
// envelope alone) and 3 (no journalEnd) are read only when asked
// (Options.MigrateLegacyDataFile): nothing could tell an edit to format 1,
// such as a revocation taken out, or lines cut from the end of the others,
// from what the emulator saved. The next save writes format 4.
const (
	// Format is the format the emulator writes.
	Format           = 4
	journalFormat    = 3
	envelopeFormat   = 2
	legacyDataFormat = 1
)

// Since format 4 the envelope's second field records where the journal
// ends: the file's length up to the end of the last saved line, and that
// line's sum (the state's when there is no line),
//
//	"journalEnd": "<20-digit length> <64 hex digits>"
//
// always at byte JournalEndOffset and always JournalEndSize bytes long, so
// that a save rewrites it in place after it appends (and syncs) the lines.
// Lines cut from the end, or a journal stripped back to an older format,
// no longer match it.
const (
	EnvelopeHead     = "{\n \"format\": 4,\n \"journalEnd\": \""
	JournalEndOffset = int64(len(EnvelopeHead))
	JournalEndSize   = 20 + 1 + 2*sha256.Size
)

// JournalEnd is the value of the "journalEnd" field.
func JournalEnd(length int64, tip [32]byte) []byte {
	b := fmt.Appendf(make([]byte, 0, JournalEndSize), "%020d %x", length, tip)
	return b
}

// parseJournalEnd reads the value of the "journalEnd" field.
func parseJournalEnd(s string) (int64, [32]byte, error) {
	var tip [32]byte
	bad := fmt.Errorf(`"journalEnd" is %q, not "<20-digit length> <64 hex digits>"`, s)
	if len(s) != JournalEndSize || s[20] != ' ' {
		return 0, tip, bad
	}
	var n int64
	for _, c := range s[:20] {
		if c < '0' || c > '9' || n > (1<<62)/10 {
			return 0, tip, bad
		}
		n = n*10 + int64(c-'0')
	}
	if _, err := hex.Decode(tip[:], []byte(s[21:])); err != nil {
		return 0, tip, bad
	}
	return n, tip, nil
}

// State is the state in the data file. It holds the token signing
// key, so the file is created with mode 0600.
type State struct {
	ResourceID string                          `json:"resourceId"`
	SigningKey []byte                          `json:"signingKeySeed"`
	IssuerKey  []byte                          `json:"oidcIssuerKey,omitempty"`
	TokenSeq   uint64                          `json:"tokenSeq"`
	Identities []Identity                      `json:"identities"`
	Teams      []wire.TeamsExtensionAssignment `json:"teamsExtensionAssignments"`
	Entra      []wire.EntraAssignment          `json:"entraAssignments"`
}

// stateFields are the fields every saved state has (empty lists included).
var stateFields = []string{"resourceId", "signingKeySeed", "tokenSeq", "identities", "teamsExtensionAssignments", "entraAssignments"}

// optionalStateFields are the fields a saved state may lack.
var optionalStateFields = []string{"oidcIssuerKey"}

type Identity struct {
	ID         string    `json:"id"`
	CustomID   string    `json:"customId,omitempty"`
	Created    time.Time `json:"created"`
	LastIssued time.Time `json:"lastTokenIssuedAt,omitzero"`
	RevokedAt  time.Time `json:"revokedAt,omitzero"`
	RevokedSeq uint64    `json:"revokedSeq,omitempty"`
	Deleted    bool      `json:"deleted,omitempty"`
	DeletedAt  time.Time `json:"deletedAt,omitzero"`
}

// envelope is the data file of format 2, and the start of format 3.
type envelope struct {
	Format     int             `json:"format"`
	JournalEnd string          `json:"journalEnd,omitempty"` // format 4
	SHA256     string          `json:"sha256"`
	State      json.RawMessage `json:"state"`
}

// Encode returns the envelope holding st, which starts a data file,
// and the SHA-256 of its state that the journal's first line chains to.
func Encode(st *State) ([]byte, [32]byte, error) {
	state, err := json.MarshalIndent(st, " ", " ")
	if err != nil {
		return nil, [32]byte{}, err
	}
	sum := sha256.Sum256(state)
	b := make([]byte, 0, len(state)+220)
	b = append(b, EnvelopeHead...)
	b = append(b, make([]byte, JournalEndSize)...) // filled in below
	b = fmt.Appendf(b, "\",\n \"sha256\": \"%x\",\n \"state\": ", sum)
	b = append(b, state...)
	b = append(b, "\n}\n"...)
	copy(b[JournalEndOffset:], JournalEnd(int64(len(b)), sum))
	return b, sum, nil
}

// Loaded is a decoded data file.
type Loaded struct {
	State   *State // with the journal's changes applied
	Format  int    // the file's format
	Changes int    // journal lines applied
	Torn    int    // bytes of an incomplete last line, dropped
}

// Remedy ends the message of every refusal of a file the emulator wrote
// that no longer checks out.
const Remedy = "restore a good copy, or remove the file to start with an empty state"

// Decode is Read on a file's bytes.
func Decode(b []byte, legacy bool) (*Loaded, error) {
	return Read(bytes.NewReader(b), legacy)
}

// Read checks and decodes a data file as it reads it: of format 4,
// or 1 to 3 if legacy is set. Its errors say what is wrong; the caller
// names the file. It holds the state and one journal line at a time, not
// the file.
func Read(r io.Reader, legacy bool) (*Loaded, error) {
	dec := json.NewDecoder(r)
	var head json.RawMessage
	if err := dec.Decode(&head); err != nil {
		return nil, fmt.Errorf("the file is not a JSON object: %w", err)
	}
	end := dec.InputOffset()
	fields, err := objectFields(head, "the file")
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
	var sum [32]byte
	var endLen int64
	var endTip [32]byte
	switch format {
	case Format, journalFormat, envelopeFormat:
		if format != Format && !legacy {
			return nil, fmt.Errorf("it is format %d, which does not record where its journal ends, so lines cut from its end (a revocation or a deletion undone) cannot be detected: if this emulator wrote it, it was stripped of its journal or rewritten, so %s; if an older emulator wrote it, start once with -migrate-data (Options.MigrateLegacyDataFile) to load it and save it as format %d", format, Remedy, Format)
		}
		var env envelope
		if err := strictUnmarshal(head, &env); err != nil {
			return nil, fmt.Errorf("not a format %d data file: %w", format, err)
		}
		if env.SHA256 == "" {
			return nil, errors.New(`it has no "sha256" field`)
		}
		if len(env.State) == 0 {
			return nil, errors.New(`it has no "state" field`)
		}
		switch {
		case format == Format && env.JournalEnd == "":
			return nil, errors.New(`it has no "journalEnd" field`)
		case format == Format:
			if endLen, endTip, err = parseJournalEnd(env.JournalEnd); err != nil {
				return nil, err
			}
		case env.JournalEnd != "":
			return nil, fmt.Errorf(`a format %d file has no "journalEnd" field`, format)
		}
		sum = sha256.Sum256(env.State)
		if !strings.EqualFold(env.SHA256, hex.EncodeToString(sum[:])) {
			return nil, fmt.Errorf("the checksum does not match: the state's SHA-256 is %x but the file records %s, so the file was edited or damaged after the emulator wrote it; %s", sum, env.SHA256, Remedy)
		}
		state = env.State
		if fields, err = objectFields(state, "the state"); err != nil {
			return nil, err
		}
	case legacyDataFormat:
		if !legacy {
			return nil, errors.New("it is format 1, which has no checksum, so an edit to it (a revocation taken out, say) cannot be told from what the emulator saved; to load it anyway and save it with a checksum, start once with -migrate-data (Options.MigrateLegacyDataFile)")
		}
		state = head
		delete(fields, "format")
	default:
		return nil, fmt.Errorf("unsupported format %d (this emulator reads formats %d to %d)", format, legacyDataFormat, Format)
	}
	for _, f := range stateFields {
		if _, ok := fields[f]; !ok {
			return nil, fmt.Errorf("the %q field is missing", f)
		}
	}
	for f := range fields {
		if !slices.Contains(stateFields, f) && !slices.Contains(optionalStateFields, f) {
			return nil, fmt.Errorf("unknown field %q", f)
		}
	}
	var st State
	if format == legacyDataFormat {
		var legacy struct {
			Format int `json:"format"`
			State
		}
		err = strictUnmarshal(state, &legacy)
		st = legacy.State
	} else {
		err = strictUnmarshal(state, &st)
	}
	if err != nil {
		return nil, err
	}
	df := &Loaded{State: &st, Format: format}
	rest := bufio.NewReaderSize(io.MultiReader(dec.Buffered(), r), 64<<10)
	if format < journalFormat {
		if err := onlySpace(rest); err != nil {
			return nil, fmt.Errorf("there is more after the state (byte %d on), which a format %d file does not have", end, format)
		}
	} else {
		j := &journalReader{r: rest, tip: sum, offset: end, line: bytes.Count(head, []byte("\n")) + 1}
		if format == Format {
			j.endLen, j.endTip, j.checkEnd = endLen, endTip, true
		}
		rp := newReplay(&st)
		if err := j.read(rp.apply); err != nil {
			return nil, err
		}
		rp.finish()
		df.Changes, df.Torn = j.changes, j.torn
	}
	if err := st.check(); err != nil {
		return nil, err
	}
	return df, nil
}

// onlySpace reads r to its end and fails if it holds more than white space.
func onlySpace(r *bufio.Reader) error {
	for {
		c, err := r.ReadByte()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return errors.New("not white space")
		}
	}
}

// check rejects a state whose fields are present but not usable. Several
// live identities may have one custom ID: creates that raced made them
// (Options.CustomIDRaces), as on the real service.
func (st *State) check() error {
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
