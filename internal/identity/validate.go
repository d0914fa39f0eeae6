package identity

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode/utf8"
)

// Length limits from SonarQube's web-service definitions.
const (
	MaxLoginLen            = 255
	MinLoginLen            = 2
	MaxUserNameLen         = 200
	MaxEmailLen            = 100
	MaxGroupNameLen        = 255
	MaxGroupDescriptionLen = 200
	MaxProjectKeyLen       = 400
	MaxProjectNameLen      = 500
	MaxTokenNameLen        = 100
	MaxTemplateNameLen     = 100
	MaxTemplateDescLen     = 4000
	MaxPatternLen          = 500
)

// ValidText reports whether s is text every store keeps as it is: valid
// UTF-8 without a NUL byte (PostgreSQL refuses both).
func ValidText(s string) bool { return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 }

// SonarQube logins: letters, digits and . @ _ - , starting with a letter,
// digit or underscore... in practice it accepts any of these anywhere except a
// leading '-' or '.'. We follow its UserUpdater rule.
var loginRe = regexp.MustCompile(`^[a-zA-Z0-9_@][a-zA-Z0-9._@-]*$`)

// ValidateLogin checks a login against SonarQube's rules.
func ValidateLogin(login string) error {
	n := utf8.RuneCountInString(login)
	switch {
	case login == "":
		return Errorf(ErrInvalid, "Login can't be empty")
	case n < MinLoginLen:
		return Errorf(ErrInvalid, "Login is too short (minimum is %d characters)", MinLoginLen)
	case n > MaxLoginLen:
		return Errorf(ErrInvalid, "Login is too long (maximum is %d characters)", MaxLoginLen)
	case !loginRe.MatchString(login):
		return Errorf(ErrInvalid, "Login should contain only letters, numbers, and .-_@")
	}
	return nil
}

// ValidateUserName checks a user's display name.
func ValidateUserName(name string) error {
	if strings.TrimSpace(name) == "" {
		return Errorf(ErrInvalid, "Name can't be empty")
	}
	if utf8.RuneCountInString(name) > MaxUserNameLen {
		return Errorf(ErrInvalid, "Name is too long (maximum is %d characters)", MaxUserNameLen)
	}
	return nil
}

// ValidateEmail checks an optional e-mail address.
func ValidateEmail(email string) error {
	if utf8.RuneCountInString(email) > MaxEmailLen {
		return Errorf(ErrInvalid, "Email is too long (maximum is %d characters)", MaxEmailLen)
	}
	if email != "" && (!strings.Contains(email, "@") || strings.ContainsAny(email, " \t\r\n")) {
		return Errorf(ErrInvalid, "Email '%s' is not valid", email)
	}
	return nil
}

// ValidateUser checks every field of u that has a format rule.
func ValidateUser(u User) error {
	if err := ValidateLogin(u.Login); err != nil {
		return err
	}
	if err := ValidateUserName(u.Name); err != nil {
		return err
	}
	if err := ValidateEmail(u.Email); err != nil {
		return err
	}
	if !u.Source.Valid() {
		return Errorf(ErrInvalid, "Unknown identity source '%s'", u.Source)
	}
	return nil
}

// ValidateGroupName checks a group name. "Anyone" is reserved in any case.
func ValidateGroupName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return Errorf(ErrInvalid, "Group name cannot be empty")
	case utf8.RuneCountInString(name) > MaxGroupNameLen:
		return Errorf(ErrInvalid, "Group name cannot be longer than %d characters", MaxGroupNameLen)
	case strings.EqualFold(name, GroupAnyone):
		return Errorf(ErrInvalid, "Anyone group cannot be used")
	}
	return nil
}

// ValidateGroup checks every field of g that has a format rule.
func ValidateGroup(g Group) error {
	if err := ValidateGroupName(g.Name); err != nil {
		return err
	}
	if utf8.RuneCountInString(g.Description) > MaxGroupDescriptionLen {
		return Errorf(ErrInvalid, "Description cannot be longer than %d characters", MaxGroupDescriptionLen)
	}
	if !g.Source.Valid() {
		return Errorf(ErrInvalid, "Unknown identity source '%s'", g.Source)
	}
	return nil
}

// SonarQube's ComponentKeys.VALID_PROJECT_KEY_REGEXP: letters, digits, '-',
// '_', '.', ':', with at least one non-digit.
var projectKeyRe = regexp.MustCompile(`^[a-zA-Z0-9_\-.:]*[a-zA-Z\-_.:]+[a-zA-Z0-9_\-.:]*$`)

// ValidateProjectKey checks a project key against SonarQube's rules.
func ValidateProjectKey(key string) error {
	switch {
	case key == "":
		return Errorf(ErrInvalid, "The 'project' parameter is missing")
	case len(key) > MaxProjectKeyLen:
		return Errorf(ErrInvalid, "'project' length (%d) is longer than the maximum authorized (%d)", len(key), MaxProjectKeyLen)
	case !projectKeyRe.MatchString(key):
		return Errorf(ErrInvalid, "Malformed key for Project: '%s'. Allowed characters are alphanumeric, '-', '_', '.' and ':', with at least one non-digit.", key)
	}
	return nil
}

// ValidateProject checks every field of p that has a format rule.
func ValidateProject(p Project) error {
	if err := ValidateProjectKey(p.Key); err != nil {
		return err
	}
	if strings.TrimSpace(p.Name) == "" {
		return Errorf(ErrInvalid, "The 'name' parameter is missing")
	}
	if utf8.RuneCountInString(p.Name) > MaxProjectNameLen {
		return Errorf(ErrInvalid, "'name' length (%d) is longer than the maximum authorized (%d)", utf8.RuneCountInString(p.Name), MaxProjectNameLen)
	}
	if !p.Visibility.Valid() {
		return Errorf(ErrInvalid, "Value of parameter 'visibility' (%s) must be one of: [private, public]", p.Visibility)
	}
	if p.Source != SourceLocal && p.Source != SourceGitLab {
		return Errorf(ErrInvalid, "Projects can only come from local or gitlab, not '%s'", p.Source)
	}
	return nil
}

// MaxPatternInsts bounds the compiled size of a key pattern: a short pattern
// with nested counted repetitions (`.{0,999}` sixty times) would otherwise
// compile to megabytes and cost milliseconds per match, inside decisions.
const MaxPatternInsts = 5000

// CompileKeyPattern compiles a project key pattern anchored on the whole key.
func CompileKeyPattern(pattern string) (*regexp.Regexp, error) {
	if len(pattern) > MaxPatternLen {
		return nil, Errorf(ErrInvalid, "The project key pattern is longer than %d characters", MaxPatternLen)
	}
	bad := func() error {
		return Errorf(ErrInvalid, "The 'projectKeyPattern' parameter must be a valid Java regular expression. '%s' was passed", pattern)
	}
	// Parsed alone first, so that a pattern such as `a)|(b` cannot close the
	// anchoring group and escape it.
	parsed, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil, bad()
	}
	prog, err := syntax.Compile(parsed.Simplify())
	if err != nil {
		return nil, bad()
	}
	if len(prog.Inst) > MaxPatternInsts {
		return nil, Errorf(ErrInvalid, "The project key pattern '%.60s' is too complex", pattern)
	}
	re, err := regexp.Compile(`^(?:` + pattern + `)$`)
	if err != nil {
		return nil, bad()
	}
	return re, nil
}

// ValidateTemplate checks a permission template and its grants.
func ValidateTemplate(t Template) error {
	switch {
	case strings.TrimSpace(t.Name) == "":
		return Errorf(ErrInvalid, "The template name must not be blank")
	case utf8.RuneCountInString(t.Name) > MaxTemplateNameLen:
		return Errorf(ErrInvalid, "The template name is longer than %d characters", MaxTemplateNameLen)
	case utf8.RuneCountInString(t.Description) > MaxTemplateDescLen:
		return Errorf(ErrInvalid, "The template description is longer than %d characters", MaxTemplateDescLen)
	}
	if t.KeyPattern != "" {
		if _, err := CompileKeyPattern(t.KeyPattern); err != nil {
			return err
		}
	}
	for _, g := range t.Grants {
		if !g.Permission.IsProject() {
			return Errorf(ErrInvalid, "Template permission '%s' is not a project permission", g.Permission)
		}
	}
	return nil
}

// ValidateGrant checks that a grant is well formed for its target: global
// permissions globally, project permissions on projects, and no explicit grant
// of an implicit right on a public project.
func ValidateGrant(g Grant, project *Project) error {
	if g.Global() {
		if !g.Permission.IsGlobal() {
			return Errorf(ErrInvalid, "Value of parameter 'permission' (%s) must be one of: [%s]", g.Permission, joinPerms(GlobalPermissions))
		}
	} else {
		if !g.Permission.IsProject() {
			return Errorf(ErrInvalid, "Value of parameter 'permission' (%s) must be one of: [%s]", g.Permission, joinPerms(ProjectPermissions))
		}
		if project != nil && project.Visibility == Public && g.Permission.ImplicitOnPublic() {
			return Errorf(ErrInvalid, "Permission %s can't be granted on a public project", g.Permission)
		}
		if project != nil && project.Visibility == Private && g.Subject.Kind == SubjectAnyone {
			return Errorf(ErrInvalid, "No permission can be granted to Anyone on a private component")
		}
	}
	switch g.Subject.Kind {
	case SubjectUser, SubjectGroup:
		if g.Subject.ID <= 0 {
			return fmt.Errorf("%w: grant subject has no id", ErrInvalid)
		}
	case SubjectAnyone:
	default:
		return Errorf(ErrInvalid, "Unknown grant subject '%s'", g.Subject.Kind)
	}
	return nil
}

// SonarQube's tag rule: lower-case letters, digits and + # - . only.
var tagRe = regexp.MustCompile(`^[a-z0-9+#\-.]+$`)

// MaxTags bounds the tags of one project.
const MaxTags = 100

// NormalizeTags lower-cases, validates and de-duplicates project tags.
func NormalizeTags(tags []string) ([]string, error) {
	if len(tags) > MaxTags {
		return nil, Errorf(ErrInvalid, "A project can have at most %d tags", MaxTags)
	}
	seen := map[string]bool{}
	out := []string{}
	for _, t := range tags {
		t = strings.ToLower(strings.TrimSpace(t))
		if t == "" || seen[t] {
			continue
		}
		if len(t) > 255 || !tagRe.MatchString(t) {
			return nil, Errorf(ErrInvalid, "Tag '%s' is invalid. Tags accept only the characters: a-z, 0-9, '+', '-', '#', '.'", t)
		}
		seen[t] = true
		out = append(out, t)
	}
	return out, nil
}
