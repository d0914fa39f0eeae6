package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

const templateCols = "id, name, description, key_pattern, created_at, updated_at"

func scanTemplate(sc scanner) (identity.Template, error) {
	var (
		t                identity.Template
		created, updated sql.NullInt64
	)
	if err := sc.Scan(&t.ID, &t.Name, &t.Description, &t.KeyPattern, &created, &updated); err != nil {
		return t, fmt.Errorf("scan template: %w", err)
	}
	t.CreatedAt, t.UpdatedAt = fromMicros(created), fromMicros(updated)
	return t, nil
}

type templateGrantRow struct {
	templateID int64
	grant      identity.TemplateGrant
}

func scanTemplateGrant(sc scanner) (templateGrantRow, error) {
	var (
		row        templateGrantRow
		kind, perm string
	)
	if err := sc.Scan(&row.templateID, &kind, &row.grant.Subject.ID, &perm); err != nil {
		return row, fmt.Errorf("scan template grant: %w", err)
	}
	row.grant.Subject.Kind, row.grant.Permission = identity.SubjectKind(kind), identity.Permission(perm)
	return row, nil
}

// templateGrants loads the grants of the templates matching cond, in the
// order they were given.
func (r *reader) templateGrants(ctx context.Context, cond string, args ...any) (map[int64][]identity.TemplateGrant, error) {
	rows, err := queryAll(ctx, r, scanTemplateGrant, `SELECT template_id, subject_kind, subject_id, permission
		FROM template_grants`+cond+` ORDER BY template_id, position`, args...)
	if err != nil {
		return nil, err
	}
	out := make(map[int64][]identity.TemplateGrant)
	for _, row := range rows {
		out[row.templateID] = append(out[row.templateID], row.grant)
	}
	return out, nil
}

func (r *reader) getTemplate(ctx context.Context, where string, key any) (identity.Template, error) {
	t, err := scanTemplate(r.queryRow(ctx, "SELECT "+templateCols+" FROM templates WHERE "+where, key))
	if err != nil {
		return t, rowErr(err, "template", key)
	}
	grants, err := r.templateGrants(ctx, " WHERE template_id = ?", t.ID)
	if err != nil {
		return t, err
	}
	t.Grants = grants[t.ID]
	return t, nil
}

// GetTemplate returns the template with the given id and its grants.
func (r *reader) GetTemplate(ctx context.Context, id int64) (identity.Template, error) {
	t, err := r.getTemplate(ctx, "id = ?", id)
	if err != nil {
		return t, fmt.Errorf("get template: %w", err)
	}
	return t, nil
}

// GetTemplateByName returns the template with this name, compared
// case-insensitively.
func (r *reader) GetTemplateByName(ctx context.Context, name string) (identity.Template, error) {
	t, err := r.getTemplate(ctx, "LOWER(name) = LOWER(?)", name)
	if err != nil {
		return t, fmt.Errorf("get template by name: %w", err)
	}
	return t, nil
}

// ListTemplates lists every template by name, case-insensitively.
func (r *reader) ListTemplates(ctx context.Context) ([]identity.Template, error) {
	ts, err := queryAll(ctx, r, scanTemplate, "SELECT "+templateCols+" FROM templates ORDER BY LOWER(name), name, id")
	if err != nil {
		return nil, fmt.Errorf("list templates: %w", err)
	}
	grants, err := r.templateGrants(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("list templates: %w", err)
	}
	for i := range ts {
		ts[i].Grants = grants[ts[i].ID]
	}
	return ts, nil
}

// CreateTemplate inserts t and its grants and returns it with its id and
// timestamps. Duplicate grants are stored once.
func (t *txn) CreateTemplate(ctx context.Context, tpl identity.Template) (identity.Template, error) {
	n := now()
	tpl.CreatedAt, tpl.UpdatedAt = orNow(tpl.CreatedAt, n), orNow(tpl.UpdatedAt, n)
	var err error
	tpl.ID, err = t.insertID(ctx, `INSERT INTO templates (name, description, key_pattern, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?) RETURNING id`,
		tpl.Name, tpl.Description, tpl.KeyPattern, micros(tpl.CreatedAt), micros(tpl.UpdatedAt))
	if err != nil {
		return tpl, fmt.Errorf("create template %q: %w", tpl.Name, err)
	}
	if tpl.Grants, err = t.insertTemplateGrants(ctx, tpl.ID, tpl.Grants); err != nil {
		return tpl, fmt.Errorf("create template %q: %w", tpl.Name, err)
	}
	return tpl, nil
}

// insertTemplateGrants stores grants in order and returns them without
// duplicates, as they read back.
func (t *txn) insertTemplateGrants(ctx context.Context, templateID int64, grants []identity.TemplateGrant) ([]identity.TemplateGrant, error) {
	var stored []identity.TemplateGrant
	seen := make(map[identity.TemplateGrant]bool, len(grants))
	for _, g := range grants {
		if seen[g] {
			continue
		}
		seen[g] = true
		if _, err := t.exec(ctx, `INSERT INTO template_grants (template_id, position, subject_kind, subject_id, permission)
			VALUES (?, ?, ?, ?, ?)`, templateID, len(stored), string(g.Subject.Kind), g.Subject.ID, string(g.Permission)); err != nil {
			return nil, fmt.Errorf("add grant %+v: %w", g, err)
		}
		stored = append(stored, g)
	}
	return stored, nil
}

// UpdateTemplate rewrites name, description, pattern and grants of template
// tpl.ID; a zero UpdatedAt becomes the current time.
func (t *txn) UpdateTemplate(ctx context.Context, tpl identity.Template) error {
	n, err := t.execAffected(ctx, `UPDATE templates SET name = ?, description = ?, key_pattern = ?, updated_at = ?
		WHERE id = ?`, tpl.Name, tpl.Description, tpl.KeyPattern, micros(orNow(tpl.UpdatedAt, now())), tpl.ID)
	if err := mustAffect(n, err, "template", tpl.ID); err != nil {
		return fmt.Errorf("update template: %w", err)
	}
	if _, err := t.exec(ctx, "DELETE FROM template_grants WHERE template_id = ?", tpl.ID); err != nil {
		return fmt.Errorf("update template %d: %w", tpl.ID, err)
	}
	if _, err := t.insertTemplateGrants(ctx, tpl.ID, tpl.Grants); err != nil {
		return fmt.Errorf("update template %d: %w", tpl.ID, err)
	}
	return nil
}

// DeleteTemplate removes a template and its grants.
func (t *txn) DeleteTemplate(ctx context.Context, id int64) error {
	if _, err := t.exec(ctx, "DELETE FROM template_grants WHERE template_id = ?", id); err != nil {
		return fmt.Errorf("delete template %d: %w", id, err)
	}
	n, err := t.execAffected(ctx, "DELETE FROM templates WHERE id = ?", id)
	if err := mustAffect(n, err, "template", id); err != nil {
		return fmt.Errorf("delete template: %w", err)
	}
	return nil
}
