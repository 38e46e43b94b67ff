// Package wire holds the JSON shapes of the ACS Identity REST API and the
// table of which operation each api-version has. The client and the emulator
// both use it, so a field name or a version rule is written once.
package wire

import (
	"bytes"
	"errors"
	"fmt"
	"time"
)

// TimeLayout is the service's date-time form, .NET's round-trip form with
// trailing zeros of the fraction trimmed ("FFFFFFF"): up to seven fractional
// digits and a numeric UTC offset, e.g. 2022-11-16T09:47:55.688402+00:00 or,
// on a whole second, 2025-04-14T15:32:27+00:00. Recorded answers of the real
// service never carry ".0000000".
const TimeLayout = "2006-01-02T15:04:05.9999999-07:00"

// FormatTime formats t the way the service does.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeLayout) }

// ParseTime parses an RFC 3339 date-time with any number of fractional digits
// (the service sends up to seven) and a Z or numeric offset.
func ParseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid date-time %q: %w", truncate(s, 64), err)
	}
	return t, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Time is a time.Time that marshals in TimeLayout and unmarshals any RFC 3339 form.
type Time struct{ time.Time }

// MarshalJSON implements json.Marshaler.
func (t Time) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, len(TimeLayout)+2)
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, TimeLayout)
	return append(b, '"'), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *Time) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		return errors.New("date-time is null")
	}
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return fmt.Errorf("date-time is not a JSON string: %s", truncate(string(b), 64))
	}
	v, err := ParseTime(string(b[1 : len(b)-1]))
	if err != nil {
		return err
	}
	t.Time = v
	return nil
}

// CreateRequest is CommunicationIdentityCreateRequest. CustomID is a
// pointer so that an empty customId (invalid) differs from none.
type CreateRequest struct {
	CustomID              *string  `json:"customId,omitempty"`
	CreateTokenWithScopes []string `json:"createTokenWithScopes,omitempty"`
	ExpiresInMinutes      *int     `json:"expiresInMinutes,omitempty"`
}

// IssueTokenRequest is CommunicationIdentityAccessTokenRequest.
type IssueTokenRequest struct {
	Scopes           []string `json:"scopes"`
	ExpiresInMinutes *int     `json:"expiresInMinutes,omitempty"`
}

// Identity is CommunicationIdentity.
type Identity struct {
	ID                string `json:"id"`
	CustomID          string `json:"customId,omitempty"`
	LastTokenIssuedAt *Time  `json:"lastTokenIssuedAt,omitempty"`
}

// AccessToken is CommunicationIdentityAccessToken.
type AccessToken struct {
	Token     string `json:"token"`
	ExpiresOn Time   `json:"expiresOn"`
}

// AccessTokenResult is CommunicationIdentityAccessTokenResult.
type AccessTokenResult struct {
	Identity    Identity     `json:"identity"`
	AccessToken *AccessToken `json:"accessToken,omitempty"`
}

// TeamsUserExchangeRequest is TeamsUserExchangeTokenRequest.
type TeamsUserExchangeRequest struct {
	Token  string `json:"token"`
	AppID  string `json:"appId"`
	UserID string `json:"userId"`
}

// TeamsExtensionAssignmentRequest is TeamsExtensionAssignmentCreateOrUpdateRequest.
type TeamsExtensionAssignmentRequest struct {
	PrincipalType string   `json:"principalType"`
	ClientIDs     []string `json:"clientIds,omitempty"`
}

// TeamsExtensionAssignment is TeamsExtensionAssignmentResponse.
type TeamsExtensionAssignment struct {
	ObjectID      string   `json:"objectId"`
	TenantID      string   `json:"tenantId"`
	PrincipalType string   `json:"principalType"`
	ClientIDs     []string `json:"clientIds,omitempty"`
}

// EntraAssignmentRequest is EntraAssignmentCreateOrUpdateRequest.
type EntraAssignmentRequest struct {
	TenantID      string   `json:"tenantId"`
	PrincipalType string   `json:"principalType"`
	ClientIDs     []string `json:"clientIds"`
}

// EntraAssignment is EntraAssignment.
type EntraAssignment struct {
	ObjectID      string   `json:"objectId"`
	TenantID      string   `json:"tenantId"`
	PrincipalType string   `json:"principalType"`
	ClientIDs     []string `json:"clientIds"`
}

// EntraAssignmentList is EntraAssignmentsResponse (one page).
type EntraAssignmentList struct {
	Value    []EntraAssignment `json:"value"`
	NextLink string            `json:"nextLink,omitempty"`
}

// ErrorResponse is CommunicationErrorResponse.
type ErrorResponse struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is CommunicationError.
type ErrorDetail struct {
	Code       string        `json:"code"`
	Message    string        `json:"message"`
	Target     string        `json:"target,omitempty"`
	Details    []ErrorDetail `json:"details,omitempty"`
	InnerError *ErrorDetail  `json:"innererror,omitempty"`
}
