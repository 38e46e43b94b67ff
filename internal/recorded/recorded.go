// Package recorded reads the recorded traffic of the real ACS Identity
// service (testdata/recorded/*.jsonl): request/response pairs that the
// service answered while an official SDK's test suite ran live. The
// emulator's and the client's replay tests both read it through here, so
// the file's format is described once.
package recorded

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sort"
)

// Sanitized is the value the recorder put in place of IDs, tokens and other
// secrets.
const Sanitized = "sanitized"

// Interaction is one request and the service's answer.
type Interaction struct {
	// Source and Commit name the recording file the pair was read from.
	Source string `json:"source"`
	Commit string `json:"commit"`
	// Test is the SDK test that made the traffic; Seq the pair's place in it.
	Test string `json:"test"`
	Seq  int    `json:"seq"`
	// Method and Path are the request line without the query; IDs in Path
	// are Sanitized.
	Method     string `json:"method"`
	Path       string `json:"path"`
	APIVersion string `json:"api_version"`
	// Auth is "hmac" (access key) or "bearer" (Entra ID).
	Auth           string         `json:"auth"`
	RequestHeaders RequestHeaders `json:"request_headers"`
	// RequestBody is the JSON sent, nulls kept, or JSON null for no body.
	RequestBody     json.RawMessage `json:"request_body"`
	Status          int             `json:"status"`
	ResponseHeaders ResponseHeaders `json:"response_headers"`
	// ResponseBody is the JSON answered, or JSON null for none.
	ResponseBody json.RawMessage `json:"response_body"`
}

// RequestHeaders are the request headers the recording kept.
type RequestHeaders struct {
	ContentType string   `json:"content-type"`
	XMS         []string `json:"x-ms"` // the names of the x-ms-* headers sent
}

// ResponseHeaders are the response headers the recording kept.
type ResponseHeaders struct {
	ContentType string  `json:"content-type"`
	MSCV        bool    `json:"ms-cv"`      // whether MS-CV was sent
	RequestID   bool    `json:"request-id"` // whether Request-Id was sent
	Location    *string `json:"location"`
	RetryAfter  *string `json:"retry-after,omitempty"`
}

// HasRequestBody reports whether a body was sent.
func (in Interaction) HasRequestBody() bool { return !isNull(in.RequestBody) }

// HasResponseBody reports whether the service answered with a body.
func (in Interaction) HasResponseBody() bool { return !isNull(in.ResponseBody) }

// Name is "test#seq", for messages.
func (in Interaction) Name() string { return fmt.Sprintf("%s#%d", in.Test, in.Seq) }

func isNull(m json.RawMessage) bool {
	t := bytes.TrimSpace(m)
	return len(t) == 0 || bytes.Equal(t, []byte("null"))
}

// Load reads a .jsonl file of interactions. An unknown field is an error,
// so a change of format is noticed rather than half read.
func Load(path string) ([]Interaction, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Interaction
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for line := 1; sc.Scan(); line++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		var in Interaction
		if err := dec.Decode(&in); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		if in.Test == "" || in.Method == "" || in.Path == "" || in.Status == 0 {
			return nil, fmt.Errorf("%s:%d: an interaction without test, method, path or status", path, line)
		}
		out = append(out, in)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// ByTest groups interactions by test, each group in Seq order, the groups
// in the order their tests first appear.
func ByTest(all []Interaction) [][]Interaction {
	idx := map[string]int{}
	var out [][]Interaction
	for _, in := range all {
		i, ok := idx[in.Test]
		if !ok {
			i = len(out)
			idx[in.Test] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], in)
	}
	for _, g := range out {
		sort.SliceStable(g, func(a, b int) bool { return g[a].Seq < g[b].Seq })
	}
	return out
}
