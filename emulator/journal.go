package emulator

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/acsgo/acsidentity/internal/wire"
)

// Since format 3 the data file is a full copy of the state (the format 2
// envelope, with its checksum) followed by a journal: one line for every
// change saved since, each
//
//	{"sha256":"<hex>","change":{...}}
//
// whose sha256 is the SHA-256 of the previous line's sum (the state's for
// the first line) followed by the change's bytes exactly as written. The
// chain makes an edit to any line, or to the state, a mismatch in the line
// after it at the latest; as with the state's checksum, it catches damage
// and hand edits, not someone who rewrites the chain.
//
// A save appends the changes made since the last one and syncs the file,
// so its cost depends on the changes, not on the size of the state. When
// the journal outgrows the copy (Options.JournalLimit), a new copy is
// written in the background and replaces the file with the changes it
// does not cover (compaction).
//
// A crash can leave the last line incomplete: its change was never
// acknowledged (a save syncs before anything is acknowledged), so loading
// drops it and says so. A complete line that does not check out is
// refused like any other damage.

// change is one journal line: the new state of what one request changed,
// and the token sequence when it was made.
type change struct {
	TokenSeq     uint64                          `json:"tokenSeq"`
	Identity     *savedIdentity                  `json:"identity,omitempty"`
	Teams        []wire.TeamsExtensionAssignment `json:"teams,omitempty"`
	TeamsDeleted []teamsRef                      `json:"teamsDeleted,omitempty"`
	Entra        []wire.EntraAssignment          `json:"entra,omitempty"`
	EntraDeleted []string                        `json:"entraDeleted,omitempty"`
}

// teamsRef names a Teams extension assignment.
type teamsRef struct {
	TenantID string `json:"tenantId"`
	ObjectID string `json:"objectId"`
}

// savedOf is the saved form of it.
func savedOf(it *identity) *savedIdentity {
	return &savedIdentity{
		ID: it.id, CustomID: it.customID, Created: it.created, LastIssued: it.lastIssued,
		RevokedAt: it.revokedAt, RevokedSeq: it.revokedSeq, Deleted: it.deleted, DeletedAt: it.deletedAt,
	}
}

// The fixed parts of a journal line around its sum and change.
const (
	linePrefix = `{"sha256":"`
	lineMiddle = `","change":`
	lineSuffix = "}\n"
)

// appendLine appends the journal line of the encoded change ch, chained
// to the sum prev, and returns the line's sum.
func appendLine(b []byte, prev [32]byte, ch []byte) ([]byte, [32]byte) {
	sum := chainSum(prev, ch)
	b = append(b, linePrefix...)
	b = hex.AppendEncode(b, sum[:])
	b = append(b, lineMiddle...)
	b = append(b, ch...)
	return append(b, lineSuffix...), sum
}

func chainSum(prev [32]byte, ch []byte) [32]byte {
	h := sha256.New()
	h.Write(prev[:])
	h.Write(ch)
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// readJournal checks the journal lines in b, chained to the sum first,
// and returns their changes and how many bytes of an incomplete last line
// it dropped. offset and line are where b starts in the file, for errors.
func readJournal(b []byte, first [32]byte, offset, line int) ([]change, int, error) {
	var out []change
	tip := first
	for len(b) > 0 {
		end := bytes.IndexByte(b, '\n')
		if end < 0 {
			return out, len(b), nil // a crash cut the last line short
		}
		l := b[:end+1]
		where := fmt.Sprintf("change %d (line %d, byte %d)", len(out)+1, line, offset)
		var ch change
		sum, err := checkLine(l, tip, &ch)
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w; the file was edited or damaged after the emulator wrote it (if its machine lost power, the changes from byte %d on were never acknowledged: truncate the file there to load the rest)", where, err, offset)
		}
		if err := ch.check(); err != nil {
			return nil, 0, fmt.Errorf("%s: %w", where, err)
		}
		out = append(out, ch)
		tip = sum
		b, offset, line = b[end+1:], offset+end+1, line+1
	}
	return out, 0, nil
}

// checkLine checks one journal line (with its newline) against the sum
// of the line before it, decodes its change into ch and returns its sum.
func checkLine(l []byte, prev [32]byte, ch *change) ([32]byte, error) {
	const sumEnd = len(linePrefix) + 2*sha256.Size
	if len(l) < sumEnd+len(lineMiddle)+len(lineSuffix) || !bytes.HasPrefix(l, []byte(linePrefix)) ||
		!bytes.Equal(l[sumEnd:sumEnd+len(lineMiddle)], []byte(lineMiddle)) || !bytes.HasSuffix(l, []byte(lineSuffix)) {
		return [32]byte{}, errors.New(`it is not a line {"sha256":"<64 hex digits>","change":{...}}`)
	}
	var recorded [32]byte
	if _, err := hex.Decode(recorded[:], l[len(linePrefix):sumEnd]); err != nil {
		return [32]byte{}, fmt.Errorf("its sha256 is not hex: %w", err)
	}
	raw := l[sumEnd+len(lineMiddle) : len(l)-len(lineSuffix)]
	if sum := chainSum(prev, raw); sum != recorded {
		return [32]byte{}, fmt.Errorf("the checksum does not match: the chain gives %x but the line records %x", sum, recorded)
	}
	if err := strictUnmarshal(raw, ch); err != nil {
		return [32]byte{}, fmt.Errorf("the change is not valid: %w", err)
	}
	return recorded, nil
}

// check rejects a change that records nothing or names nothing.
func (ch *change) check() error {
	if ch.Identity == nil && len(ch.Teams)+len(ch.TeamsDeleted)+len(ch.Entra)+len(ch.EntraDeleted) == 0 {
		return errors.New("it records no change")
	}
	if it := ch.Identity; it != nil && (it.ID == "" || it.Created.IsZero()) {
		return errors.New(`its identity has no "id" or "created" time`)
	}
	for _, a := range ch.Teams {
		if a.TenantID == "" || a.ObjectID == "" {
			return errors.New(`a Teams extension assignment has no "tenantId" or "objectId"`)
		}
	}
	for _, r := range ch.TeamsDeleted {
		if r.TenantID == "" || r.ObjectID == "" {
			return errors.New(`a deleted Teams extension assignment has no "tenantId" or "objectId"`)
		}
	}
	for _, a := range ch.Entra {
		if a.ObjectID == "" {
			return errors.New(`an Entra assignment has no "objectId"`)
		}
	}
	if slices.Contains(ch.EntraDeleted, "") {
		return errors.New("a deleted Entra assignment has no object ID")
	}
	return nil
}

// replay applies changes, in order, to st.
func (st *savedState) replay(changes []change) {
	if len(changes) == 0 {
		return
	}
	index := make(map[string]int, len(st.Identities))
	for i, si := range st.Identities {
		index[si.ID] = i
	}
	teams := make(map[teamsRef]wire.TeamsExtensionAssignment, len(st.Teams))
	for _, a := range st.Teams {
		teams[teamsRef{a.TenantID, a.ObjectID}] = a
	}
	entra := make(map[string]wire.EntraAssignment, len(st.Entra))
	for _, a := range st.Entra {
		entra[a.ObjectID] = a
	}
	for _, ch := range changes {
		st.TokenSeq = max(st.TokenSeq, ch.TokenSeq)
		if it := ch.Identity; it != nil {
			if i, ok := index[it.ID]; ok {
				st.Identities[i] = *it
			} else {
				index[it.ID] = len(st.Identities)
				st.Identities = append(st.Identities, *it)
			}
		}
		for _, a := range ch.Teams {
			teams[teamsRef{a.TenantID, a.ObjectID}] = a
		}
		for _, r := range ch.TeamsDeleted {
			delete(teams, r)
		}
		for _, a := range ch.Entra {
			entra[a.ObjectID] = a
		}
		for _, k := range ch.EntraDeleted {
			delete(entra, k)
		}
	}
	st.Teams = st.Teams[:0]
	for _, a := range teams {
		st.Teams = append(st.Teams, a)
	}
	st.Entra = st.Entra[:0]
	for _, a := range entra {
		st.Entra = append(st.Entra, a)
	}
}

// encodeChange is the JSON of ch as a journal line holds it.
func encodeChange(ch *change) ([]byte, error) { return json.Marshal(ch) }
