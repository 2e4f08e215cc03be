# Shortcuts; the README's two commands are scripts/run and scripts/test.
SHELL := bash
GO ?= go
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X rightsdesk/internal/app.Version=$(VERSION)
STATICCHECK_VERSION := v0.8.2

.PHONY: all run test build lint bench clean

all: build

## run: build and run the portal (private PostgreSQL, dev mailbox)
run:
	scripts/run

## test: every check and every test (the README's test command)
test:
	scripts/test

## build: bin/rightsdesk, stamped with the git version
build:
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/rightsdesk ./cmd/rightsdesk

## lint: gofmt, go vet and staticcheck, without the tests
lint:
	@out=$$(find . \( -path ./var -o -path ./bin -o -path ./.git -o -name testdata -o -name node_modules \) -prune \
		-o -type f -name '*.go' -print0 | xargs -0 -r gofmt -l); \
	if [ -n "$$out" ]; then echo "$$out"; echo "gofmt: files above are not formatted"; exit 1; fi
	$(GO) vet ./...
	GOBIN="$(CURDIR)/bin" $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	bin/staticcheck ./...

## bench: benchmarks (no tests) under one private PostgreSQL
bench:
	$(GO) build -o bin/withpg ./tools/withpg
	bin/withpg -- $(GO) test -run '^$$' -bench . ./...

## clean: remove build output (keeps ./var, the private database and mailbox)
clean:
	rm -rf bin/ rightsdesk
