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
	"runtime"
	"slices"
	"sync"

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
// A save syncs the lines it appends, then records where the journal now
// ends (format 4's journalEnd) and syncs again, all before anything is
// acknowledged. So a crash can leave, after the recorded end, complete
// lines (they check out and load) and an incomplete last line, whose
// change was never acknowledged: loading drops it and says so. A complete
// line that does not check out, or a journal that ends before its recorded
// end, is refused like any other damage.

// Change is one journal line: the new state of what one request changed,
// and the token sequence when it was made.
type Change struct {
	TokenSeq  uint64 `json:"tokenSeq"`
	Reset     bool   `json:"reset,omitempty"`     // everything before is gone
	IssuerKey []byte `json:"issuerKey,omitempty"` // the OIDC issuer's new key

	Identity     *Identity                       `json:"identity,omitempty"`
	Teams        []wire.TeamsExtensionAssignment `json:"teams,omitempty"`
	TeamsDeleted []TeamsRef                      `json:"teamsDeleted,omitempty"`
	Entra        []wire.EntraAssignment          `json:"entra,omitempty"`
	EntraDeleted []string                        `json:"entraDeleted,omitempty"`
}

// TeamsRef names a Teams extension assignment.
type TeamsRef struct {
	TenantID string `json:"tenantId"`
	ObjectID string `json:"objectId"`
}

// The fixed parts of a journal line around its sum and change.
const (
	LinePrefix = `{"sha256":"`
	LineMiddle = `","change":`
	LineSuffix = "}\n"
)

// AppendLine appends the journal line of the encoded change ch, chained
// to the sum prev, and returns the line's sum.
func AppendLine(b []byte, prev [32]byte, ch []byte) ([]byte, [32]byte) {
	sum := chainSum(prev, ch)
	b = append(b, LinePrefix...)
	b = hex.AppendEncode(b, sum[:])
	b = append(b, LineMiddle...)
	b = append(b, ch...)
	return append(b, LineSuffix...), sum
}

func chainSum(prev [32]byte, ch []byte) [32]byte {
	h := sha256.New()
	h.Write(prev[:])
	h.Write(ch)
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// journalReader checks and decodes the journal lines that follow the
// state, one at a time.
type journalReader struct {
	r      *bufio.Reader // from the end of the state on
	tip    [32]byte      // the sum the next line chains to
	offset int64         // where r is in the file
	line   int           // the file's line number at offset

	// checkEnd is set for format 4: a line must end at byte endLen with
	// the sum endTip (or endLen is where the journal starts, and endTip
	// the state's sum).
	checkEnd bool
	endLen   int64
	endTip   [32]byte

	changes int // lines applied
	torn    int // bytes of an incomplete last line, dropped
}

// read applies every line's change, in order, and checks where the
// journal ends. The chain is checked here, a line at a time; the changes
// are decoded by a worker per CPU, a batch of lines at a time, and applied
// in order by one more goroutine, so that a long journal takes about the
// time of its decoding divided by the CPUs.
func (j *journalReader) read(apply func(*Change)) error {
	if c, err := j.r.ReadByte(); err == nil && c != '\n' {
		return fmt.Errorf("the state is not followed by a new line (byte %d)", j.offset)
	} else if err == nil {
		j.offset++
	}
	reached := j.checkEnd && j.at()
	if j.checkEnd && j.endLen == j.offset && !reached {
		return j.endMismatch()
	}
	p := newDecodePipeline(apply)
	b := p.newBatch(j.changes)
	var long []byte // a line longer than the buffer
	var err error
	for {
		l, rerr := j.r.ReadSlice('\n')
		if rerr == bufio.ErrBufferFull {
			long = append(long, l...)
			continue
		}
		if long != nil {
			l = append(long, l...)
			long = nil
		}
		if rerr == io.EOF {
			j.torn = len(l) // a crash cut the last line short (or there is none)
			break
		}
		if rerr != nil {
			err = rerr
			break
		}
		sum, raw, cerr := checkLineSum(l, j.tip)
		if cerr != nil {
			err = lineError(j.changes+1, j.line, j.offset, cerr)
			break
		}
		b.add(raw, j.line, j.offset)
		if b.full() {
			if !p.send(b) {
				break // a change did not decode: the pipeline has its error
			}
			b = p.newBatch(j.changes + 1)
		}
		j.tip = sum
		j.changes++
		j.offset += int64(len(l))
		j.line++
		if j.checkEnd && j.offset == j.endLen {
			if !j.at() {
				err = j.endMismatch()
				break
			}
			reached = true
		}
	}
	p.send(b)
	// A change that did not decode comes before the line that stopped
	// the reading, if any.
	if perr := p.wait(); perr != nil {
		return perr
	}
	switch {
	case err != nil:
		return err
	case !j.checkEnd || reached:
		return nil
	case j.offset+int64(j.torn) < j.endLen:
		return fmt.Errorf("the file ends at byte %d, but its journal was saved up to byte %d: lines were cut from its end, which would undo the changes they record (a revocation or a deletion, say); %s", j.offset+int64(j.torn), j.endLen, Remedy)
	default:
		return j.endMismatch()
	}
}

// lineError is the error of the journal line that holds change n.
func lineError(n, line int, offset int64, err error) error {
	return fmt.Errorf("change %d (line %d, byte %d): %w; the file was edited or damaged after the emulator wrote it (if its machine lost power, the changes from byte %d on were never acknowledged: truncate the file there to load the rest); %s", n, line, offset, err, offset, Remedy)
}

// linesPerBatch is how many journal lines a decoding worker takes at once.
const linesPerBatch = 512

// lineBatch is a run of journal lines' changes, decoded by a worker.
type lineBatch struct {
	first  int      // the number of its first change, less one
	arena  []byte   // the changes' bytes, one after the other
	ends   []int    // where each change ends in arena
	where  []lineAt // where each line is in the file
	out    []Change
	err    error
	solved chan struct{} // closed once decoded
}

type lineAt struct {
	line   int
	offset int64
}

func (b *lineBatch) add(raw []byte, line int, offset int64) {
	b.arena = append(b.arena, raw...)
	b.ends = append(b.ends, len(b.arena))
	b.where = append(b.where, lineAt{line, offset})
}

func (b *lineBatch) full() bool { return len(b.ends) == linesPerBatch }

// decode decodes and checks each change, stopping at the first that fails.
func (b *lineBatch) decode() {
	b.out = make([]Change, len(b.ends))
	start := 0
	for i, end := range b.ends {
		raw := b.arena[start:end]
		err := decodeChange(raw, &b.out[i])
		if err != nil {
			err = fmt.Errorf("the change is not valid: %w", err)
		} else {
			err = b.out[i].check()
		}
		if err != nil {
			b.err = lineError(b.first+i+1, b.where[i].line, b.where[i].offset, err)
			b.out = b.out[:i]
			return
		}
		start = end
	}
}

// decodePipeline decodes batches of lines in parallel and applies their
// changes in order.
type decodePipeline struct {
	work    chan *lineBatch // to the workers
	order   chan *lineBatch // to the applier, in file order
	stop    chan struct{}   // closed by the applier at the first error
	errc    chan error      // the applier's result
	workers sync.WaitGroup
	failed  bool
}

func newDecodePipeline(apply func(*Change)) *decodePipeline {
	n := runtime.GOMAXPROCS(0)
	p := &decodePipeline{
		work:  make(chan *lineBatch, n),
		order: make(chan *lineBatch, 2*n),
		stop:  make(chan struct{}),
		errc:  make(chan error, 1),
	}
	for range n {
		p.workers.Go(func() {
			for b := range p.work {
				b.decode()
				close(b.solved)
			}
		})
	}
	go func() {
		var err error
		for b := range p.order {
			<-b.solved
			if err != nil {
				continue
			}
			for i := range b.out {
				apply(&b.out[i])
			}
			if b.err != nil {
				err = b.err
				close(p.stop)
			}
		}
		p.errc <- err
	}()
	return p
}

func (p *decodePipeline) newBatch(first int) *lineBatch {
	return &lineBatch{
		first: first, arena: make([]byte, 0, 256*linesPerBatch), ends: make([]int, 0, linesPerBatch),
		where: make([]lineAt, 0, linesPerBatch), solved: make(chan struct{}),
	}
}

// send queues b, unless it is empty, and reports whether every change so
// far decoded.
func (p *decodePipeline) send(b *lineBatch) bool {
	if p.failed {
		return false
	}
	if len(b.ends) > 0 {
		select {
		case p.order <- b:
			p.work <- b
		case <-p.stop:
			p.failed = true
			return false
		}
	}
	select {
	case <-p.stop:
		p.failed = true
		return false
	default:
		return true
	}
}

// wait waits until every batch sent is applied and returns the first
// change that did not decode, if one did not.
func (p *decodePipeline) wait() error {
	close(p.work)
	close(p.order)
	p.workers.Wait()
	return <-p.errc
}

// at reports whether the journal read so far ends where the file records.
func (j *journalReader) at() bool { return j.offset == j.endLen && j.tip == j.endTip }

func (j *journalReader) endMismatch() error {
	return fmt.Errorf(`the journal does not end as the file records ("journalEnd": byte %d, sum %x), so lines were removed, replaced or reordered after the emulator wrote it; %s`, j.endLen, j.endTip, Remedy)
}

// checkLineSum checks one journal line (with its newline) against the sum
// of the line before it and returns its sum and its change's bytes.
func checkLineSum(l []byte, prev [32]byte) ([32]byte, []byte, error) {
	const sumEnd = len(LinePrefix) + 2*sha256.Size
	if len(l) < sumEnd+len(LineMiddle)+len(LineSuffix) || !bytes.HasPrefix(l, []byte(LinePrefix)) ||
		!bytes.Equal(l[sumEnd:sumEnd+len(LineMiddle)], []byte(LineMiddle)) || !bytes.HasSuffix(l, []byte(LineSuffix)) {
		return [32]byte{}, nil, errors.New(`it is not a line {"sha256":"<64 hex digits>","change":{...}}`)
	}
	var recorded [32]byte
	if _, err := hex.Decode(recorded[:], l[len(LinePrefix):sumEnd]); err != nil {
		return [32]byte{}, nil, fmt.Errorf("its sha256 is not hex: %w", err)
	}
	raw := l[sumEnd+len(LineMiddle) : len(l)-len(LineSuffix)]
	if sum := chainSum(prev, raw); sum != recorded {
		return [32]byte{}, nil, fmt.Errorf("the checksum does not match: the chain gives %x but the line records %x", sum, recorded)
	}
	return recorded, raw, nil
}

// check rejects a change that records nothing or names nothing.
func (ch *Change) check() error {
	if !ch.Reset && ch.IssuerKey == nil && ch.Identity == nil && len(ch.Teams)+len(ch.TeamsDeleted)+len(ch.Entra)+len(ch.EntraDeleted) == 0 {
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

// replayState applies journal changes to a saved state one at a time.
type replayState struct {
	st    *State
	index map[string]int // identity ID -> index in st.Identities
	teams map[TeamsRef]wire.TeamsExtensionAssignment
	entra map[string]wire.EntraAssignment
}

func newReplay(st *State) *replayState {
	rp := &replayState{
		st:    st,
		index: make(map[string]int, len(st.Identities)),
		teams: make(map[TeamsRef]wire.TeamsExtensionAssignment, len(st.Teams)),
		entra: make(map[string]wire.EntraAssignment, len(st.Entra)),
	}
	for i, si := range st.Identities {
		rp.index[si.ID] = i
	}
	for _, a := range st.Teams {
		rp.teams[TeamsRef{a.TenantID, a.ObjectID}] = a
	}
	for _, a := range st.Entra {
		rp.entra[a.ObjectID] = a
	}
	return rp
}

func (rp *replayState) apply(ch *Change) {
	st := rp.st
	st.TokenSeq = max(st.TokenSeq, ch.TokenSeq)
	if ch.Reset {
		st.Identities = st.Identities[:0]
		clear(rp.index)
		clear(rp.teams)
		clear(rp.entra)
	}
	if ch.IssuerKey != nil {
		st.IssuerKey = ch.IssuerKey
	}
	if it := ch.Identity; it != nil {
		if i, ok := rp.index[it.ID]; ok {
			st.Identities[i] = *it
		} else {
			rp.index[it.ID] = len(st.Identities)
			st.Identities = append(st.Identities, *it)
		}
	}
	for _, a := range ch.Teams {
		rp.teams[TeamsRef{a.TenantID, a.ObjectID}] = a
	}
	for _, r := range ch.TeamsDeleted {
		delete(rp.teams, r)
	}
	for _, a := range ch.Entra {
		rp.entra[a.ObjectID] = a
	}
	for _, k := range ch.EntraDeleted {
		delete(rp.entra, k)
	}
}

// finish puts the assignments into the state.
func (rp *replayState) finish() {
	st := rp.st
	st.Teams = st.Teams[:0]
	for _, a := range rp.teams {
		st.Teams = append(st.Teams, a)
	}
	st.Entra = st.Entra[:0]
	for _, a := range rp.entra {
		st.Entra = append(st.Entra, a)
	}
}

// EncodeChange is the JSON of ch as a journal line holds it.
func EncodeChange(ch *Change) ([]byte, error) { return json.Marshal(ch) }
