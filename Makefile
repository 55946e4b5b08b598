# onboard — build, test and measure. `make help` lists the targets.

GO        ?= go
BIN       := bin
WASM      := plugins/engine/enginewasm/engine.wasm
# Reproducible: no paths, no VCS stamp, no build id, no DWARF. CI rebuilds
# the committed engine.wasm with these flags and fails on any byte change.
WASMFLAGS := -trimpath -buildvcs=false -buildmode=c-shared -ldflags='-buildid= -w'
STATICCHECK_VERSION := v0.8.2

# Nested modules keep heavy dependencies (the Huawei Cloud SDK) out of the core module.
NESTED    := host/api/sdkcompat

.PHONY: help build wasm wasm-check test test-short sdk-test fuzz lint tidy-check check bench clean

help:
	@echo "make build       build bin/onboard"
	@echo "make wasm        rebuild $(WASM) from plugins/engine"
	@echo "make test        all tests with -race (needs PostgreSQL, see README)"
	@echo "make sdk-test    the official Huawei Cloud Go SDK against onboard (nested module)"
	@echo "make check       gofmt, vet, staticcheck, tidy diff, wasm diff, tests"
	@echo "make fuzz        fuzz the engine for FUZZTIME (default 30s)"
	@echo "make bench       print the performance report (docs/benchmarks.md)"

build:
	$(GO) build -o $(BIN)/onboard ./cmd/onboard

wasm:
	GOOS=wasip1 GOARCH=wasm $(GO) build $(WASMFLAGS) -o $(WASM) ./plugins/engine/cmd/enginewasm

# The committed engine.wasm must be exactly what the source builds.
wasm-check:
	@tmp=$$(mktemp -d) && \
	GOOS=wasip1 GOARCH=wasm $(GO) build $(WASMFLAGS) -o $$tmp/engine.wasm ./plugins/engine/cmd/enginewasm && \
	if cmp -s $$tmp/engine.wasm $(WASM); then echo "wasm-check: $(WASM) is reproducible"; rm -rf $$tmp; \
	else echo "wasm-check: $(WASM) differs from a rebuild of the source: run 'make wasm' and commit it"; rm -rf $$tmp; exit 1; fi

test:
	$(GO) test -race -count=1 ./...

test-short:
	$(GO) test ./...

sdk-test:
	cd $(NESTED) && $(GO) test -count=1 ./...

FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzEngine -fuzztime $(FUZZTIME) ./plugins/engine

$(BIN)/staticcheck:
	GOBIN=$(CURDIR)/$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

lint: $(BIN)/staticcheck
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(BIN)/staticcheck ./...
	for m in $(NESTED); do (cd $$m && $(GO) vet ./...) || exit 1; done

tidy-check:
	@for m in . $(NESTED); do ( cd $$m && cp go.mod go.mod.orig && cp go.sum go.sum.orig && $(GO) mod tidy && \
	if cmp -s go.mod go.mod.orig && cmp -s go.sum go.sum.orig; then rm go.mod.orig go.sum.orig; echo "tidy-check: $$m ok"; \
	else mv go.mod.orig go.mod; mv go.sum.orig go.sum; echo "tidy-check: go mod tidy changes $$m/go.mod or go.sum"; exit 1; fi ) || exit 1; done

check: lint tidy-check wasm-check test sdk-test

bench:
	@mkdir -p docs
	ONBOARD_BENCH_REPORT=$(CURDIR)/docs/benchmarks.md $(GO) test -count=1 -v -run 'TestSpineReport' -timeout 30m ./host
	$(GO) test -run '^$$' -bench 'BatchCreateDevices' -benchtime 10x ./host/store/...

clean:
	rm -rf $(BIN)
