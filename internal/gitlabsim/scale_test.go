package gitlabsim

import "testing"

func TestScale(t *testing.T) {
	f := Scale(ScaleOptions{Users: 2000, Seed: 1})
	if len(f.Users) != 2001 || len(f.Groups) != 300 || len(f.Projects) != 3000 {
		t.Fatalf("%d users, %d groups, %d projects", len(f.Users), len(f.Groups), len(f.Projects))
	}
	ix, err := buildIndex(f.Clone())
	if err != nil {
		t.Fatal(err)
	}
	depth := 0
	for _, g := range ix.groups {
		d := 1
		for p := ix.parent[g.ID]; p != nil; p = ix.parent[p.ID] {
			d++
		}
		depth = max(depth, d)
	}
	if depth != 5 {
		t.Errorf("deepest group at depth %d, want 5", depth)
	}
	if g := Scale(ScaleOptions{Users: 2000, Seed: 1}); g.Groups[299].FullPath != f.Groups[299].FullPath {
		t.Error("not deterministic")
	}
}
