package identity

// ExternalAccount is a user as a directory that authenticates its own users
// (LDAP) describes it at sign-in or on a look-up: what Gatehouse stores of
// the user and the groups the user belongs to there.
type ExternalAccount struct {
	Login, Name, Email, ExternalID string
	// Active is false for accounts the directory disables (Active
	// Directory's userAccountControl bit 2).
	Active bool
	// DN is the entry's distinguished name, for display only.
	DN string
	// Groups are the names of the user's groups in the directory. They are
	// meaningful only when GroupsManaged: a directory without group sync
	// leaves memberships to Gatehouse.
	Groups        []string
	GroupsManaged bool
	// NoSignUp: the account must exist already; a sign-in may update it
	// but not create it (GitLab's allowUsersToSignUp off, an SSO
	// connection without just-in-time creation).
	NoSignUp bool
}
