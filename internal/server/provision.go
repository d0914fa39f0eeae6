package server

import (
	"context"
	"fmt"
	"log/slog"

	gitlabconn "github.com/gatehouse-dev/gatehouse/internal/connector/gitlab"
	ldapconn "github.com/gatehouse-dev/gatehouse/internal/connector/ldap"
	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/provision"
	"github.com/gatehouse-dev/gatehouse/internal/secretbox"
	"github.com/gatehouse-dev/gatehouse/internal/state"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// NewEngine builds the provisioning engine over st: every pull source is
// registered, configured or not (an unconfigured one reports why in its
// status and is configured through api/provisioning/settings); connector
// secrets are sealed with the configured key; runs are exclusive across
// replicas through the store's lock.
func NewEngine(ctx context.Context, cfg Config, log *slog.Logger, st *state.State, db store.Store, onSettings func(identity.Source, map[string]string)) (*provision.Engine, error) {
	ring, err := secretbox.Load(cfg.SecretKey, cfg.SecretKeyFile)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	ldapValues, err := cfg.LDAPValues()
	if err != nil {
		return nil, err
	}
	ecfg := provision.Config{Logger: log, OnSettings: onSettings}
	if ring.Configured() {
		ecfg.Secrets = ring
	}
	if l, ok := db.(store.Locker); ok {
		ecfg.Locker = l
	}
	sources := map[identity.Source]provision.SourceConfig{
		identity.SourceLDAP:   {Connector: ldapconn.Connector{Logger: ecfg.Logger}, Defaults: ldapValues},
		identity.SourceGitLab: {Connector: gitlabconn.Connector{Logger: ecfg.Logger, Retries: cfg.gitlabRetries, RetryBase: cfg.gitlabRetryBase}},
	}
	eng, err := provision.New(ctx, st, sources, ecfg)
	if err != nil {
		return nil, fmt.Errorf("provisioning: %w", err)
	}
	return eng, nil
}

// startProvisioning builds the engine and connects the LDAP directory its
// settings describe.
func (s *Server) startProvisioning(ctx context.Context) error {
	eng, err := NewEngine(ctx, s.cfg, s.log, s.state, s.store, func(src identity.Source, values map[string]string) {
		if src != identity.SourceLDAP {
			return
		}
		if err := s.connectLDAP(values); err != nil {
			s.log.Error("LDAP settings changed but cannot be used", "err", err)
		}
	})
	if err != nil {
		return err
	}
	s.engine = eng
	values, err := eng.Values(ctx, identity.SourceLDAP)
	if err != nil {
		return err
	}
	return s.connectLDAP(values)
}
