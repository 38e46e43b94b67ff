package acsidentity

// TokenScope is a scope of an ACS access token. The set is extensible: a
// value this module does not list is sent as it is, and the service decides.
type TokenScope string

const (
	// TokenScopeChat grants full access to Chat.
	TokenScopeChat TokenScope = "chat"
	// TokenScopeVoIP grants full access to Calling.
	TokenScopeVoIP TokenScope = "voip"
	// TokenScopeChatJoin grants access to Chat without the right to create,
	// delete or update chat threads (api-version 2023-10-01 and later).
	TokenScopeChatJoin TokenScope = "chat.join"
	// TokenScopeChatJoinLimited is TokenScopeChatJoin without the right to add
	// or remove participants; use it when the bearer is not fully trusted, such
	// as a guest (api-version 2023-10-01 and later).
	TokenScopeChatJoinLimited TokenScope = "chat.join.limited"
	// TokenScopeVoIPJoin grants access to Calling without the right to start
	// new calls (api-version 2023-10-01 and later).
	TokenScopeVoIPJoin TokenScope = "voip.join"
)

// PossibleTokenScopeValues returns the token scopes the service documents.
func PossibleTokenScopeValues() []TokenScope {
	return []TokenScope{TokenScopeChat, TokenScopeVoIP, TokenScopeChatJoin, TokenScopeChatJoinLimited, TokenScopeVoIPJoin}
}
