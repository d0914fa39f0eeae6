package importer

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

// csvFiles are the files of a CSV data set directory and their columns;
// every file is optional, a header row names the columns (in any order,
// the first required).
var csvFiles = []struct {
	name    string
	columns []string
}{
	{"users.csv", []string{"login", "name", "email", "scmAccounts"}},
	{"groups.csv", []string{"name", "description"}},
	{"memberships.csv", []string{"group", "login"}},
	{"projects.csv", []string{"key", "name", "visibility"}},
	{"permissions.csv", []string{"permission", "user", "group", "project"}},
	{"tokens.csv", []string{"login", "name", "type", "project"}},
}

// ReadCSVDir reads a data set from a directory of CSV files (users.csv,
// groups.csv, memberships.csv, projects.csv, permissions.csv, tokens.csv;
// see [csvFiles] for their columns). Templates are JSON-only. Several SCM
// accounts are separated by "|".
func ReadCSVDir(dir string) (*DataSet, error) {
	ds := &DataSet{}
	found := 0
	for _, f := range csvFiles {
		rows, err := readCSV(filepath.Join(dir, f.name), f.columns)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		found++
		for _, r := range rows {
			switch f.name {
			case "users.csv":
				u := User{Login: r["login"], Name: r["name"], Email: r["email"]}
				if s := r["scmAccounts"]; s != "" {
					u.SCMAccounts = strings.Split(s, "|")
				}
				ds.Users = append(ds.Users, u)
			case "groups.csv":
				ds.Groups = append(ds.Groups, Group{Name: r["name"], Description: r["description"]})
			case "memberships.csv":
				ds.Memberships = append(ds.Memberships, Membership{Group: r["group"], Login: r["login"]})
			case "projects.csv":
				ds.Projects = append(ds.Projects, Project{Key: r["key"], Name: r["name"], Visibility: identity.Visibility(r["visibility"])})
			case "permissions.csv":
				ds.Permissions = append(ds.Permissions, Permission{Permission: identity.Permission(r["permission"]), User: r["user"], Group: r["group"], Project: r["project"]})
			case "tokens.csv":
				ds.Tokens = append(ds.Tokens, Token{Login: r["login"], Name: r["name"], Type: r["type"], Project: r["project"]})
			}
		}
	}
	if found == 0 {
		return nil, fmt.Errorf("%s: no users.csv, groups.csv, memberships.csv, projects.csv, permissions.csv or tokens.csv", dir)
	}
	return ds, nil
}

// readCSV reads a CSV file with a header row into maps by column name.
func readCSV(path string, columns []string) ([]map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.TrimLeadingSpace = true
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: header: %w", path, err)
	}
	for i, h := range header {
		header[i] = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if !slices.Contains(columns, header[i]) {
			return nil, fmt.Errorf("%s: unknown column %q; the columns are %s", path, header[i], strings.Join(columns, ", "))
		}
	}
	if !slices.Contains(header, columns[0]) {
		return nil, fmt.Errorf("%s: column %q is required", path, columns[0])
	}
	var out []map[string]string
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		row := make(map[string]string, len(header))
		for i, v := range rec {
			row[header[i]] = strings.TrimSpace(v)
		}
		out = append(out, row)
	}
}
