# zkrecipes: `make demo` runs the demo, `make test` runs every check and test.
# Both need a Docker engine; the ZooKeeper image is built (or pulled) on first use: see
# internal/zktest/image/build.sh.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

BIN := $(CURDIR)/.bin
# Staticcheck 2026.2 (v0.8.x) is built for Go 1.26+; bump together with the Go version.
STATICCHECK_VERSION ?= v0.8.2
STATICCHECK := $(BIN)/staticcheck-$(STATICCHECK_VERSION)
TESTSUMMARY := $(BIN)/testsummary
TEST_TIMEOUT ?= 20m
FUZZTIME ?= 60s
BENCH ?= .

# The image is a prerequisite of test, so a missing ZooKeeper is an error, not a skip.
export ZK_TEST_REQUIRE ?= 1
# Ryuk, testcontainers' reaper, is an image of its own that cannot be pulled here; the harness
# removes its containers itself.
export TESTCONTAINERS_RYUK_DISABLED ?= true

.PHONY: all image check test demo bench fuzz chaos clean

all: test

image:
	bash internal/zktest/image/build.sh

check: $(STATICCHECK)
	@echo '>> gofmt -l'
	@files=$$(gofmt -l .); if [[ -n "$$files" ]]; then echo "not gofmt'ed:"; echo "$$files"; exit 1; fi
	@echo '>> go vet ./...'
	@go vet ./... && go vet .ci/testsummary.go
	@echo '>> staticcheck ./...'
	@$(STATICCHECK) ./... && $(STATICCHECK) .ci/testsummary.go

# Plain `go test` output, plus what it hides for passing packages: which ZooKeeper backend each
# package used, the skipped tests and the counts (see .ci/testsummary.go).
test: check image $(TESTSUMMARY)
	@echo '>> go test -race -count=1 -timeout $(TEST_TIMEOUT) ./...'
	@go test -race -count=1 -timeout $(TEST_TIMEOUT) -json ./... | $(TESTSUMMARY)

demo: image
	go run ./examples/demo $(DEMO_ARGS)

bench: image
	go test -run '^$$' -bench '$(BENCH)' -benchmem ./...

# The fault campaign (internal/chaos) for ROUNDS rounds: SEED replays a schedule (it is
# printed first; empty draws one). `make test` runs its short version.
ROUNDS ?= 40
SEED ?=
CHAOS_TIMEOUT ?= $(shell echo $$(( 5 + $(ROUNDS) / 2 )))m
chaos: image
	CHAOS_ROUNDS=$(ROUNDS) CHAOS_SEED=$(SEED) go test -race -count=1 -timeout $(CHAOS_TIMEOUT) \
		-run '^TestCampaign$$' -v ./internal/chaos

# Runs every Fuzz function in the module for FUZZTIME each (go test fuzzes one target at a time).
fuzz:
	@found=0; \
	for file in $$(find . -path './.*' -prune -o -name '*_test.go' -print | sort); do \
		for fn in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$$file"); do \
			found=1; echo ">> $$(dirname $$file) $$fn for $(FUZZTIME)"; \
			go test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) "$$(dirname $$file)"; \
		done; \
	done; \
	if [[ $$found == 0 ]]; then echo 'no Fuzz functions yet'; fi

$(STATICCHECK):
	GOBIN=$(BIN) go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv $(BIN)/staticcheck $@

$(TESTSUMMARY): .ci/testsummary.go
	go build -o $@ .ci/testsummary.go

clean:
	rm -rf $(BIN) coverage.out coverage.html *.coverprofile
