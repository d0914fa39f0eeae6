// Package provision is the engine of Gatehouse's pull sources (GitLab, LDAP):
// it reads a complete snapshot of the desired state from a [Source], plans
// the difference to the store's current managed state, guards against plans
// that would hurt by accident, applies the rest through package state and
// records the run.
//
// Connectors live in internal/connector/<name>. They implement [Source] (and
// any optional capability interface below) and depend on this package only,
// never the reverse and never on each other.
package provision

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

// Source reads the desired state of one identity source.
//
// Read returns a complete snapshot or an error: a read that could not see
// everything (a failed page, a timeout, a rate limit that outlasted its
// retries) must fail rather than return a smaller snapshot, because the
// engine treats whatever is absent from a snapshot as removed.
type Source interface {
	Read(ctx context.Context) (Snapshot, error)
}

// Snapshot is the whole desired state of a source. Users, groups and projects
// are identified by their external id, unique within the source; references
// between them (memberships, permissions) use those ids.
type Snapshot struct {
	Users  []User
	Groups []Group
	// Memberships are the effective memberships: a connector resolves
	// nesting and inheritance before it returns.
	Memberships []Membership

	// ManagesProjects says the source owns projects: Projects and
	// Permissions are then the complete desired set, and managed projects
	// missing from it are the engine's to retire. Sources that manage no
	// projects (LDAP) leave it false, and the engine touches none.
	ManagesProjects bool
	Projects        []Project
	Permissions     []ProjectPermission

	// Warnings are things the connector skipped without making the
	// snapshot incomplete (e.g. an entry without a login); they are shown
	// in the run.
	Warnings []string
}

// User is a user as the source sees it.
type User struct {
	ExternalID string
	Login      string
	Name       string
	Email      string
	// Active is false for accounts the source disables (e.g. Active
	// Directory's userAccountControl bit 2): the engine deactivates them.
	Active bool
}

// Group is a group as the source sees it. Name is the Gatehouse group name
// (GitLab: the full path).
type Group struct {
	ExternalID string
	Name       string
}

// Membership puts a user into a group, by external ids.
type Membership struct {
	UserExternalID  string
	GroupExternalID string
}

// Project is a project owned by the source.
type Project struct {
	ExternalID   string
	Key          string
	Name         string
	Visibility   identity.Visibility
	ExternalPath string // e.g. GitLab's path with namespace
}

// ProjectPermission grants one project permission to one user, by external
// ids.
type ProjectPermission struct {
	UserExternalID    string
	ProjectExternalID string
	Permission        identity.Permission
}

// Setting declares one setting of a connector. Settings are set by name
// through api/provisioning/settings (and the configuration); the engine
// stores them, encrypting those marked Secret, which are write-only.
type Setting struct {
	Name     string // e.g. "url", "ldap.bindPassword"
	Desc     string
	Default  string
	Secret   bool
	Required bool
}

// Connector makes a [Source] from its settings. The wiring registers one per
// source name in an explicit map; there is no registration by init().
type Connector interface {
	// Settings declares the connector's settings, in display order.
	Settings() []Setting
	// Open checks the values (every declared setting is present, defaults
	// filled in, secrets decrypted) and returns the source they describe.
	// Invalid values are an identity.ErrInvalid naming the setting.
	Open(ctx context.Context, values map[string]string) (Source, error)
}

// Checker is a connector that can verify its settings against the live
// source before they are saved (GitLab: the token is valid and has
// read_api; LDAP: each server answers). The error says what failed.
type Checker interface {
	Check(ctx context.Context, values map[string]string) error
}

// ErrDisabled is what [Connector.Open] returns when the settings switch the
// source's periodic sync off (GitLab back to JIT-only): the engine then
// schedules no run and the status says so. Sign-in syncs
// ([Engine.SyncUser]) still work.
var ErrDisabled = errors.New("the source's synchronization is disabled by its settings")

// Scheduled is a [Source] whose settings carry its own sync interval (LDAP:
// ldap.syncInterval). Other sources run every sync.interval (default 1 h).
type Scheduled interface {
	Interval() time.Duration
}

// Policy says how a source's groups and memberships meet Gatehouse's.
type Policy struct {
	// UseExistingGroups maps a source group onto an existing Gatehouse group
	// of the same name whatever its source (LDAP: "the group of that name,
	// created when missing"). The engine manages memberships of the
	// source's users in it but never renames or deletes it. Without it, a
	// name taken by a group of another source is skipped with a warning.
	UseExistingGroups bool
	// OwnAllMemberships makes every membership of the source's users the
	// source's: memberships in groups the source does not list are removed
	// (LDAP overrides local membership). Without it only memberships in the
	// source's groups are managed, except on the first run, which resets
	// manual memberships of provisioned accounts (SonarQube's rule).
	OwnAllMemberships bool
	// ReleaseGroupsOnDisable deletes the source's groups (with their
	// memberships and permissions) when its synchronization is switched
	// off (GitLab back to JIT-only, as SonarQube does); its users stay,
	// managed, for sign-in to update.
	ReleaseGroupsOnDisable bool
}

// PolicyConnector is a [Connector] with a [Policy] other than the zero one.
type PolicyConnector interface {
	Policy() Policy
}

// PatternSettings is a [Connector] whose settings include names it cannot
// list in advance (LDAP: ldap.<id>.url and the like for each server of
// ldap.servers). SettingFor declares such a name, or reports false; the
// engine then stores, shows and passes it like a listed one.
type PatternSettings interface {
	SettingFor(name string) (Setting, bool)
}
