package tokenservice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/acsgo/acsidentity"
)

// tokenRequest is the optional JSON body of POST {prefix}/token.
type tokenRequest struct {
	Scopes           []string        `json:"scopes"`
	ExpiresInMinutes json.RawMessage `json:"expiresInMinutes"`
}

// token is GET|POST {prefix}/token: a fresh token for the caller's identity
// (a new identity for an anonymous caller).
func (s *Service) token(w http.ResponseWriter, r *http.Request, c *caller, l *requestLog) {
	scopes, lifetime, ok := s.tokenParams(w, r, l)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.acsTimeout)
	defer cancel()
	resp, err := s.acs.CreateUserAndToken(ctx, scopes, &acsidentity.CreateUserAndTokenOptions{
		TokenExpiresIn: lifetime,
		CustomID:       c.customID,
	})
	if err != nil {
		s.acsFailed(w, r, l, "CreateUserAndToken", err)
		return
	}
	l.user, l.scopes, l.expiresOn = resp.User.ID, scopes, resp.ExpiresOn
	s.writeToken(w, l, resp.User.ID, resp.Token, resp.ExpiresOn)
}

// tokenParams reads the scopes and lifetime from the query string and, for
// POST, the JSON body; each may be given in one place only. It has answered
// the request when ok is false.
func (s *Service) tokenParams(w http.ResponseWriter, r *http.Request, l *requestLog) (scopes []acsidentity.TokenScope, lifetime time.Duration, ok bool) {
	q := readQuery(r.URL.RawQuery)
	names, scopesGiven, minutesText, lifetimeGiven := q.scopes, q.scopesGiven, q.minutes, q.minutesGiven
	if r.Method == http.MethodPost {
		var body tokenRequest
		present, ok := s.readJSON(w, r, l, &body, false)
		if !ok {
			return nil, 0, false
		}
		if present && body.Scopes != nil {
			if scopesGiven {
				s.writeError(w, l, http.StatusBadRequest, "InvalidRequest", "Give scopes in the query string or in the body, not both.")
				return nil, 0, false
			}
			scopesGiven, names = true, body.Scopes
		}
		if present && body.ExpiresInMinutes != nil {
			if lifetimeGiven {
				s.writeError(w, l, http.StatusBadRequest, "InvalidRequest", "Give expiresInMinutes in the query string or in the body, not both.")
				return nil, 0, false
			}
			lifetimeGiven, minutesText = true, string(body.ExpiresInMinutes)
		}
	}
	if !scopesGiven {
		scopes = s.defaults
	} else {
		for _, n := range names {
			sc := acsidentity.TokenScope(strings.TrimSpace(n))
			if !slices.Contains(s.scopes, sc) {
				s.writeError(w, l, http.StatusBadRequest, "InvalidScope", "Scopes must be "+s.scopeList()+".")
				return nil, 0, false
			}
			if !slices.Contains(scopes, sc) {
				scopes = append(scopes, sc)
			}
		}
		if len(scopes) == 0 {
			s.writeError(w, l, http.StatusBadRequest, "InvalidScope", "Name at least one scope, or leave scopes out for the default ("+s.defaultList+").")
			return nil, 0, false
		}
	}
	lifetime = s.lifetime
	if lifetimeGiven {
		m, err := strconv.Atoi(strings.TrimSpace(minutesText))
		if err != nil || m < s.minMinutes || m > s.maxMinutes {
			s.writeError(w, l, http.StatusBadRequest, "InvalidLifetime",
				fmt.Sprintf("expiresInMinutes must be a whole number from %d to %d.", s.minMinutes, s.maxMinutes))
			return nil, 0, false
		}
		lifetime = time.Duration(m) * time.Minute
	}
	return scopes, lifetime, true
}

// tokenQuery is what the token endpoint reads from a query string.
type tokenQuery struct {
	scopes       []string // every scopes value, split at commas
	scopesGiven  bool
	minutes      string // the first expiresInMinutes value
	minutesGiven bool
}

// readQuery reads raw as url.ParseQuery does, without making its map:
// "code" (the Functions key) and anything else is ignored.
func readQuery(raw string) (q tokenQuery) {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if strings.Contains(pair, ";") {
			continue
		}
		k, v, _ := strings.Cut(pair, "=")
		k, kerr := url.QueryUnescape(k)
		v, verr := url.QueryUnescape(v)
		switch {
		case kerr != nil || verr != nil:
		case k == "scopes":
			q.scopesGiven = true
			q.scopes = append(q.scopes, strings.Split(v, ",")...)
		case k == "expiresInMinutes" && !q.minutesGiven:
			q.minutesGiven, q.minutes = true, v
		}
	}
	return q
}

// scopeList names the allowed scopes for an error message: "chat, voip or
// voip.join".
func (s *Service) scopeList() string {
	names := make([]string, len(s.scopes))
	for i, sc := range s.scopes {
		names[i] = string(sc)
	}
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// teamsRequest is the body of POST {prefix}/token/teams.
type teamsRequest struct {
	// Token is the Teams user's Entra ID access token for ACS (scopes
	// Teams.ManageCalls and Teams.ManageChats).
	Token string `json:"token"`
	// AppID is the Entra application (client) ID the token was issued to.
	AppID string `json:"appId"`
	// UserID is the Teams user's Entra object ID. It may be left out when
	// Options.TeamsUserID knows the caller's.
	UserID string `json:"userId"`
}

// teamsToken is POST {prefix}/token/teams: it exchanges a Teams user's
// Entra ID token for an ACS token. ACS returns no user ID for this
// exchange, so neither does the service.
func (s *Service) teamsToken(w http.ResponseWriter, r *http.Request, c *caller, l *requestLog) {
	var req teamsRequest
	if _, ok := s.readJSON(w, r, l, &req, true); !ok {
		return
	}
	if s.teamsUserID != nil && c.kind == "authenticated" {
		oid, err := s.teamsUserID(r)
		if err != nil {
			s.authFailed(w, l, err)
			return
		}
		// A signed-in Entra ID caller may only exchange their own token.
		switch {
		case oid == "":
		case req.UserID == "":
			req.UserID = oid
		case req.UserID != oid:
			l.reason = "userId is not the caller's object ID"
			s.writeError(w, l, http.StatusForbidden, "Forbidden", "userId must be the signed-in caller's object ID.")
			return
		}
	}
	if strings.TrimSpace(req.Token) == "" || strings.TrimSpace(req.AppID) == "" || strings.TrimSpace(req.UserID) == "" {
		s.writeError(w, l, http.StatusBadRequest, "InvalidRequest", `The body must be {"token":"...","appId":"...","userId":"..."}.`)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.acsTimeout)
	defer cancel()
	resp, err := s.acs.GetTokenForTeamsUser(ctx, req.Token, req.AppID, req.UserID, nil)
	if err != nil {
		s.acsFailed(w, r, l, "GetTokenForTeamsUser", err)
		return
	}
	l.expiresOn = resp.ExpiresOn
	s.writeToken(w, l, "", resp.Token, resp.ExpiresOn)
}

// deleteUser is DELETE {prefix}/user: it revokes the caller's tokens and
// deletes the caller's identity. The identity is found the way it was made:
// a create with the caller's custom ID returns the existing one (or makes
// one, which is then deleted at once: the call is idempotent).
//
// It answers 204 only once the identity is deleted; any step that fails
// is an error, and the caller's retry starts again from the lookup. (When
// ACS deletes and then fails, the library's DeleteUser retries and reports
// success itself.) A 404 from the revoke or the delete means the identity
// just found is gone all the same, say deleted by a concurrent request of
// the same caller. That is the outcome the caller asked for, so it is a
// 204, not an error whose retry would make a new identity only to delete it.
func (s *Service) deleteUser(w http.ResponseWriter, r *http.Request, c *caller, l *requestLog) {
	if c.customID == "" {
		s.writeError(w, l, http.StatusForbidden, "NoLastingIdentity", "Anonymous callers get a new identity on every call; there is no identity to delete. Sign in to keep (and delete) one.")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.acsTimeout)
	defer cancel()
	u, err := s.acs.CreateUser(ctx, &acsidentity.CreateUserOptions{CustomID: c.customID})
	if err != nil {
		s.acsFailed(w, r, l, "CreateUser", err)
		return
	}
	l.user = u.User.ID
	if _, err := s.acs.RevokeTokens(ctx, u.User, nil); err != nil {
		if !isNotFound(err) {
			s.acsFailed(w, r, l, "RevokeTokens", err)
			return
		}
		l.reason = "the identity was already deleted (RevokeTokens: 404)"
	} else if _, err := s.acs.DeleteUser(ctx, u.User, nil); err != nil {
		if !isNotFound(err) {
			s.acsFailed(w, r, l, "DeleteUser", err)
			return
		}
		l.reason = "the identity was already deleted (DeleteUser: 404)"
	}
	l.status = http.StatusNoContent
	w.WriteHeader(http.StatusNoContent)
}

// isNotFound reports whether ACS answered 404.
func isNotFound(err error) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusNotFound
}

// readJSON reads a JSON body of at most MaxBodyBytes into v, refusing
// unknown fields. present reports whether there was a body; without one
// and with required it answers 400. It has answered the request when ok is
// false.
func (s *Service) readJSON(w http.ResponseWriter, r *http.Request, l *requestLog, v any, required bool) (present, ok bool) {
	tooLarge := func() (bool, bool) {
		s.writeError(w, l, http.StatusRequestEntityTooLarge, "RequestTooLarge", "The request body is too large.")
		return false, false
	}
	if r.ContentLength > s.maxBody {
		return tooLarge()
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return tooLarge()
		}
		s.writeError(w, l, http.StatusBadRequest, "InvalidRequest", "The request body could not be read.")
		return false, false
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		if required {
			s.writeError(w, l, http.StatusBadRequest, "InvalidRequest", "A JSON body is required.")
			return false, false
		}
		return false, true
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		s.writeError(w, l, http.StatusUnsupportedMediaType, "UnsupportedMediaType", "The body must be JSON (Content-Type: application/json).")
		return false, false
	}
	d := json.NewDecoder(strings.NewReader(string(body)))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil || d.More() {
		if name, ok := strings.CutPrefix(fmt.Sprint(err), "json: unknown field "); ok {
			if name, uerr := strconv.Unquote(name); uerr == nil {
				s.writeError(w, l, http.StatusBadRequest, "InvalidRequest", fmt.Sprintf("The body has an unknown field %s; the accepted fields are %s.", quoteField(name), strings.Join(jsonFields(v), ", ")))
				return false, false
			}
		}
		s.writeError(w, l, http.StatusBadRequest, "InvalidRequest", "The body is not a JSON object of the accepted fields ("+strings.Join(jsonFields(v), ", ")+").")
		return false, false
	}
	return true, true
}

// quoteField quotes a field name from the caller for an error message,
// shortened: the body may be up to MaxBodyBytes.
func quoteField(name string) string {
	const maxLen = 40
	if r := []rune(name); len(r) > maxLen {
		name = string(r[:maxLen]) + "…"
	}
	return strconv.Quote(name)
}

// jsonFields lists the JSON names of the fields of the struct v points to,
// quoted, for error messages.
func jsonFields(v any) []string {
	t := reflect.TypeOf(v).Elem()
	var names []string
	for f := range t.Fields() {
		if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name != "" && name != "-" {
			names = append(names, strconv.Quote(name))
		}
	}
	return names
}
