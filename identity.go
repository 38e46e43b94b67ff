package acsidentity

import "time"

// CommunicationUserIdentifier identifies an ACS user: an identity made by
// this service, with an ID such as "8:acs:<resource>_<unique>".
type CommunicationUserIdentifier struct {
	// ID is the raw ID the service returned.
	ID string
}

// AccessToken is an ACS access token and the time it expires.
// The token is a secret: do not log it.
type AccessToken struct {
	// Token is the JWT to hand to the ACS Chat and Calling SDKs.
	Token string
	// ExpiresOn is when the token expires, as the service reported it.
	ExpiresOn time.Time
}

// String shows when the token expires, never the token, so that printing
// or logging a response does not leak it.
func (t AccessToken) String() string {
	return "{Token:REDACTED ExpiresOn:" + t.ExpiresOn.Format(time.RFC3339) + "}"
}

// GoString is String, for %#v.
func (t AccessToken) GoString() string { return "acsidentity.AccessToken" + t.String() }
