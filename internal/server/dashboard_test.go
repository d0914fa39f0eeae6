package server

import (
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// metricRef is a metric name in a PromQL query of the dashboard, or in the
// README.
var metricRef = regexp.MustCompile(`\b(?:gatehouse|go|process)_[a-z0-9_]+\b`)

// exportedMetrics are the families a server's /metrics can report.
func exportedMetrics(t *testing.T) []string {
	t.Helper()
	cfg := testConfig(t)
	cfg.AdminPassword = "admin-password-for-tests-1"
	srv, err := New(t.Context(), cfg, slog.New(slog.DiscardHandler), io.Discard, "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	names := srv.api.MetricNames()
	if !slices.Contains(names, "gatehouse_sync_runs_total") || !slices.Contains(names, "gatehouse_store_query_duration_seconds") {
		t.Fatalf("the server's collectors are missing from %v", names)
	}
	return names
}

// exported reports whether name is a family or one of a histogram's series.
func exported(names []string, name string) bool {
	for _, suffix := range []string{"", "_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && slices.Contains(names, base) {
			return true
		}
	}
	return false
}

// TestGrafanaDashboardMetrics: every metric the dashboard's queries use is
// one Gatehouse exports, so the dashboard cannot drift from the code.
func TestGrafanaDashboardMetrics(t *testing.T) {
	names := exportedMetrics(t)
	raw, err := os.ReadFile("../../docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels     []dashPanel `json:"panels"`
		Templating struct {
			List []struct {
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("docs/grafana-dashboard.json: %v", err)
	}
	var queries []string
	var walk func([]dashPanel)
	walk = func(ps []dashPanel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				queries = append(queries, tg.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(dash.Panels)
	for _, v := range dash.Templating.List {
		queries = append(queries, v.Definition)
	}
	used := map[string]bool{}
	for _, q := range queries {
		for _, name := range metricRef.FindAllString(q, -1) {
			used[name] = true
			if !exported(names, name) {
				t.Errorf("the dashboard queries %s, which Gatehouse does not export (query %q)", name, q)
			}
		}
	}
	if len(used) < 20 {
		t.Fatalf("the dashboard uses only %d metrics: %v", len(used), used)
	}
	for _, name := range names {
		if strings.HasPrefix(name, "gatehouse_") && !exported(keys(used), name) && !usedAsHistogram(used, name) {
			t.Errorf("the dashboard shows nothing of %s", name)
		}
	}
}

type dashPanel struct {
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []dashPanel `json:"panels"`
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func usedAsHistogram(used map[string]bool, family string) bool {
	return used[family+"_bucket"] || used[family+"_sum"] || used[family+"_count"]
}

// TestReadmeMetrics: the README's metrics section names every family
// Gatehouse exports, and no other.
func TestReadmeMetrics(t *testing.T) {
	names := exportedMetrics(t)
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	start := strings.Index(readme, "\n## Metrics\n")
	if start < 0 {
		t.Fatal("README has no \"## Metrics\" section")
	}
	section := readme[start+1:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	for _, name := range names {
		if strings.HasPrefix(name, "gatehouse_") && !strings.Contains(section, "`"+name) {
			t.Errorf("README's metrics section does not list %s", name)
		}
	}
	for _, name := range metricRef.FindAllString(section, -1) {
		if !exported(names, name) {
			t.Errorf("README's metrics section names %s, which Gatehouse does not export", name)
		}
	}
}
