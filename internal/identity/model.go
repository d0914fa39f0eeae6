package identity

import (
	"time"
)

// Source says who manages a user, a group or a project.
type Source string

// Sources of identities (SPEC §1).
const (
	SourceLocal  Source = "local"
	SourceSCIM   Source = "scim"
	SourceGitLab Source = "gitlab"
	SourceLDAP   Source = "ldap"
	SourceSSO    Source = "sso"
)

// Managed reports whether objects of this source are read-only locally.
func (s Source) Managed() bool { return s != SourceLocal && s != "" }

// Title is the source's name as people write it ("SCIM", "GitLab").
func (s Source) Title() string {
	switch s {
	case SourceSCIM:
		return "SCIM"
	case SourceGitLab:
		return "GitLab"
	case SourceLDAP:
		return "LDAP"
	case SourceSSO:
		return "SSO"
	}
	return string(s)
}

// home says where an object of the source is edited.
func (s Source) home() string {
	switch s {
	case SourceGitLab:
		return "GitLab"
	case SourceLDAP:
		return "the LDAP directory"
	}
	return "your identity provider"
}

// Valid reports whether s is a known source.
func (s Source) Valid() bool {
	switch s {
	case SourceLocal, SourceSCIM, SourceGitLab, SourceLDAP, SourceSSO:
		return true
	}
	return false
}

// Names of the built-in groups.
const (
	GroupAdministrators = "sonar-administrators"
	GroupUsers          = "sonar-users"
	// GroupAnyone is the pseudo-group of public projects; it has no row.
	GroupAnyone = "Anyone"
)

// User is a person or service account.
type User struct {
	ID         int64
	Login      string
	Name       string
	Email      string
	ExternalID string // the identity provider's id, or "" for local users
	Source     Source
	Active     bool
	// PasswordHash is set for local users who may sign in with a password.
	PasswordHash string
	// Provider is the identity provider a local user without a password
	// signs in through (SonarQube's externalProvider of a user created with
	// local=false); "" for a password user and for managed users, whose
	// source signs them in.
	Provider    string
	SCMAccounts []string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	LastLoginAt time.Time // zero: never signed in interactively
	LastTokenAt time.Time // zero: no token ever used
}

// Group is a named set of users.
type Group struct {
	ID          int64
	Name        string
	Description string
	Source      Source
	ExternalID  string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// BuiltIn reports whether g is one of the built-in groups, which cannot be
// renamed or deleted.
func (g Group) BuiltIn() bool { return g.Name == GroupAdministrators || g.Name == GroupUsers }

// Visibility of a project.
type Visibility string

// Project visibilities.
const (
	Public  Visibility = "public"
	Private Visibility = "private"
)

// Valid reports whether v is public or private.
func (v Visibility) Valid() bool { return v == Public || v == Private }

// Project is an analysed code base.
type Project struct {
	ID           int64
	Key          string
	Name         string
	Visibility   Visibility
	Source       Source // local or gitlab
	ExternalID   string // GitLab project id
	ExternalPath string // GitLab path with namespace
	// Tags are SonarQube project tags: lower case, set with
	// api/project_tags/set.
	Tags []string
	// BadgeToken lets badge URLs of a private project be embedded; it grants
	// nothing else. Empty until first asked for.
	BadgeToken string
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// SubjectKind says what a grant is given to.
type SubjectKind string

// Subject kinds. Creator only appears in templates: it stands for the user who
// creates the project.
const (
	SubjectUser    SubjectKind = "user"
	SubjectGroup   SubjectKind = "group"
	SubjectAnyone  SubjectKind = "anyone"
	SubjectCreator SubjectKind = "creator"
)

// Subject is the receiver of a grant.
type Subject struct {
	Kind SubjectKind
	ID   int64 // user or group id; 0 for anyone and creator
}

// UserSubject returns the subject for user id.
func UserSubject(id int64) Subject { return Subject{Kind: SubjectUser, ID: id} }

// GroupSubject returns the subject for group id.
func GroupSubject(id int64) Subject { return Subject{Kind: SubjectGroup, ID: id} }

// Anyone is the subject of the Anyone pseudo-group.
var Anyone = Subject{Kind: SubjectAnyone}

// Grant gives a permission to a subject, globally (ProjectID 0) or on one
// project.
type Grant struct {
	Subject    Subject
	ProjectID  int64
	Permission Permission
}

// Global reports whether the grant is a global permission.
func (g Grant) Global() bool { return g.ProjectID == 0 }

// Template is a permission template applied to projects.
type Template struct {
	ID          int64
	Name        string
	Description string
	// KeyPattern is a Go regexp anchored on the whole project key; "" matches
	// no project (the template is then applied only as default or on demand).
	KeyPattern string
	Grants     []TemplateGrant
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// TemplateGrant is one permission a template gives to a subject; subject kind
// creator gives it to the project's creator.
type TemplateGrant struct {
	Subject    Subject
	Permission Permission
}

// Membership links a user to a group.
type Membership struct {
	UserID  int64
	GroupID int64
}

// AuditEvent is an append-only record of a write.
type AuditEvent struct {
	ID        int64
	Time      time.Time
	Actor     string // "user:<login>", "token:<id>", "connector:<source>" or "system"
	Action    string // e.g. "group.add_user"
	Target    string // e.g. "group:devs"
	Before    string // JSON, never secrets
	After     string // JSON, never secrets
	RequestID string
	// ClientAddress is the address of the client whose request made the
	// change (behind trusted proxies, the client they name); empty for
	// work of the server itself.
	ClientAddress string
}

// SyncStatus is the state of a sync run.
type SyncStatus string

// Sync run states.
const (
	SyncPending SyncStatus = "pending"
	SyncRunning SyncStatus = "running"
	SyncSuccess SyncStatus = "success"
	SyncFailed  SyncStatus = "failed"
	SyncAborted SyncStatus = "aborted"
)

// SyncTrigger says what started a sync run.
type SyncTrigger string

// Sync triggers.
const (
	TriggerSchedule SyncTrigger = "schedule"
	TriggerManual   SyncTrigger = "manual"
	TriggerStartup  SyncTrigger = "startup"
	TriggerLogin    SyncTrigger = "login"
)

// SyncCounts are what a sync run changed.
type SyncCounts struct {
	UsersCreated       int `json:"usersCreated"`
	UsersUpdated       int `json:"usersUpdated"`
	UsersDeactivated   int `json:"usersDeactivated"`
	UsersReactivated   int `json:"usersReactivated"`
	GroupsCreated      int `json:"groupsCreated"`
	GroupsUpdated      int `json:"groupsUpdated"`
	GroupsDeleted      int `json:"groupsDeleted"`
	MembershipsAdded   int `json:"membershipsAdded"`
	MembershipsRemoved int `json:"membershipsRemoved"`
	Projects           int `json:"projects"` // created or updated
	PermissionsChanged int `json:"permissionsChanged"`
	ProjectsCreated    int `json:"projectsCreated"`
	PermissionsGranted int `json:"permissionsGranted"`
	PermissionsRevoked int `json:"permissionsRevoked"`
	// Writes counts the store rows the run changed (each with its audit
	// event); a run that finds nothing to do writes none.
	Writes int `json:"writes"`
}

// SyncRun is one provisioning run of an identity source.
type SyncRun struct {
	ID         int64
	Source     Source
	Trigger    SyncTrigger
	Status     SyncStatus
	StartedAt  time.Time
	FinishedAt time.Time // zero while pending or running
	Counts     SyncCounts
	Warnings   []string
	Errors     []string
}
