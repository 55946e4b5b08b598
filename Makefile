# onboard — build, test and measure. `make help` lists the targets.

GO        ?= go
BIN       := bin
WASM      := plugins/engine/enginewasm/engine.wasm
# Reproducible: no paths, no VCS stamp, no build id, no DWARF. CI rebuilds
# the committed engine.wasm with these flags and fails on any byte change.
WASMFLAGS := -trimpath -buildvcs=false -buildmode=c-shared -ldflags='-buildid= -w'
# The gateway filter guests (http-wasm, proxy-wasm): committed and checked
# like engine.wasm; they link the engine, so `make wasm` rebuilds them too.
GUESTS    := plugins/httpwasm/httpwasm.wasm plugins/proxywasm/proxywasm.wasm
STATICCHECK_VERSION := v0.8.2

# Nested modules keep heavy dependencies (the Huawei Cloud SDK, Caddy) out of the core module.
NESTED    := host/api/sdkcompat host/caddy

.PHONY: help build examples wasm httpwasm proxywasm wasm-check traefik-test test test-deps test-short sdk-test fuzz fuzz-all vulncheck lint tidy-check check bench bench-scale flood clean caddy-test node-deps

help:
	@echo "make build       build bin/onboard and the example hook plug-ins"
	@echo "make examples    build plugins/examples/<name>/<name>.wasm"
	@echo "make wasm        rebuild $(WASM) and the gateway guests ($(GUESTS))"
	@echo "make httpwasm    rebuild plugins/httpwasm/httpwasm.wasm (http-wasm: Traefik)"
	@echo "make proxywasm   rebuild plugins/proxywasm/proxywasm.wasm (proxy-wasm: Envoy, Istio, APISIX, Kong)"
	@echo "make traefik-test build Traefik $(TRAEFIK_VERSION) and run onboard conform through it with the http-wasm guest"
	@echo "make test        all tests with -race (needs PostgreSQL, see README); installs Chromium and npm deps first (test-deps)"
	@echo "make sdk-test    the official Huawei Cloud Go SDK against onboard (nested module)"
	@echo "make check       gofmt, vet, staticcheck, tidy diff, wasm diff, tests"
	@echo "make fuzz        fuzz the engine for FUZZTIME (default 30s)"
	@echo "make fuzz-all    every fuzz target for FUZZTIME each (docs/reliability.md)"
	@echo "make vulncheck   govulncheck (needs vuln.go.dev or GOVULNDB; fails when unreachable)"
	@echo "make bench       print the performance report (docs/benchmarks.md; the V8 comparison needs node)"
	@echo "make flood       issue 15's overload (32 batch clients, 15 s) against one onboard serve on loopback (docs/reliability.md)"
	@echo "make bench-scale route rates as tables fill to 100,000 rows (docs/benchmarks.md)"
	@echo "make node-deps   npm ci for the Node.js Extism host check (plugins/engine/extism-node)"
	@echo "make caddy-test  build a real Caddy with the onboard module and test through it (nested module)"

build: examples
	$(GO) build -o $(BIN)/onboard ./cmd/onboard

# The example hook plug-ins (plugins/examples/<name>/<name>.wasm). Build
# outputs, not committed: the tests build what they load (examples.Build).
EXAMPLES := serial-allowlist ou-tags org-product
examples:
	@for n in $(EXAMPLES); do \
	GOOS=wasip1 GOARCH=wasm $(GO) build $(WASMFLAGS) -o plugins/examples/$$n/$$n.wasm ./plugins/examples/$$n || exit 1; \
	echo "plugins/examples/$$n/$$n.wasm"; done

wasm: httpwasm proxywasm
	GOOS=wasip1 GOARCH=wasm $(GO) build $(WASMFLAGS) -o $(WASM) ./plugins/engine/cmd/enginewasm

httpwasm proxywasm:
	GOOS=wasip1 GOARCH=wasm $(GO) build $(WASMFLAGS) -o plugins/$@/$@.wasm ./plugins/$@

# Every committed .wasm (the engine and the gateway guests) must be exactly
# what the source builds.
wasm-check:
	@tmp=$$(mktemp -d); status=0; \
	for m in $(WASM):./plugins/engine/cmd/enginewasm $(foreach g,$(GUESTS),$(g):./$(dir $(g))); do \
	file=$${m%%:*}; pkg=$${m#*:}; \
	GOOS=wasip1 GOARCH=wasm $(GO) build $(WASMFLAGS) -o $$tmp/out.wasm $$pkg || { status=1; continue; }; \
	if cmp -s $$tmp/out.wasm $$file; then echo "wasm-check: $$file is reproducible"; \
	else echo "wasm-check: $$file differs from a rebuild of the source: run 'make wasm' and commit it"; status=1; fi; done; \
	rm -rf $$tmp; exit $$status

# -race where it earns its cost: the gateway guests' tests run Wasm that
# wazero compiles, which the race detector cannot see into, while its
# instrumentation of wazero's compiler multiplies their time (about 4.6
# min instead of about 40 s on 2 cores); their host-side Go is raced in
# host/... and internal/.... So they run once, without -race.
RACE_FREE := ./plugins/httpwasm/... ./plugins/proxywasm/...
test: test-deps
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v -e /plugins/httpwasm -e /plugins/proxywasm)
	$(GO) test -count=1 $(RACE_FREE)

# What the tests need beyond Go, installed when missing: headless Chromium
# for the /docs page test (apt-get, as root or with sudo; about 150 MB) and
# the Node.js Extism host (npm ci). ONBOARD_SKIP_BROWSER=1 skips the browser.
test-deps: node-deps
	@if [ "$${ONBOARD_SKIP_BROWSER:-}" != 1 ] && ! command -v chromium >/dev/null; then \
	sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	echo "test-deps: installing chromium for TestDocsPageInChromium (ONBOARD_SKIP_BROWSER=1 skips it)"; \
	$$sudo apt-get update -q && $$sudo apt-get install -y -q chromium || \
	{ echo "test-deps: could not install chromium: install it, or set ONBOARD_SKIP_BROWSER=1"; exit 1; }; fi

test-short:
	$(GO) test ./...

sdk-test:
	cd host/api/sdkcompat && $(GO) test -count=1 ./...

# The Node.js host of TestExtismNodeHost (plugins/engine): @extism/extism
# exactly as package-lock.json pins it, from the npm registry.
EXTISM_NODE := plugins/engine/extism-node
node-deps:
	cd $(EXTISM_NODE) && npm ci --no-audit --no-fund

# Caddy with the onboard module (nested module host/caddy; its first build
# downloads ~1 GB of modules and takes ~4 minutes). The test builds the Caddy
# binary itself and runs the conformance kit through it; ONBOARD_SKIP_CADDY=1
# skips it.
CADDY := host/caddy
caddy-test:
	cd $(CADDY) && $(GO) vet ./... && $(GO) test -count=1 ./...

# Traefik TRAEFIK_VERSION built from the module proxy (the first build
# takes 12 to 25 minutes here and writes a 245 MB binary; later builds
# come from Go's build cache), then the http-wasm guest loaded in it as a
# local plug-in in front of `onboard serve`, with `onboard conform` run
# through it (plugins/httpwasm TestTraefik). The binary is a build output
# under bin/, not committed.
#
# Traefik v3.6.12 pins wazero v1.8.0, whose compiler corrupts the Go 1.26
# guest's heap (measured: the guest's runtime throws in GC sweep and malloc
# within a few hundred requests; wazero v1.8.0's interpreter and v1.12.0's
# compiler run the same requests clean). The build therefore raises
# wazero to TRAEFIK_WAZERO; TRAEFIK_WAZERO= builds Traefik as released.
TRAEFIK_VERSION := v3.6.12
TRAEFIK_WAZERO  := v1.12.0
TRAEFIK_BIN     := $(BIN)/traefik-$(TRAEFIK_VERSION)$(if $(TRAEFIK_WAZERO),-wazero-$(TRAEFIK_WAZERO))
$(TRAEFIK_BIN):
	@mkdir -p $(BIN)
	dir=$$($(GO) mod download -json github.com/traefik/traefik/v3@$(TRAEFIK_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p') && \
	test -n "$$dir" && tmp=$$(mktemp -d) && cp -r "$$dir"/. $$tmp && chmod -R u+w $$tmp && \
	( cd $$tmp && if [ -n "$(TRAEFIK_WAZERO)" ]; then $(GO) get github.com/tetratelabs/wazero@$(TRAEFIK_WAZERO); fi && \
	$(GO) build -trimpath -o $(CURDIR)/$@ ./cmd/traefik ); status=$$?; rm -rf $$tmp; exit $$status

traefik-test: $(TRAEFIK_BIN)
	ONBOARD_TRAEFIK_BIN=$(CURDIR)/$(TRAEFIK_BIN) $(GO) test -count=1 -v -run '^TestTraefik$$' -timeout 30m ./plugins/httpwasm

FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzEngine -fuzztime $(FUZZTIME) ./plugins/engine

# Every fuzz target in turn, FUZZTIME each (docs/reliability.md; the issue
# asks for FUZZTIME=10m before a release). Crashers land in testdata/fuzz/.
FUZZ_TARGETS := FuzzEngine:./plugins/engine FuzzResolve:./plugins/engine FuzzValidator:./plugins/engine/internal/schema \
	FuzzParse:./plugins/engine/internal/jsontree FuzzPipeline:./host/api FuzzSDKAuthorization:./host/api \
	FuzzParseSubject:./cmd/onboard FuzzSubject:./host/provision FuzzDecodeRequest:./abi
fuzz-all:
	@for t in $(FUZZ_TARGETS); do name=$${t%%:*}; pkg=$${t#*:}; echo "== $$name $$pkg"; \
	$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; done

# govulncheck by exact version. It needs the vulnerability database at
# vuln.go.dev (or GOVULNDB): where that is unreachable it fails, never
# passes silently. Not part of `make check` or CI for that reason.
GOVULNCHECK_VERSION := v1.9.0
$(BIN)/govulncheck:
	GOBIN=$(CURDIR)/$(BIN) $(GO) install golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION)

vulncheck: $(BIN)/govulncheck
	@$(BIN)/govulncheck ./... || { echo "vulncheck: FAILED (vulnerabilities found, or the database at $${GOVULNDB:-https://vuln.go.dev} is unreachable: see above)"; exit 1; }

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

check: lint tidy-check wasm-check test sdk-test caddy-test

bench:
	@mkdir -p docs
	ONBOARD_BENCH_REPORT=$(CURDIR)/docs/benchmarks.md $(GO) test -count=1 -v -run 'TestSpineReport' -timeout 30m ./host
	ONBOARD_BENCH_REPORT=$(CURDIR)/docs/benchmarks.md $(GO) test -count=1 -v -run 'TestAPIReport' -timeout 30m ./host/api
	ONBOARD_BENCH_REPORT=$(CURDIR)/docs/benchmarks.md $(GO) test -count=1 -v -run 'TestProvisionReport' -timeout 30m ./host/provision
	ONBOARD_BENCH_REPORT=$(CURDIR)/docs/benchmarks.md $(GO) test -count=1 -v -run 'TestGatewayReport' -timeout 30m ./internal/gatewaytest
	$(GO) test -run '^$$' -bench 'BatchCreateDevices' -benchtime 10x ./host/store/...

# FLOOD_REPORT=file.md writes the figures as Markdown.
flood:
	ONBOARD_FLOOD=1 ONBOARD_FLOOD_REPORT=$(FLOOD_REPORT) $(GO) test -count=1 -v -run '^TestFlood$$' -timeout 10m ./host/loadtest

# bench-scale: every create and list route on empty, 1,000-row and
# 100,000-row stores, SQLite and PostgreSQL, and EnOS batch throughput with
# 4 clients (a few minutes).
bench-scale:
	ONBOARD_SCALE_REPORT=$(CURDIR)/docs/benchmarks.md $(GO) test -count=1 -v -run 'TestScaleReport|TestEnOSThroughputReport' -timeout 60m ./host/api

clean:
	rm -rf $(BIN)
