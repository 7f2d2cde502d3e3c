# oncallbot developer entry points. Every target that needs PostgreSQL or
# Redis first runs scripts/services.sh, a quick no-op when both answer.

GO       ?= go
BIN      := bin/oncallbot
PKGS     ?= ./...
# BENCH selects benchmarks (go test -bench regexp); BENCHTIME how long each runs.
BENCH     ?= .
BENCHTIME ?= 1x
# FUZZTIME is how long `make fuzz` runs each fuzz target.
FUZZTIME  ?= 30s
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all build run services test bench bench-all fuzz lint

all: build

build:
	$(GO) build -o $(BIN) ./cmd/oncallbot

services:
	bash scripts/services.sh

run: services build
	./$(BIN)

test: services
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

# bench prints the SPEC §14 report (every figure beside its target);
# bench-all runs every benchmark of the tree.
bench: services
	bash scripts/bench.sh

bench-all: services
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchtime $(BENCHTIME) $(PKGS)

# fuzz runs every FuzzXxx target for FUZZTIME, one after another (go test
# fuzzes one target of one package per run). Targets are found in the
# packages whose tests define one; seeds live in each package's
# testdata/fuzz/FuzzXxx, and a failing input is written there.
fuzz: services
	FUZZTIME=$(FUZZTIME) GO=$(GO) bash scripts/fuzz.sh

lint:
	$(GO) vet $(PKGS)
	$(GO) run $(STATICCHECK) $(PKGS)
