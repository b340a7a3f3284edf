# zkrecipes: `make demo` runs the demo, `make test` runs every check and test.
# Both need a Docker engine; the ZooKeeper image is built (or pulled) on first use: see
# tests/zktest/image/build.sh.
#
# The repository holds several Go modules: the library at the root (it requires only go-zk
# and backoff), tests/ (the real-ZooKeeper harness, the integration, fault and interop tests,
# the chaos campaign), examples/ (the demo programs and their end-to-end tests) and cmd/zkr
# (the operator's command; tested as a binary from tests/zkr). The
# nested modules point at the working tree with replace directives; there is no go.work.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

BIN := $(CURDIR)/.bin
# Staticcheck 2026.2 (v0.8.x) is built for Go 1.26+; bump together with the Go version.
STATICCHECK_VERSION ?= v0.8.2
STATICCHECK := $(BIN)/staticcheck-$(STATICCHECK_VERSION)
TESTSUMMARY := $(BIN)/testsummary
WITHZK := $(BIN)/withzk
# The modules after the root, in the order `make test` runs them.
MODULES := tests examples cmd/zkr adapters/otel adapters/prometheus adapters/tests
TEST_TIMEOUT ?= 20m
FUZZTIME ?= 60s
BENCH ?= .

# The image is a prerequisite of test, so a missing ZooKeeper is an error, not a skip.
export ZK_TEST_REQUIRE ?= 1
# Ryuk, testcontainers' reaper, is an image of its own that cannot be pulled here; the harness
# removes its containers itself.
export TESTCONTAINERS_RYUK_DISABLED ?= true
# Where tests leave what a person may want to look at afterwards (the status page's
# screenshot from the browser test).
export ZKRECIPES_ARTIFACTS ?= $(CURDIR)/.artifacts

.PHONY: all image check consumer test demo bench fuzz chaos clean

all: test

image:
	bash tests/zktest/image/build.sh

check: $(STATICCHECK)
	@echo '>> gofmt -l'
	@files=$$(gofmt -l .); if [[ -n "$$files" ]]; then echo "not gofmt'ed:"; echo "$$files"; exit 1; fi
	@for m in . $(MODULES); do \
		echo ">> go vet ./... (module $$m)"; (cd $$m && go vet ./...); \
		echo ">> staticcheck ./... (module $$m)"; (cd $$m && $(STATICCHECK) ./...); \
	done
	@go vet .ci/testsummary.go && $(STATICCHECK) .ci/testsummary.go

# A scratch module that imports every library package must see only go-zk, backoff and what
# they need in its module graph (`go list -m all`): see .ci/consumer.
consumer:
	@bash .ci/consumer

# Plain `go test` output, plus what it hides for passing packages: which ZooKeeper backend each
# package used, the skipped tests and the counts (see .ci/testsummary.go).
# The root module's tests run under withzk, which gives its runnable Examples a ZooKeeper
# (internal/examplezk); the nested modules' tests start their own through tests/zktest.
GOTEST := go test -race -count=1 -timeout $(TEST_TIMEOUT) -json ./...
test: check consumer image $(TESTSUMMARY) $(WITHZK)
	@echo '>> go test -race -count=1 -timeout $(TEST_TIMEOUT) ./... in . $(MODULES)'
	@{ status=0; \
		$(WITHZK) -- $(GOTEST) || status=1; \
		for m in $(MODULES); do (cd $$m && $(GOTEST)) || status=1; done; \
		exit $$status; } | $(TESTSUMMARY)

demo: image
	cd examples && go run ./demo $(DEMO_ARGS)

bench: image
	cd tests && go test -run '^$$' -bench '$(BENCH)' -benchmem ./...
	cd adapters/tests && go test -run '^$$' -bench '$(BENCH)' -benchmem ./...

# The fault campaign (tests/chaos) for ROUNDS rounds: SEED replays a schedule (it is
# printed first; empty draws one). `make test` runs its short version.
ROUNDS ?= 40
SEED ?=
CHAOS_TIMEOUT ?= $(shell echo $$(( 5 + $(ROUNDS) / 2 )))m
chaos: image
	cd tests && CHAOS_ROUNDS=$(ROUNDS) CHAOS_SEED=$(SEED) go test -race -count=1 -timeout $(CHAOS_TIMEOUT) \
		-run '^TestCampaign$$' -v ./chaos

# Runs every Fuzz function in the repository (any module) for FUZZTIME each (go test fuzzes one target at a time).
fuzz:
	@found=0; \
	for file in $$(find . -path './.*' -prune -o -name '*_test.go' -print | sort); do \
		for fn in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$$file"); do \
			found=1; echo ">> $$(dirname $$file) $$fn for $(FUZZTIME)"; \
			(cd "$$(dirname $$file)" && go test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) .); \
		done; \
	done; \
	if [[ $$found == 0 ]]; then echo 'no Fuzz functions yet'; fi

$(STATICCHECK):
	GOBIN=$(BIN) go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv $(BIN)/staticcheck $@

$(TESTSUMMARY): .ci/testsummary.go
	go build -o $@ .ci/testsummary.go

# Always rebuilt (go build is a no-op when nothing changed), as it depends on the harness.
.PHONY: $(WITHZK)
$(WITHZK):
	cd tests && go build -o $@ ./cmd/withzk

clean:
	rm -rf $(BIN) coverage.out coverage.html *.coverprofile
