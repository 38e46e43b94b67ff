package tokenservice

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/acsgo/acsidentity"
)

// answer is an endpoint's successful answer, and what the request's log
// line says of it.
type answer struct {
	status int
	body   []byte // JSON; nil: no body

	user      string // the ACS identity
	scopes    []acsidentity.TokenScope
	expiresOn time.Time
	note      string // for the log line's reason
	allow     string // the Allow header (OPTIONS)
}

// write writes the answer.
func (a *answer) write(w http.ResponseWriter) {
	if a.allow != "" {
		w.Header().Set("Allow", a.allow)
	}
	if a.body == nil {
		w.WriteHeader(a.status)
		return
	}
	writeBody(w, a.status, a.body)
}

// tokenAnswer is a token answer: the JS SDK's CommunicationUserToken,
// which the Calling and Chat samples' token refreshers read (token), plus
// expiresOn for clients that cannot read the token. A Teams exchange has no
// user.
func tokenAnswer(user, token string, expiresOn time.Time) answer {
	b := make([]byte, 0, 128+len(user)+len(token))
	b = append(b, '{')
	if user != "" {
		b = append(b, `"user":{"communicationUserId":`...)
		b = appendJSONString(b, user)
		b = append(b, "},"...)
	}
	b = append(b, `"token":`...)
	b = appendJSONString(b, token)
	b = append(b, `,"expiresOn":"`...)
	b = expiresOn.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, "\"}\n"...)
	return answer{status: http.StatusOK, body: b, user: user, expiresOn: expiresOn}
}

// userAnswer is the answer of GET {mount}/user: the caller's identity, as
// the JS SDK's CommunicationUserIdentifier.
func userAnswer(user string) answer {
	b := make([]byte, 0, 32+len(user))
	b = append(b, `{"communicationUserId":`...)
	b = appendJSONString(b, user)
	b = append(b, "}\n"...)
	return answer{status: http.StatusOK, body: b, user: user}
}

// WriteError writes the service's error answer: status and the JSON body
// {"error":{"code":"...","message":"..."}}, with Content-Type
// application/json. An app's own endpoints next to the Service can use it
// to answer in the same shape. The message is shown to the caller: never
// put a library error, a token or a key in it.
func WriteError(w http.ResponseWriter, status int, code, message string) {
	b := make([]byte, 0, 48+len(code)+len(message))
	b = append(b, `{"error":{"code":`...)
	b = appendJSONString(b, code)
	b = append(b, `,"message":`...)
	b = appendJSONString(b, message)
	b = append(b, "}}\n"...)
	writeBody(w, status, b)
}

var jsonContentType = []string{"application/json; charset=utf-8"}

func writeBody(w http.ResponseWriter, status int, b []byte) {
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(status)
	w.Write(b)
}

// appendJSONString appends s as a JSON string, exactly as encoding/json
// writes it: at once when s is printable ASCII that needs no escape (IDs
// and tokens are), else through encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
