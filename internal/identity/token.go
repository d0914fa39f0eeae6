package identity

import "time"

// TokenType is the kind of a token (SPEC §3).
type TokenType string

// Token types; the first three use SonarQube's names.
const (
	TokenUser            TokenType = "USER_TOKEN"
	TokenGlobalAnalysis  TokenType = "GLOBAL_ANALYSIS_TOKEN"
	TokenProjectAnalysis TokenType = "PROJECT_ANALYSIS_TOKEN"
	TokenOrganization    TokenType = "ORGANIZATION_TOKEN"
	TokenSCIM            TokenType = "SCIM_TOKEN"
)

// Valid reports whether t is a known token type.
func (t TokenType) Valid() bool {
	switch t {
	case TokenUser, TokenGlobalAnalysis, TokenProjectAnalysis, TokenOrganization, TokenSCIM:
		return true
	}
	return false
}

// ProjectSet selects projects by visibility for an organization token.
type ProjectSet string

// Project sets; "" selects none.
const (
	SetNone    ProjectSet = ""
	SetAll     ProjectSet = "all"
	SetPublic  ProjectSet = "public"
	SetPrivate ProjectSet = "private"
)

// Valid reports whether s is a known project set.
func (s ProjectSet) Valid() bool {
	switch s {
	case SetNone, SetAll, SetPublic, SetPrivate:
		return true
	}
	return false
}

// TokenScope is the project scope of an organization token: the union of a
// project set, key patterns and an explicit project list.
type TokenScope struct {
	Set      ProjectSet
	Patterns []string // regexps anchored on the whole key
	// ProjectCount is the size of the explicit list; the list itself is read
	// page by page from the store (it may hold many thousands of projects).
	ProjectCount int
}

// Token is a stored token. The secret itself is never stored: only its
// SHA-256 hash.
type Token struct {
	ID          int64
	Name        string
	Description string
	Type        TokenType
	UserID      int64 // owner for user-bound types; 0 for organization and SCIM tokens
	ProjectID   int64 // project analysis tokens only
	Hash        []byte
	// PrevHash stays valid until PrevValidUntil after a rotation with a grace
	// period.
	PrevHash       []byte
	PrevValidUntil time.Time
	CreatedBy      string // actor that created it
	CreatedAt      time.Time
	UpdatedAt      time.Time
	ExpiresAt      time.Time // zero: never
	LastUsedAt     time.Time // zero: never
	RevokedAt      time.Time // zero: not revoked
	// Permissions of an organization token (project permissions only).
	Permissions []Permission
	Scope       TokenScope
	// SCIMScopes of a SCIM token, e.g. "users:read".
	SCIMScopes []string
}

// Expired reports whether the token has expired at now.
func (t *Token) Expired(now time.Time) bool { return !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt) }

// Revoked reports whether the token was revoked.
func (t *Token) Revoked() bool { return !t.RevokedAt.IsZero() }

// Session is a signed-in browser. Its secret is the session cookie; the
// store keeps only the secret's SHA-256 hash, as for tokens. A session
// belongs to a user id, not a login: a login that is re-created or renamed
// never takes over another account's sessions.
type Session struct {
	ID         int64
	UserID     int64
	Hash       []byte
	CreatedAt  time.Time
	ExpiresAt  time.Time // always set: sessions end
	LastSeenAt time.Time // zero: never used after its sign-in
}

// Expired reports whether the session has ended by time at now.
func (s *Session) Expired(now time.Time) bool { return !now.Before(s.ExpiresAt) }
