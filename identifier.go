package acsidentity

import "strings"

// CommunicationIdentifier is an identity that Azure Communication Services
// knows: an ACS user, a phone number, a Microsoft Teams user or app, a Teams
// Phone extension user, or an identifier of a kind this module does not know.
//
// The raw ID is the identifier's canonical string form: it is what ACS sends
// and stores, and two identifiers are the same identity exactly when their raw
// IDs are equal (see [IdentifiersEqual]). [IdentifierFromRawID] turns a raw ID
// back into the typed identifier it encodes.
//
// The interface is deliberately not sealed: the raw ID is all the service
// needs, so a type of the caller's own that returns a valid raw ID works
// wherever a CommunicationIdentifier is accepted. Code that switches on the
// concrete type should treat any type it does not list like
// [UnknownIdentifier].
type CommunicationIdentifier interface {
	// RawID returns the identifier's raw ID, such as "8:acs:<resource>_<id>"
	// or "4:+14255550123".
	RawID() string
}

// CommunicationCloudEnvironment is the Microsoft cloud a Teams identity
// belongs to. The empty value means [CommunicationCloudPublic]; so does any
// value this module does not know, as in the other ACS SDKs.
type CommunicationCloudEnvironment string

const (
	// CommunicationCloudPublic is the public (commercial) cloud.
	CommunicationCloudPublic CommunicationCloudEnvironment = "public"
	// CommunicationCloudDoD is the US Department of Defense cloud.
	CommunicationCloudDoD CommunicationCloudEnvironment = "dod"
	// CommunicationCloudGCCH is the US Government Community Cloud High.
	CommunicationCloudGCCH CommunicationCloudEnvironment = "gcch"
)

// Raw-ID prefixes, as in the .NET SDK's CommunicationIdentifier.cs.
const (
	prefixPhone             = "4:"
	prefixTeamsAppPublic    = "28:orgid:"
	prefixTeamsAppDoD       = "28:dod:"
	prefixTeamsAppGCCH      = "28:gcch:"
	prefixTeamsUserAnon     = "8:teamsvisitor:"
	prefixTeamsUserPublic   = "8:orgid:"
	prefixTeamsUserDoD      = "8:dod:"
	prefixTeamsUserGCCH     = "8:gcch:"
	prefixACSUser           = "8:acs:"
	prefixACSUserDoD        = "8:dod-acs:"
	prefixACSUserGCCH       = "8:gcch-acs:"
	prefixSpoolUser         = "8:spool:"
	phoneNumberAnonymous    = "anonymous"
	teamsExtensionSeparator = "_"
)

// RawID returns u.ID, which is the raw ID itself.
func (u CommunicationUserIdentifier) RawID() string { return u.ID }

// PhoneNumberIdentifier identifies a phone number in a call, raw ID
// "4:<phone number>".
//
// IsAnonymous and AssertedID describe the raw ID: [IdentifierFromRawID] sets
// them, and the service may send them, but RawID does not read them.
type PhoneNumberIdentifier struct {
	// PhoneNumber is the number as it appears in the raw ID, kept verbatim:
	// a leading "+" is neither added nor removed.
	PhoneNumber string
	// IsAnonymous reports whether the number is withheld (raw ID
	// "4:anonymous").
	IsAnonymous bool
	// AssertedID is the text after the last "_" of the raw ID, or "" when
	// the raw ID has no "_" or ends with one (JS rule; .NET also gives "").
	AssertedID string
	// RawIDOverride, when not empty, is returned by RawID instead of the
	// raw ID formatted from PhoneNumber.
	RawIDOverride string
}

// RawID returns p.RawIDOverride if set, else "4:" + p.PhoneNumber.
func (p PhoneNumberIdentifier) RawID() string {
	if p.RawIDOverride != "" {
		return p.RawIDOverride
	}
	return prefixPhone + p.PhoneNumber
}

// MicrosoftTeamsUserIdentifier identifies a Microsoft Teams user, raw ID
// "8:orgid:<id>", "8:dod:<id>", "8:gcch:<id>", or "8:teamsvisitor:<id>" for
// an anonymous user.
type MicrosoftTeamsUserIdentifier struct {
	// UserID is the user's Entra ID object ID, or the visitor ID of an
	// anonymous user.
	UserID string
	// IsAnonymous reports whether the user is an anonymous Teams visitor;
	// it wins over Cloud when the raw ID is formatted.
	IsAnonymous bool
	// Cloud is the cloud the user belongs to; "" means public.
	Cloud CommunicationCloudEnvironment
	// RawIDOverride, when not empty, is returned by RawID instead of the
	// raw ID formatted from the other fields.
	RawIDOverride string
}

// RawID returns t.RawIDOverride if set, else the raw ID formatted from the
// other fields.
func (t MicrosoftTeamsUserIdentifier) RawID() string {
	switch {
	case t.RawIDOverride != "":
		return t.RawIDOverride
	case t.IsAnonymous:
		return prefixTeamsUserAnon + t.UserID
	case t.Cloud == CommunicationCloudDoD:
		return prefixTeamsUserDoD + t.UserID
	case t.Cloud == CommunicationCloudGCCH:
		return prefixTeamsUserGCCH + t.UserID
	default:
		return prefixTeamsUserPublic + t.UserID
	}
}

// MicrosoftTeamsAppIdentifier identifies a Microsoft Teams app (a bot or a
// Teams voice application), raw ID "28:orgid:<id>", "28:dod:<id>" or
// "28:gcch:<id>".
type MicrosoftTeamsAppIdentifier struct {
	// AppID is the app's ID.
	AppID string
	// Cloud is the cloud the app belongs to; "" means public.
	Cloud CommunicationCloudEnvironment
	// RawIDOverride, when not empty, is returned by RawID instead of the
	// raw ID formatted from the other fields.
	RawIDOverride string
}

// RawID returns a.RawIDOverride if set, else the raw ID formatted from the
// other fields.
func (a MicrosoftTeamsAppIdentifier) RawID() string {
	switch {
	case a.RawIDOverride != "":
		return a.RawIDOverride
	case a.Cloud == CommunicationCloudDoD:
		return prefixTeamsAppDoD + a.AppID
	case a.Cloud == CommunicationCloudGCCH:
		return prefixTeamsAppGCCH + a.AppID
	default:
		return prefixTeamsAppPublic + a.AppID
	}
}

// TeamsExtensionUserIdentifier identifies a Teams Phone extension user, raw
// ID "8:acs:<resource>_<tenant>_<user>" ("8:dod-acs:" or "8:gcch-acs:" in
// the government clouds).
type TeamsExtensionUserIdentifier struct {
	// UserID is the user's Entra ID object ID.
	UserID string
	// TenantID is the Entra ID tenant of the user.
	TenantID string
	// ResourceID is the ID of the ACS resource.
	ResourceID string
	// Cloud is the cloud the user belongs to; "" means public.
	Cloud CommunicationCloudEnvironment
	// RawIDOverride, when not empty, is returned by RawID instead of the
	// raw ID formatted from the other fields.
	RawIDOverride string
}

// RawID returns e.RawIDOverride if set, else the raw ID formatted from the
// other fields.
func (e TeamsExtensionUserIdentifier) RawID() string {
	if e.RawIDOverride != "" {
		return e.RawIDOverride
	}
	prefix := prefixACSUser
	switch e.Cloud {
	case CommunicationCloudDoD:
		prefix = prefixACSUserDoD
	case CommunicationCloudGCCH:
		prefix = prefixACSUserGCCH
	}
	return prefix + e.ResourceID + teamsExtensionSeparator + e.TenantID + teamsExtensionSeparator + e.UserID
}

// UnknownIdentifier is an identifier of a kind this module does not know;
// its ID is the raw ID, kept as it is.
type UnknownIdentifier struct {
	// ID is the raw ID.
	ID string
}

// RawID returns u.ID.
func (u UnknownIdentifier) RawID() string { return u.ID }

// IdentifierFromRawID returns the typed identifier that raw encodes,
// following the current rules of the JS and .NET SDKs:
//
//   - "4:<number>" is a [PhoneNumberIdentifier], the number kept verbatim.
//   - Otherwise raw must have exactly three ":"-separated segments, or it is
//     an [UnknownIdentifier]. The first two segments choose the kind:
//     "8:teamsvisitor:", "8:orgid:", "8:dod:" and "8:gcch:" give a
//     [MicrosoftTeamsUserIdentifier]; "28:orgid:", "28:dod:" and "28:gcch:"
//     a [MicrosoftTeamsAppIdentifier]; "8:acs:", "8:dod-acs:" and
//     "8:gcch-acs:" a [TeamsExtensionUserIdentifier] when the rest has
//     exactly three "_"-separated parts and a [CommunicationUserIdentifier]
//     otherwise; "8:spool:" a CommunicationUserIdentifier.
//   - Anything else, the empty string included, is an UnknownIdentifier.
//
// It never fails, and the result's RawID is always raw itself: every kind
// formats back to exactly the string it was parsed from, so the result's
// RawIDOverride is left empty. An anonymous Teams visitor gets no Cloud, as
// in JS (.NET sets public; both format the same).
func IdentifierFromRawID(raw string) CommunicationIdentifier {
	if rest, ok := strings.CutPrefix(raw, prefixPhone); ok {
		p := PhoneNumberIdentifier{PhoneNumber: rest, IsAnonymous: rest == phoneNumberAnonymous}
		// JS: the index of the last "_" in the raw ID must be > 0 and not
		// the last character; with the "4:" prefix only the latter matters.
		if i := strings.LastIndexByte(raw, '_'); i > 0 && i < len(raw)-1 {
			p.AssertedID = raw[i+1:]
		}
		return p
	}

	// Exactly three ":"-separated segments: two separators in all.
	first := strings.IndexByte(raw, ':')
	if first < 0 {
		return UnknownIdentifier{ID: raw}
	}
	second := strings.IndexByte(raw[first+1:], ':')
	if second < 0 {
		return UnknownIdentifier{ID: raw}
	}
	cut := first + 1 + second + 1
	prefix, suffix := raw[:cut], raw[cut:]
	if strings.IndexByte(suffix, ':') >= 0 {
		return UnknownIdentifier{ID: raw}
	}

	switch prefix {
	case prefixTeamsUserAnon:
		return MicrosoftTeamsUserIdentifier{UserID: suffix, IsAnonymous: true}
	case prefixTeamsUserPublic:
		return MicrosoftTeamsUserIdentifier{UserID: suffix, Cloud: CommunicationCloudPublic}
	case prefixTeamsUserDoD:
		return MicrosoftTeamsUserIdentifier{UserID: suffix, Cloud: CommunicationCloudDoD}
	case prefixTeamsUserGCCH:
		return MicrosoftTeamsUserIdentifier{UserID: suffix, Cloud: CommunicationCloudGCCH}
	case prefixACSUser:
		return acsUserOrExtension(raw, suffix, CommunicationCloudPublic)
	case prefixACSUserDoD:
		return acsUserOrExtension(raw, suffix, CommunicationCloudDoD)
	case prefixACSUserGCCH:
		return acsUserOrExtension(raw, suffix, CommunicationCloudGCCH)
	case prefixSpoolUser:
		return CommunicationUserIdentifier{ID: raw}
	case prefixTeamsAppPublic:
		return MicrosoftTeamsAppIdentifier{AppID: suffix, Cloud: CommunicationCloudPublic}
	case prefixTeamsAppDoD:
		return MicrosoftTeamsAppIdentifier{AppID: suffix, Cloud: CommunicationCloudDoD}
	case prefixTeamsAppGCCH:
		return MicrosoftTeamsAppIdentifier{AppID: suffix, Cloud: CommunicationCloudGCCH}
	}
	return UnknownIdentifier{ID: raw}
}

// acsUserOrExtension parses the suffix of an "8:acs:"-style raw ID:
// resource_tenant_user is a Teams extension user, anything else an ACS user.
func acsUserOrExtension(raw, suffix string, cloud CommunicationCloudEnvironment) CommunicationIdentifier {
	parts := strings.Split(suffix, teamsExtensionSeparator)
	if len(parts) != 3 {
		return CommunicationUserIdentifier{ID: raw}
	}
	return TeamsExtensionUserIdentifier{ResourceID: parts[0], TenantID: parts[1], UserID: parts[2], Cloud: cloud}
}

// IdentifiersEqual reports whether a and b are the same identity, which is
// the case exactly when their raw IDs are equal (the .NET SDK's rule). Two
// nil identifiers are equal; nil and non-nil are not.
func IdentifiersEqual(a, b CommunicationIdentifier) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.RawID() == b.RawID()
}
