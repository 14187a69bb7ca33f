# trailwatch — every target works on a fresh clone; nothing relies on hand-installed tools.
CARGO ?= cargo
BIN := target/debug/trailwatch

.PHONY: run test test-deps lint fmt build-cli clean
PYTHON ?= python3

## run: scan the sample trails in examples/ with the bundled rules (alerts found = success)
run: build-cli
	@$(BIN) scan --format text examples; rc=$$?; \
	  if [ $$rc -gt 1 ]; then echo "make run: scan failed (exit $$rc)"; exit $$rc; fi

## test: formatting, clippy -D warnings, unit + integration tests (the Lambda's against
## moto_server on loopback), then the rules' own tests
test: test-deps lint build-cli
	$(CARGO) test --all-targets
	$(BIN) validate rules
	$(BIN) test rules

## test-deps: the Python test packages (moto_server), installed only when missing
test-deps:
	@$(PYTHON) -c "import moto.server" 2>/dev/null || $(PYTHON) -m pip install -q -r requirements-dev.txt

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
