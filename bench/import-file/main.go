// Command import-file writes a generated data set (dataset.Standard unless
// -small) as a `gatehouse import` JSON file, for measuring an import:
//
//	go run ./bench/import-file -o /tmp/standard.json
//	go build -o /tmp/gatehouse ./cmd/gatehouse
//	time /tmp/gatehouse import --data-dir "$(mktemp -d)" /tmp/standard.json
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/gatehouse-dev/gatehouse/internal/dataset"
	"github.com/gatehouse-dev/gatehouse/internal/importer"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "import-file:", err)
		os.Exit(1)
	}
}

func run() error {
	out := flag.String("o", "dataset.json", "file to write")
	small := flag.Bool("small", false, "a fifth of the standard data set")
	flag.Parse()
	size := dataset.Standard
	if *small {
		size = dataset.Size{Users: 2000, Groups: 200, Projects: 1000, Memberships: 20000, Grants: 40000, Tokens: 2000}
	}
	set, err := dataset.Generate(size, 1)
	if err != nil {
		return err
	}
	ds := importer.FromSnapshot(set.Snapshot)
	if err := importer.WriteFile(*out, ds); err != nil {
		return err
	}
	fmt.Printf("%s: %d users, %d groups, %d memberships, %d projects, %d permissions, %d tokens\n",
		*out, len(ds.Users), len(ds.Groups), len(ds.Memberships), len(ds.Projects), len(ds.Permissions), len(ds.Tokens))
	return nil
}
