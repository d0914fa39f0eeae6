package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

const projectCols = "id, project_key, name, visibility, source, external_id, external_path, created_at, updated_at, tags, badge_token"

const projectOrder = "LOWER(project_key), project_key, id"

func scanProject(sc scanner) (identity.Project, error) {
	var (
		p                  identity.Project
		visibility, source string
		created, updated   sql.NullInt64
		tags               string
	)
	if err := sc.Scan(&p.ID, &p.Key, &p.Name, &visibility, &source, &p.ExternalID, &p.ExternalPath, &created, &updated, &tags, &p.BadgeToken); err != nil {
		return p, fmt.Errorf("scan project: %w", err)
	}
	var err error
	if p.Tags, err = decodeList[string](tags); err != nil {
		return p, fmt.Errorf("project %d tags: %w", p.ID, err)
	}
	p.Visibility, p.Source = identity.Visibility(visibility), identity.Source(source)
	p.CreatedAt, p.UpdatedAt = fromMicros(created), fromMicros(updated)
	return p, nil
}

// GetProject returns the project with the given id.
func (r *reader) GetProject(ctx context.Context, id int64) (identity.Project, error) {
	p, err := scanProject(r.queryRow(ctx, "SELECT "+projectCols+" FROM projects WHERE id = ?", id))
	if err != nil {
		return p, fmt.Errorf("get project: %w", rowErr(err, "project", id))
	}
	return p, nil
}

// GetProjectByKey returns the project with exactly this key.
func (r *reader) GetProjectByKey(ctx context.Context, key string) (identity.Project, error) {
	p, err := scanProject(r.queryRow(ctx, "SELECT "+projectCols+" FROM projects WHERE project_key = ?", key))
	if err != nil {
		return p, fmt.Errorf("get project by key: %w", rowErr(err, "project", fmt.Sprintf("%q", key)))
	}
	return p, nil
}

// ListProjects lists projects by key.
func (r *reader) ListProjects(ctx context.Context, f store.ProjectFilter) ([]identity.Project, int, error) {
	var w filter
	if f.Query != "" {
		p := containsPattern(f.Query)
		w.add("("+likeCond("project_key")+" OR "+likeCond("name")+")", p, p)
	}
	if f.Keys != nil {
		w.addAnyOf(r.f, "project_key", f.Keys)
	}
	if f.IDs != nil {
		w.addAnyOf(r.f, "id", f.IDs)
	}
	if f.Visibility != "" {
		w.add("visibility = ?", string(f.Visibility))
	}
	if f.Source != "" {
		w.add("source = ?", string(f.Source))
	}
	ps, total, err := list(ctx, r, &w, "SELECT "+projectCols+" FROM projects", "projects", projectOrder, f.Page, scanProject)
	if err != nil {
		return nil, 0, fmt.Errorf("list projects: %w", err)
	}
	return ps, total, nil
}

// CreateProject inserts p and returns it with its id and timestamps.
func (t *txn) CreateProject(ctx context.Context, p identity.Project) (identity.Project, error) {
	n := now()
	p.CreatedAt, p.UpdatedAt = orNow(p.CreatedAt, n), orNow(p.UpdatedAt, n)
	tags, err := encodeList(p.Tags)
	if err != nil {
		return p, fmt.Errorf("create project %q: %w", p.Key, err)
	}
	p.ID, err = t.insertID(ctx, `INSERT INTO projects (project_key, name, visibility, source, external_id, external_path,
		created_at, updated_at, tags, badge_token) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		p.Key, p.Name, string(p.Visibility), string(p.Source), p.ExternalID, p.ExternalPath,
		micros(p.CreatedAt), micros(p.UpdatedAt), tags, p.BadgeToken)
	if err != nil {
		return p, fmt.Errorf("create project %q: %w", p.Key, err)
	}
	return p, nil
}

// UpdateProject rewrites every field of project p.ID but CreatedAt; a zero
// UpdatedAt becomes the current time.
func (t *txn) UpdateProject(ctx context.Context, p identity.Project) error {
	tags, err := encodeList(p.Tags)
	if err != nil {
		return fmt.Errorf("update project: %w", err)
	}
	n, err := t.execAffected(ctx, `UPDATE projects SET project_key = ?, name = ?, visibility = ?, source = ?,
		external_id = ?, external_path = ?, updated_at = ?, tags = ?, badge_token = ? WHERE id = ?`,
		p.Key, p.Name, string(p.Visibility), string(p.Source), p.ExternalID, p.ExternalPath,
		micros(orNow(p.UpdatedAt, now())), tags, p.BadgeToken, p.ID)
	if err := mustAffect(n, err, "project", p.ID); err != nil {
		return fmt.Errorf("update project: %w", err)
	}
	return nil
}

// DeleteProject removes the project, its grants, its place in token scopes
// and the project analysis tokens on it.
func (t *txn) DeleteProject(ctx context.Context, id int64) error {
	n, err := t.execAffected(ctx, "DELETE FROM projects WHERE id = ?", id)
	if err := mustAffect(n, err, "project", id); err != nil {
		return fmt.Errorf("delete project: %w", err)
	}
	for _, q := range []string{
		"DELETE FROM grants WHERE project_id = ?",
		"DELETE FROM token_projects WHERE project_id = ?",
		"DELETE FROM token_projects WHERE token_id IN (SELECT id FROM tokens WHERE token_type = '" +
			string(identity.TokenProjectAnalysis) + "' AND project_id = ?)",
		"DELETE FROM tokens WHERE token_type = '" + string(identity.TokenProjectAnalysis) + "' AND project_id = ?",
	} {
		if _, err := t.exec(ctx, q, id); err != nil {
			return fmt.Errorf("delete project %d: %w", id, err)
		}
	}
	return nil
}
