package gitlab

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/provision"
)

// Setting names.
const (
	SettingEnabled            = "enabled"
	SettingURL                = "url"
	SettingToken              = "token"
	SettingAllowedGroups      = "allowedGroups"
	SettingRoleMapping        = "roleMapping"
	SettingSyncEnabled        = "sync.enabled"
	SettingSyncInterval       = "sync.interval"
	SettingReadProjectMembers = "readProjectMembers"
	SettingJITEnabled         = "jit.enabled"
	SettingAllowSignUp        = "allowUsersToSignUp"
	SettingApplicationID      = "oauth.applicationId"
	SettingSecret             = "oauth.secret"
	SettingTimeout            = "timeout"
)

// Defaults.
const (
	DefaultURL          = "https://gitlab.com"
	DefaultSyncInterval = time.Hour
	DefaultTimeout      = 30 * time.Second
)

// settings declares every setting, in display order.
var settings = []provision.Setting{
	{Name: SettingEnabled, Desc: "GitLab integration on: sign-in through GitLab and, with sync.enabled, automatic provisioning. false turns both off and keeps the other settings (SonarQube's 'enabled').", Default: "true"},
	{Name: SettingURL, Desc: "URL of the GitLab instance, e.g. https://gitlab.example.com.", Default: DefaultURL, Required: true},
	{Name: SettingToken, Desc: "Provisioning token: a personal, group or service-account access token with the read_api scope (write-only, encrypted at rest). Checked on save: GitLab must accept it and it must have read_api or api. Its user must see every subgroup and project of the allowed groups: an administrator, a member of each allowed root group, or a group access token of it.", Secret: true},
	{Name: SettingAllowedGroups, Desc: "Comma-separated full paths of the GitLab root groups to provision; their subgroups at any depth are included. Users in none of them are deactivated."},
	{Name: SettingRoleMapping, Desc: "GitLab role → project permissions, as a JSON object of role name to permission keys (user, codeviewer, issueadmin, securityhotspotadmin, scan, admin). Base roles left out keep the default; custom roles are named as in GitLab and, without an entry, fall back to their base role.", Default: DefaultRoleMapping().String()},
	{Name: SettingSyncEnabled, Desc: "Automatic provisioning: scheduled and on-demand synchronization of allowed groups. false is JIT-only mode (users are created and updated at sign-in).", Default: "false"},
	{Name: SettingSyncInterval, Desc: "Time between automatic synchronizations (Go duration); the next run is one interval after the last.", Default: DefaultSyncInterval.String()},
	{Name: SettingReadProjectMembers, Desc: "Read each project's direct members. They come with GitLab's GraphQL listing of the allowed groups' projects: a query per 100 projects at most (up to three root groups share one), and one more per eight projects with over 50 direct members. false derives project permissions from group memberships and project shares only; direct project roles are then not seen.", Default: "true"},
	{Name: SettingJITEnabled, Desc: "Sign-in through GitLab synchronizes the user's memberships in allowed groups at that moment (SonarQube's 'synchronizeGroups').", Default: "true"},
	{Name: SettingAllowSignUp, Desc: "Sign-in through GitLab may create a user who does not exist yet (just-in-time). false lets only existing users sign in through GitLab.", Default: "true"},
	{Name: SettingApplicationID, Desc: "Application ID of the GitLab OAuth2 application used for sign-in (redirect URI: Gatehouse's GitLab callback)."},
	{Name: SettingSecret, Desc: "Secret of the GitLab OAuth2 application (write-only, encrypted at rest).", Secret: true},
	{Name: SettingTimeout, Desc: "Bound of each request to GitLab (Go duration).", Default: DefaultTimeout.String()},
}

// Config is the parsed configuration.
type Config struct {
	// URL is the instance's base URL, without /api/v4 or a trailing slash.
	// Enabled is the integration as a whole: false turns off sign-in
	// through GitLab and automatic provisioning.
	Enabled bool
	URL     string
	Token   string
	// AllowedGroups are root groups' full paths, in the order given.
	AllowedGroups      []string
	Roles              RoleMapping
	SyncEnabled        bool
	SyncInterval       time.Duration
	ReadProjectMembers bool
	JITEnabled         bool
	AllowSignUp        bool
	ApplicationID      string
	Secret             string
	Timeout            time.Duration
}

func invalid(format string, args ...any) error {
	return identity.Errorf(identity.ErrInvalid, format, args...)
}

// Parse reads a configuration from setting values (name → value; missing or
// blank names take their defaults). It checks formats only; [Connector.Check]
// asks GitLab.
func Parse(values map[string]string) (Config, error) {
	get := func(name string) string {
		if v := strings.TrimSpace(values[name]); v != "" {
			return v
		}
		for _, s := range settings {
			if s.Name == name {
				return s.Default
			}
		}
		return ""
	}
	var c Config
	var err error
	boolean := func(name string) bool {
		b, e := strconv.ParseBool(get(name))
		if e != nil && err == nil {
			err = invalid("%s: '%s' is not true or false", name, get(name))
		}
		return b
	}
	dur := func(name string) time.Duration {
		d, e := time.ParseDuration(get(name))
		if (e != nil || d <= 0) && err == nil {
			err = invalid("%s: '%s' is not a positive Go duration (e.g. 1h, 30m)", name, get(name))
		}
		return d
	}
	c.Enabled = boolean(SettingEnabled)
	c.SyncEnabled = boolean(SettingSyncEnabled)
	c.AllowSignUp = boolean(SettingAllowSignUp)
	c.ReadProjectMembers = boolean(SettingReadProjectMembers)
	c.JITEnabled = boolean(SettingJITEnabled)
	c.SyncInterval = dur(SettingSyncInterval)
	c.Timeout = dur(SettingTimeout)
	if err != nil {
		return Config{}, err
	}
	if c.URL, err = parseURL(get(SettingURL)); err != nil {
		return Config{}, err
	}
	c.Token = get(SettingToken)
	c.ApplicationID, c.Secret = get(SettingApplicationID), get(SettingSecret)
	if c.AllowedGroups, err = parseAllowedGroups(get(SettingAllowedGroups)); err != nil {
		return Config{}, err
	}
	if c.Roles, err = ParseRoleMapping(get(SettingRoleMapping)); err != nil {
		return Config{}, err
	}
	if c.Enabled && c.SyncEnabled {
		if c.Token == "" {
			return Config{}, invalid("%s: automatic provisioning needs a provisioning token with the read_api scope", SettingToken)
		}
		if len(c.AllowedGroups) == 0 {
			return Config{}, invalid("%s: automatic provisioning needs at least one allowed root group", SettingAllowedGroups)
		}
	}
	return c, nil
}

func parseURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", invalid("%s: '%s' is not the http(s) URL of a GitLab instance (e.g. https://gitlab.example.com)", SettingURL, s)
	}
	p := strings.TrimSuffix(u.Path, "/")
	p = strings.TrimSuffix(p, "/api/v4")
	u.Path, u.RawPath = strings.TrimSuffix(p, "/"), ""
	return u.String(), nil
}

func parseAllowedGroups(s string) ([]string, error) {
	var out []string
	for _, p := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' }) {
		p = strings.Trim(strings.TrimSpace(p), "/")
		if p == "" {
			continue
		}
		if i := strings.IndexByte(p, '/'); i >= 0 {
			return nil, invalid("%s: '%s' is a subgroup; allow its root group '%s' (subgroups are included)", SettingAllowedGroups, p, p[:i])
		}
		if !slices.ContainsFunc(out, func(o string) bool { return strings.EqualFold(o, p) }) {
			out = append(out, p)
		}
	}
	return out, nil
}
