# ffgo: the common tasks. `make help` lists them.
.PHONY: help demo generate verify test conformance soak bench lint valkey-up valkey-down bench-gen

GO ?= go

help:
	@echo "make demo         run the demo on the embedded engine (no server needed)"
	@echo "make generate     regenerate ffscripts/ from lua/ (go generate ./...)"
	@echo "make verify       fail with a diff when ffscripts/ is stale (strict annotations)"
	@echo "make test         install and start Valkey if needed, then run every test against it"
	@echo "make conformance  contract scenarios x (embedded, standalone, cluster) + 1000 differential sequences"
	@echo "make soak         20000 differential sequences from new seeds (SOAK=n to change; ~8 min)"
	@echo "make bench        ffgo vs raw Valkey vs asynq on a private valkey-server (~3 min; bench/README.md)"
	@echo "make lint         go vet and gofmt"
	@echo "make valkey-up    start Valkey on 127.0.0.1:16379 and a cluster on :17001-17003"
	@echo "make valkey-down  stop them"
	@echo "make bench-gen    generated FCALL vs hand-written FCALL (needs Valkey)"

generate:
	$(GO) generate ./...

verify:
	$(GO) run ./cmd/ffgen -lua lua -out ffscripts -strict -verify

test:
	bash scripts/test.sh

demo:
	$(GO) run ./cmd/ffdemo $(DEMOFLAGS)

CLUSTER_TARGET = cluster://127.0.0.1:17001,127.0.0.1:17002,127.0.0.1:17003

# The differential's seeds are fixed, so that a run (CI's included) is
# reproducible; `make soak` tries seeds from the clock, and a failure it finds
# prints the command that replays it.
DIFF_SEED ?= 1000001
SOAK ?= 20000

conformance: valkey-up
	$(GO) run ./conformance/cmd/ffconform -target embedded -target valkey://127.0.0.1:16379 -target $(CLUSTER_TARGET) -diff 1000 -diff-seed $(DIFF_SEED)

soak:
	bash scripts/install-valkey.sh
	$(GO) run ./conformance/cmd/ffconform -run '^$$' -diff $(SOAK)

bench:
	bash scripts/install-valkey.sh
	cd bench && $(GO) run . -all

lint:
	$(GO) vet ./...
	cd bench && $(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "not gofmt'd:"; echo "$$out"; exit 1; fi

valkey-up:
	bash scripts/install-valkey.sh
	bash scripts/valkey-up.sh

valkey-down:
	bash scripts/valkey-down.sh

bench-gen: valkey-up
	VALKEY_ADDR=127.0.0.1:16379 $(GO) test -run '^$$' -bench 'BenchmarkCall' -benchmem -count 6 ./ffscripts/
