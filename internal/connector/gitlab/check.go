package gitlab

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	gl "gitlab.com/gitlab-org/api/client-go/v2"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
)

// checkTimeout bounds each request of a check, which an administrator
// waits for on save.
const checkTimeout = 10 * time.Second

// Check verifies settings against GitLab before they are saved: GitLab
// answers at the URL, accepts the token, the token has read_api (or api),
// and every allowed group exists and is a root group. The error (an
// identity.ErrInvalid) says which failed and why. Without a token (JIT-only
// settings) only the formats are checked.
func (c Connector) Check(ctx context.Context, values map[string]string) error {
	cfg, err := Parse(values)
	if err != nil {
		return err
	}
	if cfg.Token == "" {
		return nil
	}
	o := c.clientOptions(cfg)
	o.timeout, o.retries = min(cfg.Timeout, checkTimeout), 1
	cl, err := newClient(cfg.URL, cfg.Token, o)
	if err != nil {
		return err
	}
	if err := checkToken(ctx, cl); err != nil {
		return asInvalid(err)
	}
	for _, path := range cfg.AllowedGroups {
		if _, err := readRoot(ctx, cl, path); err != nil {
			return asInvalid(err)
		}
	}
	return nil
}

// checkToken reads the token's own record for its scopes. GitLab before
// 15.5 has no such endpoint; the group reads that follow then find a
// missing scope (403 insufficient_scope).
func checkToken(ctx context.Context, cl *client) error {
	var tok *gl.PersonalAccessToken
	_, err := cl.do(ctx, func(o ...gl.RequestOptionFunc) (r *gl.Response, err error) {
		tok, r, err = cl.gl.PersonalAccessTokens.GetSinglePersonalAccessToken(o...)
		return r, err
	})
	if err != nil {
		d := describe("check the token at "+cl.url, err)
		if errors.Is(d, identity.ErrNotFound) {
			return nil
		}
		return d
	}
	if tok.Revoked || !tok.Active {
		return identity.Errorf(identity.ErrInvalid, "the token '%s' is revoked or expired", tok.Name)
	}
	if !slices.Contains(tok.Scopes, "read_api") && !slices.Contains(tok.Scopes, "api") {
		return identity.Errorf(identity.ErrInvalid, "the token lacks the read_api scope (its scopes: %s)", strings.Join(tok.Scopes, ", "))
	}
	return nil
}

// asInvalid makes a check's failure an invalid setting, keeping its message.
func asInvalid(err error) error {
	if errors.Is(err, identity.ErrInvalid) || errors.Is(err, context.Canceled) {
		return err
	}
	return identity.Errorf(identity.ErrInvalid, "%s", identity.Message(err))
}
