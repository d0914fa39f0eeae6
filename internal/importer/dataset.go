package importer

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

// DataSet is everything an import writes, with subjects and projects named
// as SonarQube names them (login, group name, project key). It is also the
// JSON format of `gatehouse import FILE`.
type DataSet struct {
	Users       []User       `json:"users,omitempty"`
	Groups      []Group      `json:"groups,omitempty"`
	Memberships []Membership `json:"memberships,omitempty"`
	Projects    []Project    `json:"projects,omitempty"`
	Permissions []Permission `json:"permissions,omitempty"`
	Templates   []Template   `json:"templates,omitempty"`
	// Tokens are the source's tokens, listed because their secrets cannot
	// be read: they must be re-created. Nothing is written for them.
	Tokens []Token `json:"tokens,omitempty"`
	// GlobalPermissionsComplete says Permissions hold every global
	// permission of the source (the SonarQube reader sets it). The global
	// grants of sonar-users the source lacks are then removed: a fresh
	// Gatehouse grants sonar-users SonarQube's defaults (scan,
	// provisioning), and an import of a locked-down instance must not come
	// out more permissive than its source.
	GlobalPermissionsComplete bool `json:"globalPermissionsComplete,omitempty"`
}

// User is a user to create; imported users have no password.
type User struct {
	Login       string   `json:"login"`
	Name        string   `json:"name"`
	Email       string   `json:"email,omitempty"`
	SCMAccounts []string `json:"scmAccounts,omitempty"`
	// ExternalProvider is who authenticated the user in the source
	// ("sonarqube" or empty for local users, "github", "saml", "LDAP_…").
	// Every imported user is a local user of Gatehouse; the summary counts
	// the others so that the matching connector can be configured.
	ExternalProvider string `json:"externalProvider,omitempty"`
	ExternalIdentity string `json:"externalIdentity,omitempty"`
}

// Local reports whether the source authenticated the user itself.
func (u User) Local() bool { return u.ExternalProvider == "" || u.ExternalProvider == "sonarqube" }

// Group is a group to create. The built-in groups exist already.
type Group struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// Membership puts a user in a group. Memberships of sonar-users are
// implicit and left out.
type Membership struct {
	Group string `json:"group"`
	Login string `json:"login"`
}

// Project is a project to create, without a template: its permissions are
// the data set's.
type Project struct {
	Key        string              `json:"key"`
	Name       string              `json:"name"`
	Visibility identity.Visibility `json:"visibility,omitempty"` // private when empty
}

// Permission grants a permission to a user or a group ("Anyone" for the
// pseudo-group), globally or on Project.
type Permission struct {
	Permission identity.Permission `json:"permission"`
	User       string              `json:"user,omitempty"`
	Group      string              `json:"group,omitempty"`
	Project    string              `json:"project,omitempty"`
}

// Template is a permission template. Its permissions replace those of a
// template of the same name (case-insensitive) that exists already.
type Template struct {
	Name        string               `json:"name"`
	Description string               `json:"description,omitempty"`
	KeyPattern  string               `json:"projectKeyPattern,omitempty"`
	Default     bool                 `json:"default,omitempty"`
	Permissions []TemplatePermission `json:"permissions,omitempty"`
}

// TemplatePermission is one permission of a template, to a user, a group
// or the project's creator.
type TemplatePermission struct {
	Permission     identity.Permission `json:"permission"`
	User           string              `json:"user,omitempty"`
	Group          string              `json:"group,omitempty"`
	ProjectCreator bool                `json:"projectCreator,omitempty"`
}

// Token is a token of the source that must be re-created.
type Token struct {
	Login   string `json:"login"`
	Name    string `json:"name"`
	Type    string `json:"type,omitempty"`
	Project string `json:"project,omitempty"`
}

// ReadFile reads a data set from a JSON file (the [DataSet] format), or
// from a directory of CSV files ([ReadCSVDir]).
func ReadFile(path string) (*DataSet, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return ReadCSVDir(path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ds, err := Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ds, nil
}

// WriteFile writes a data set as JSON, readable by [ReadFile]; the file is
// created with mode 0600 (it names every user).
func WriteFile(path string, ds *DataSet) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	if err := enc.Encode(ds); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

// Decode reads a data set in JSON; unknown fields are an error, so that a
// misspelt key does not silently import nothing.
func Decode(r io.Reader) (*DataSet, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var ds DataSet
	if err := dec.Decode(&ds); err != nil {
		return nil, fmt.Errorf("decode data set: %w", err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return nil, errors.New("decode data set: trailing data after the JSON object")
	}
	return &ds, nil
}
