# Gatehouse. `make test` is what CI runs; set GATEHOUSE_TEST_POSTGRES to a
# PostgreSQL URL to run the store suite against PostgreSQL too.
GO ?= go
STATICCHECK_VERSION := v0.8.2
PKGS := ./...

.PHONY: all build run test lint bench bench-http fmt screenshots

all: lint test

# The one version Gatehouse reports (--version, banner, log, api/gatehouse/info).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o gatehouse ./cmd/gatehouse

run:
	$(GO) run ./cmd/gatehouse serve

test:
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $(PKGS)

# Go benchmarks of the decision path on the standard data set (10k users,
# 1k groups, 5k projects, 100k memberships, 200k grants); -cpu 1 gives the
# one-core figures the targets are stated for.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -cpu 1 ./internal/authz/ ./internal/token/ ./internal/state/

# Load test of api/authz/check over loopback HTTP (see bench/README.md).
bench-http:
	bash bench/authz-check.sh

fmt:
	gofmt -w $$(git ls-files '*.go')

# Screenshots of every page the web UI's browser tests visit.
screenshots:
	GATEHOUSE_SCREENSHOTS=$(CURDIR)/docs/screenshots $(GO) test -count=1 -run 'Browser' ./internal/ui/
