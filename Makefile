# trailwatch — every target works on a fresh clone; nothing relies on hand-installed tools.
CARGO ?= cargo
BIN := target/debug/trailwatch

.PHONY: run test lint fmt build-cli clean

## run: scan the sample trails in examples/ with the bundled rules (alerts found = success)
run: build-cli
	@$(BIN) scan --format text examples; rc=$$?; \
	  if [ $$rc -gt 1 ]; then echo "make run: scan failed (exit $$rc)"; exit $$rc; fi

## test: formatting, clippy -D warnings, unit + integration tests, then the rules' own tests
test: lint build-cli
	$(CARGO) test --all-targets
	$(BIN) validate rules
	$(BIN) test rules

## lint: rustfmt check and clippy with warnings as errors
lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

build-cli:
	$(CARGO) build --bin trailwatch

clean:
	$(CARGO) clean
