package gitlab

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/provision"
)

// Connector makes GitLab sources from settings. It is registered by the
// wiring under the source name "gitlab".
type Connector struct {
	Logger *slog.Logger
	// HTTPClient's transport carries the requests (nil: the default); its
	// timeout is replaced by the timeout setting.
	HTTPClient *http.Client
	// Concurrency bounds the requests in flight (0: 16).
	Concurrency int

	// Retries is how often a failed request (429, 5xx, transport error) is
	// repeated (0: 6; negative: never); RetryBase is the first wait when
	// GitLab gives no Retry-After (0: 500 ms). Tests shorten them.
	Retries   int
	RetryBase time.Duration
}

var (
	_ provision.Connector       = Connector{}
	_ provision.Checker         = Connector{}
	_ provision.PolicyConnector = Connector{}
	_ provision.Source          = (*source)(nil)
	_ provision.Scheduled       = (*source)(nil)
)

// source is an opened configuration with automatic provisioning on.
type source struct {
	cfg  Config
	log  *slog.Logger
	opts clientOptions
	// restMembers reads members through REST instead of GraphQL: a
	// members/all listing per group and shared project, a members listing
	// per other project (tests compare the two).
	restMembers bool
}

// Settings declares the connector's settings.
func (Connector) Settings() []provision.Setting { return slices.Clone(settings) }

// Open parses values and returns the source they describe, or
// [provision.ErrDisabled] when automatic provisioning is off (JIT-only) or
// the integration is disabled. It does not connect.
func (c Connector) Open(_ context.Context, values map[string]string) (provision.Source, error) {
	cfg, err := Parse(values)
	if err != nil {
		return nil, err
	}
	if !cfg.Enabled || !cfg.SyncEnabled {
		return nil, provision.ErrDisabled
	}
	return &source{cfg: cfg, log: c.logger(), opts: c.clientOptions(cfg)}, nil
}

// Policy: GitLab's groups are its own (named by full path, never merged with
// local ones), and when automatic provisioning is turned off they are
// removed, as SonarQube removes its GitLab-managed groups on the switch back
// to JIT.
func (Connector) Policy() provision.Policy {
	return provision.Policy{ReleaseGroupsOnDisable: true}
}

// Interval is sync.interval.
func (s *source) Interval() time.Duration { return s.cfg.SyncInterval }

func (c Connector) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

func (c Connector) clientOptions(cfg Config) clientOptions {
	return clientOptions{http: c.HTTPClient, timeout: cfg.Timeout, retries: c.Retries, retryBase: c.RetryBase, concurrency: c.Concurrency}
}

func levelOf(err error) slog.Level {
	if err != nil {
		return slog.LevelWarn
	}
	return slog.LevelInfo
}

func logAttrs(c *client, snap provision.Snapshot, err error) []slog.Attr {
	attrs := []slog.Attr{slog.String("url", c.url), slog.Int64("requests", c.Requests())}
	if err != nil {
		return append(attrs, slog.String("error", err.Error()))
	}
	return append(attrs, slog.Int("users", len(snap.Users)), slog.Int("groups", len(snap.Groups)),
		slog.Int("memberships", len(snap.Memberships)), slog.Int("projects", len(snap.Projects)),
		slog.Int("permissions", len(snap.Permissions)))
}
