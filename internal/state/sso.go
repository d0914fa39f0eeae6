package state

import (
	"context"
	"errors"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/authz"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// SSOConnectionInput is an SSO connection as an administrator writes it:
// the settings, with the secrets in plain text (nil keeps the stored one on
// update). The sealed fields of Settings are ignored.
type SSOConnectionInput struct {
	Name     string
	Protocol identity.SSOProtocol
	Settings identity.SSOSettings
	// ClientSecret is the OIDC client secret; SPKeyPEM the SAML SP private
	// key (its certificate is Settings.SPCertPEM).
	ClientSecret, SPKeyPEM *string
	// GroupsFromAssertions, when nil at creation, is on unless SCIM
	// manages groups (a group of source scim exists); on update nil keeps
	// Settings' value.
	GroupsFromAssertions *bool
	// NewKeyPair, at the creation of a SAML connection without SPKeyPEM,
	// makes its SP key pair (the SSO adapter's NewSPKeyPair), once the
	// rest of the connection is valid: a key is not worth making for a
	// connection refused anyway.
	NewKeyPair func(name string) (keyPEM, certPEM []byte, err error)
}

func ssoSecretName(conn, field string) string { return "sso:" + conn + ":" + field }

// SSOConnections lists the SSO connections by name.
func (s *State) SSOConnections(ctx context.Context) ([]identity.SSOConnection, error) {
	return s.store.ListSSOConnections(ctx)
}

// SSOConnection returns the connection named name.
func (s *State) SSOConnection(ctx context.Context, name string) (identity.SSOConnection, error) {
	c, err := s.store.GetSSOConnection(ctx, name)
	if errors.Is(err, identity.ErrNotFound) {
		return c, identity.Errorf(identity.ErrNotFound, "No SSO connection '%s'", name)
	}
	return c, err
}

// SSOSecrets opens a connection's secrets: the OIDC client secret and the
// SAML SP key, "" when unset.
func (s *State) SSOSecrets(c identity.SSOConnection) (clientSecret, spKeyPEM string, err error) {
	open := func(field, sealed string) (string, error) {
		if sealed == "" {
			return "", nil
		}
		if s.secrets == nil {
			return "", errNoSealer
		}
		v, err := s.secrets.OpenFor(ssoSecretName(c.Name, field), sealed)
		if err != nil {
			return "", fmt.Errorf("sso connection %s: open %s: %w", c.Name, field, err)
		}
		return v, nil
	}
	if clientSecret, err = open("clientSecret", c.Settings.ClientSecretSealed); err != nil {
		return "", "", err
	}
	if spKeyPEM, err = open("spKey", c.Settings.SPKeySealed); err != nil {
		return "", "", err
	}
	return clientSecret, spKeyPEM, nil
}

var errNoSealer = identity.Errorf(identity.ErrInvalid, "SSO connection secrets need an encryption key: set GATEHOUSE_SECRET_KEY (or GATEHOUSE_SECRET_KEY_FILE)")

// seal puts in's secrets into settings, sealed; a nil secret keeps old.
func (s *State) sealSSO(name string, in SSOConnectionInput, old identity.SSOSettings) (identity.SSOSettings, error) {
	st := in.Settings
	st.ClientSecretSealed, st.SPKeySealed = old.ClientSecretSealed, old.SPKeySealed
	seal := func(field string, v *string, dst *string) error {
		if v == nil {
			return nil
		}
		if *v == "" {
			*dst = ""
			return nil
		}
		if s.secrets == nil {
			return errNoSealer
		}
		sealed, err := s.secrets.SealFor(ssoSecretName(name, field), *v)
		if err != nil {
			return fmt.Errorf("sso connection %s: seal %s: %w", name, field, err)
		}
		*dst = sealed
		return nil
	}
	if err := seal("clientSecret", in.ClientSecret, &st.ClientSecretSealed); err != nil {
		return st, err
	}
	if err := seal("spKey", in.SPKeyPEM, &st.SPKeySealed); err != nil {
		return st, err
	}
	return st, nil
}

// ssoAudit is what the audit log keeps of a connection: its settings
// without the sealed secrets, and whether they are set.
func ssoAudit(c identity.SSOConnection) map[string]any {
	st := c.Settings
	hasSecret, hasKey := st.ClientSecretSealed != "", st.SPKeySealed != ""
	st.ClientSecretSealed, st.SPKeySealed, st.IdPMetadataXML, st.SPCertPEM = "", "", "", ""
	return map[string]any{"protocol": c.Protocol, "settings": st, "clientSecretSet": hasSecret, "spKeySet": hasKey}
}

// CreateSSOConnection stores a new connection.
func (s *State) CreateSSOConnection(ctx context.Context, in SSOConnectionInput) (identity.SSOConnection, error) {
	if in.Protocol == identity.SSOSAML && in.SPKeyPEM == nil && in.NewKeyPair != nil {
		pending := in.Settings
		pending.SPKeySealed, pending.SPCertPEM = "pending", "pending"
		if err := identity.ValidateSSOConnection(identity.SSOConnection{Name: in.Name, Protocol: in.Protocol, Settings: pending}); err != nil {
			return identity.SSOConnection{}, err
		}
		key, cert, err := in.NewKeyPair(in.Name)
		if err != nil {
			return identity.SSOConnection{}, err
		}
		k := string(key)
		in.SPKeyPEM, in.Settings.SPCertPEM = &k, string(cert)
	}
	st, err := s.sealSSO(in.Name, in, identity.SSOSettings{})
	if err != nil {
		return identity.SSOConnection{}, err
	}
	if in.GroupsFromAssertions != nil {
		st.GroupsFromAssertions = *in.GroupsFromAssertions
	} else {
		gs, _, err := s.store.ListGroups(ctx, store.GroupFilter{Source: identity.SourceSCIM, Page: store.Page{Number: 1, Size: 1}})
		if err != nil {
			return identity.SSOConnection{}, err
		}
		st.GroupsFromAssertions = len(gs) == 0
	}
	c := identity.SSOConnection{Name: in.Name, Protocol: in.Protocol, Settings: st}
	if err := identity.ValidateSSOConnection(c); err != nil {
		return c, err
	}
	err = s.write(ctx, func(tx store.Tx) (audit, func(), error) {
		created, err := tx.CreateSSOConnection(ctx, c)
		if errors.Is(err, identity.ErrAlreadyExists) {
			return audit{}, nil, identity.Errorf(identity.ErrAlreadyExists, "An SSO connection named '%s' already exists", c.Name)
		}
		if err != nil {
			return audit{}, nil, err
		}
		c = created
		return audit{Action: "sso.create", Target: "sso:" + c.Name, After: ssoAudit(c)}, nil, nil
	})
	return c, err
}

// UpdateSSOConnection rewrites the settings of connection name (its name
// and protocol stay: the secrets are sealed for them and the IdP knows its
// URLs).
func (s *State) UpdateSSOConnection(ctx context.Context, name string, in SSOConnectionInput) (identity.SSOConnection, error) {
	var c identity.SSOConnection
	err := s.write(ctx, func(tx store.Tx) (audit, func(), error) {
		old, err := tx.GetSSOConnection(ctx, name)
		if errors.Is(err, identity.ErrNotFound) {
			return audit{}, nil, identity.Errorf(identity.ErrNotFound, "No SSO connection '%s'", name)
		}
		if err != nil {
			return audit{}, nil, err
		}
		st, err := s.sealSSO(name, in, old.Settings)
		if err != nil {
			return audit{}, nil, err
		}
		if in.GroupsFromAssertions != nil {
			st.GroupsFromAssertions = *in.GroupsFromAssertions
		}
		c = old
		c.Settings = st
		if err := identity.ValidateSSOConnection(c); err != nil {
			return audit{}, nil, err
		}
		if err := tx.UpdateSSOConnection(ctx, c); err != nil {
			return audit{}, nil, err
		}
		if c, err = tx.GetSSOConnection(ctx, name); err != nil {
			return audit{}, nil, err
		}
		return audit{Action: "sso.update", Target: "sso:" + name, Before: ssoAudit(old), After: ssoAudit(c)}, nil, nil
	})
	return c, err
}

// DeleteSSOConnection removes connection name. Users it created stay.
func (s *State) DeleteSSOConnection(ctx context.Context, name string) error {
	return s.write(ctx, func(tx store.Tx) (audit, func(), error) {
		old, err := tx.GetSSOConnection(ctx, name)
		if errors.Is(err, identity.ErrNotFound) {
			return audit{}, nil, identity.Errorf(identity.ErrNotFound, "No SSO connection '%s'", name)
		}
		if err != nil {
			return audit{}, nil, err
		}
		if err := tx.DeleteSSOConnection(ctx, old.ID); err != nil {
			return audit{}, nil, err
		}
		return audit{Action: "sso.delete", Target: "sso:" + name, Before: ssoAudit(old)}, nil, nil
	})
}

// SSOSignInChoice is an enabled connection as the sign-in page offers it.
type SSOSignInChoice struct {
	Name        string
	DisplayName string // the connection's, or its name
	Protocol    identity.SSOProtocol
	LoginURL    string
}

// SSOSignInChoices are the connections a person may sign in through: the
// enabled ones that have a login URL (loginURL answers "" without the
// server's public URL).
func (s *State) SSOSignInChoices(ctx context.Context, loginURL func(name string) string) ([]SSOSignInChoice, error) {
	cs, err := s.store.ListSSOConnections(ctx)
	if err != nil {
		return nil, err
	}
	out := []SSOSignInChoice{}
	for _, c := range cs {
		login := loginURL(c.Name)
		if !c.Settings.Enabled || login == "" {
			continue
		}
		name := c.Settings.DisplayName
		if name == "" {
			name = c.Name
		}
		out = append(out, SSOSignInChoice{Name: c.Name, DisplayName: name, Protocol: c.Protocol, LoginURL: login})
	}
	return out, nil
}

// SSOMatch is the user a sign-in through an SSO connection resolves to.
type SSOMatch struct {
	// User is the existing user signed in (ID 0 when one is created).
	User identity.User
	// By is how it was matched: "login" or "externalId"; "" when created.
	By string
	// Create: no user matches and JIT creation makes one (source sso).
	Create bool
}

func ssoRule(c identity.SSOConnection) externalRule {
	r := externalRule{src: identity.SourceSSO, also: []identity.Source{identity.SourceSCIM}, refuseInactive: true}
	if !c.Settings.JIT {
		r.noCreate = identity.Errorf(identity.ErrUnauthenticated,
			"No Gatehouse user matches this sign-in and the SSO connection '%s' does not create users (JIT creation is off): provision the user (SCIM) first, or turn JIT creation on", c.Name)
	}
	return r
}

// MatchSSO resolves a sign-in's account through connection c without
// writing anything: the test sign-in shows it. The refusals are those
// SignInSSO would answer.
func (s *State) MatchSSO(ctx context.Context, c identity.SSOConnection, acc identity.ExternalAccount) (SSOMatch, error) {
	m, err := s.matchExternal(ctx, ssoRule(c), acc)
	if err != nil {
		return SSOMatch{}, err
	}
	if m.create {
		return SSOMatch{Create: true}, nil
	}
	return SSOMatch{User: m.user, By: m.by}, nil
}

// SignInSSO accepts a sign-in an SSO connection verified: the user with
// acc's login (a SCIM-provisioned or SSO-created one), else the one with its
// external id, else, with JIT creation, a new user of source sso. A
// deactivated user is refused, as is a login of another source. A user of
// source sso takes name and e-mail from the IdP; a SCIM user keeps SCIM's.
// With GroupsFromAssertions an SSO user's memberships of SSO groups become
// groups. The IdP is trusted with the e-mail: there is no verification step.
func (s *State) SignInSSO(ctx context.Context, c identity.SSOConnection, acc identity.ExternalAccount, groups []string) (authz.Principal, identity.User, error) {
	if !c.Settings.Enabled {
		return authz.Principal{}, identity.User{}, identity.Errorf(identity.ErrUnauthenticated, "The SSO connection '%s' is disabled", c.Name)
	}
	var sync func(ctx context.Context, userID int64) error
	if c.Settings.GroupsFromAssertions {
		eg := make([]ExternalGroup, 0, len(groups))
		for _, g := range groups {
			eg = append(eg, ExternalGroup{Name: g, ExternalID: g})
		}
		sync = func(ctx context.Context, userID int64) error {
			return s.syncSourceGroups(ctx, identity.SourceSSO, userID, eg)
		}
	}
	return s.acceptExternalUser(ctx, ssoRule(c), acc, sync)
}
