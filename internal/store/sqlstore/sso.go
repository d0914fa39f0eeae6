package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

const ssoCols = "id, name, protocol, settings, version, created_at, updated_at"

func scanSSOConnection(sc scanner) (identity.SSOConnection, error) {
	var (
		c                identity.SSOConnection
		protocol, doc    string
		created, updated sql.NullInt64
	)
	if err := sc.Scan(&c.ID, &c.Name, &protocol, &doc, &c.Version, &created, &updated); err != nil {
		return c, fmt.Errorf("scan sso connection: %w", err)
	}
	c.Protocol = identity.SSOProtocol(protocol)
	if err := json.Unmarshal([]byte(doc), &c.Settings); err != nil {
		return c, fmt.Errorf("sso connection %q: settings: %w", c.Name, err)
	}
	c.CreatedAt, c.UpdatedAt = fromMicros(created), fromMicros(updated)
	return c, nil
}

// GetSSOConnection returns the SSO connection with this name.
func (r *reader) GetSSOConnection(ctx context.Context, name string) (identity.SSOConnection, error) {
	c, err := scanSSOConnection(r.queryRow(ctx, "SELECT "+ssoCols+" FROM sso_connections WHERE name = ?", name))
	if err != nil {
		return c, fmt.Errorf("get sso connection: %w", rowErr(err, "SSO connection", name))
	}
	return c, nil
}

// ListSSOConnections lists every SSO connection by name.
func (r *reader) ListSSOConnections(ctx context.Context) ([]identity.SSOConnection, error) {
	cs, err := queryAll(ctx, r, scanSSOConnection, "SELECT "+ssoCols+" FROM sso_connections ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("list sso connections: %w", err)
	}
	return cs, nil
}

// CreateSSOConnection inserts c with version 1 and returns it with its id
// and timestamps.
func (t *txn) CreateSSOConnection(ctx context.Context, c identity.SSOConnection) (identity.SSOConnection, error) {
	doc, err := json.Marshal(c.Settings)
	if err != nil {
		return c, fmt.Errorf("create sso connection %q: %w", c.Name, err)
	}
	n := now()
	c.CreatedAt, c.UpdatedAt, c.Version = orNow(c.CreatedAt, n), orNow(c.UpdatedAt, n), 1
	c.ID, err = t.insertID(ctx, `INSERT INTO sso_connections (name, protocol, settings, version, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, c.Name, string(c.Protocol), string(doc), c.Version, micros(c.CreatedAt), micros(c.UpdatedAt))
	if err != nil {
		return c, fmt.Errorf("create sso connection %q: %w", c.Name, err)
	}
	return c, nil
}

// UpdateSSOConnection rewrites the name, protocol and settings of c.ID and
// increments its version; a zero UpdatedAt becomes the current time.
func (t *txn) UpdateSSOConnection(ctx context.Context, c identity.SSOConnection) error {
	doc, err := json.Marshal(c.Settings)
	if err != nil {
		return fmt.Errorf("update sso connection %q: %w", c.Name, err)
	}
	n, err := t.execAffected(ctx, `UPDATE sso_connections SET name = ?, protocol = ?, settings = ?, version = version + 1, updated_at = ?
		WHERE id = ?`, c.Name, string(c.Protocol), string(doc), micros(orNow(c.UpdatedAt, now())), c.ID)
	if err := mustAffect(n, err, "SSO connection", c.ID); err != nil {
		return fmt.Errorf("update sso connection: %w", err)
	}
	return nil
}

// DeleteSSOConnection removes an SSO connection.
func (t *txn) DeleteSSOConnection(ctx context.Context, id int64) error {
	n, err := t.execAffected(ctx, "DELETE FROM sso_connections WHERE id = ?", id)
	if err := mustAffect(n, err, "SSO connection", id); err != nil {
		return fmt.Errorf("delete sso connection: %w", err)
	}
	return nil
}
