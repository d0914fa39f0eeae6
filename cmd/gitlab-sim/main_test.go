package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/gitlabsim"
)

func TestExampleFixture(t *testing.T) {
	if f := gitlabsim.Example(); len(f.Groups) == 0 {
		t.Fatal("empty example")
	}
}

func TestBadFlag(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-fixture", "/nonexistent.json"}, &out); err == nil {
		t.Fatal("missing fixture accepted")
	}
}
