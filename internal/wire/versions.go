package wire

import "slices"

// The api-versions this module knows.
const (
	V2021_03_07 = "2021-03-07"
	V2022_06_01 = "2022-06-01"
	V2022_10_01 = "2022-10-01"
	V2023_10_01 = "2023-10-01"
	V2025_06_30 = "2025-06-30"
	// V2026_07_22 is GA with the operations of 2025-06-30 (no custom ID, no
	// get identity, no Entra operations): specification/communication/
	// data-plane/Identity/stable/2026-07-22 in Azure/azure-rest-api-specs,
	// the only member of the TypeSpec Versions enum (models.tsp). No official
	// SDK or doc uses it yet, so it is not the default.
	V2026_07_22        = "2026-07-22"
	V2025_03_02Preview = "2025-03-02-preview"
)

// DefaultVersion is the newest GA api-version.
const DefaultVersion = V2025_06_30

// Versions lists the known api-versions, oldest first, the preview last.
// It is the package's own table: never hand it out of the module.
var Versions = []string{V2021_03_07, V2022_06_01, V2022_10_01, V2023_10_01, V2025_06_30, V2026_07_22, V2025_03_02Preview}

// Feature is an operation or an option that only some api-versions have.
type Feature int

// The features that are gated by api-version.
const (
	FeatureCreate Feature = iota
	FeatureDelete
	FeatureIssueToken
	FeatureRevoke
	FeatureTeamsUserExchange
	FeatureExpiresIn
	FeatureJoinScopes // chat.join, chat.join.limited, voip.join
	FeatureTeamsExtension
	FeatureCustomID
	FeatureGetIdentity
	FeatureEntra
	featureCount
)

var featureNames = [featureCount]string{
	FeatureCreate:            "create identity",
	FeatureDelete:            "delete identity",
	FeatureIssueToken:        "issue access token",
	FeatureRevoke:            "revoke access tokens",
	FeatureTeamsUserExchange: "Teams user token exchange",
	FeatureExpiresIn:         "custom token lifetime (expiresInMinutes)",
	FeatureJoinScopes:        "scopes chat.join, chat.join.limited and voip.join",
	FeatureTeamsExtension:    "Teams Phone extension operations",
	FeatureCustomID:          "custom ID (customId)",
	FeatureGetIdentity:       "get identity",
	FeatureEntra:             "Entra ID token exchange and assignments",
}

// String names the feature.
func (f Feature) String() string { return featureNames[f] }

// since is the set of versions that have each feature.
var since = [featureCount][]string{
	FeatureCreate:            Versions,
	FeatureDelete:            Versions,
	FeatureIssueToken:        Versions,
	FeatureRevoke:            Versions,
	FeatureTeamsUserExchange: {V2022_06_01, V2022_10_01, V2023_10_01, V2025_06_30, V2026_07_22, V2025_03_02Preview},
	FeatureExpiresIn:         {V2022_10_01, V2023_10_01, V2025_06_30, V2026_07_22, V2025_03_02Preview},
	FeatureJoinScopes:        {V2023_10_01, V2025_06_30, V2026_07_22, V2025_03_02Preview},
	FeatureTeamsExtension:    {V2025_06_30, V2026_07_22, V2025_03_02Preview},
	FeatureCustomID:          {V2025_03_02Preview},
	FeatureGetIdentity:       {V2025_03_02Preview},
	FeatureEntra:             {V2025_03_02Preview},
}

// Known reports whether v is one of Versions.
func Known(v string) bool { return slices.Contains(Versions, v) }

// Has reports whether api-version v has feature f. Unknown versions have
// nothing; callers decide what an unknown version means to them.
func Has(v string, f Feature) bool { return slices.Contains(since[f], v) }

// VersionsWith returns the versions that have f, oldest first. The slice is
// a copy: the caller may sort or edit it without changing the table.
func VersionsWith(f Feature) []string { return slices.Clone(since[f]) }
