package webapi

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/state"
)

// stateCollector reads the index at scrape time: its size and the tokens
// about to expire. Nothing is counted on the decision path.
type stateCollector struct {
	st       *state.State
	size     *prometheus.Desc
	expiring *prometheus.Desc
}

func newStateCollector(st *state.State) *stateCollector {
	return &stateCollector{
		st: st,
		size: prometheus.NewDesc("gatehouse_index_objects", "What the in-memory authorization index holds, by kind.",
			[]string{"kind"}, nil),
		expiring: prometheus.NewDesc("gatehouse_tokens_expiring_7d", "Working tokens that expire within the next 7 days, by token type.",
			[]string{"type"}, nil),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.size
	ch <- c.expiring
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ix := c.st.Index()
	s := ix.Stats()
	for _, kv := range []struct {
		kind string
		n    int
	}{{"users", s.Users}, {"groups", s.Groups}, {"projects", s.Projects}, {"tokens", s.Tokens}, {"memberships", s.Memberships}, {"grants", s.Grants}} {
		ch <- prometheus.MustNewConstMetric(c.size, prometheus.GaugeValue, float64(kv.n), kv.kind)
	}
	exp := ix.TokensExpiringBefore(c.st.Now().Add(7 * 24 * time.Hour))
	for _, typ := range []identity.TokenType{identity.TokenUser, identity.TokenGlobalAnalysis, identity.TokenProjectAnalysis, identity.TokenOrganization, identity.TokenSCIM} {
		ch <- prometheus.MustNewConstMetric(c.expiring, prometheus.GaugeValue, float64(exp[string(typ)]), strings.ToLower(string(typ)))
	}
}
