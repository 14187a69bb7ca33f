# trailwatch — every target works on a fresh clone; nothing relies on hand-installed tools.
CARGO ?= cargo
BIN := target/debug/trailwatch

.PHONY: run test test-deps lint check-template fmt build-cli build lambda-tools deploy bench fuzz fuzz-tools clean
FUZZ_SECONDS ?= 300
PYTHON ?= python3
export AWS_DEFAULT_REGION ?= us-east-1

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

## test-deps: the Python test packages (moto_server, cfn-lint), pinned in requirements-dev.txt
test-deps:
	@$(PYTHON) -m pip install -q --disable-pip-version-check --root-user-action=ignore -r requirements-dev.txt

## lint: rustfmt check, clippy with warnings as errors, the SAM template
lint: check-template
	$(CARGO) fmt --all --check
	$(CARGO) clippy --all-targets -- -D warnings

## check-template: cfn-lint (pinned: it expands the SAM resources and checks what they generate)
check-template: test-deps
	$(PYTHON) -c "import sys; from cfnlint.runner import main; sys.exit(main())" template.yaml

## build: the Lambda's bootstrap for arm64 → target/lambda/trailwatch-lambda/bootstrap
build: lambda-tools
	cargo lambda build --release --arm64 --bin trailwatch-lambda

## lambda-tools: cargo-lambda and zig from PyPI, and the arm64 Rust target, when missing
lambda-tools:
	@command -v cargo-lambda >/dev/null 2>&1 || $(PYTHON) -m pip install -q cargo-lambda ziglang
	@rustup target list --installed | grep -q aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu

## deploy: build with SAM (its rust-cargolambda build method is a beta feature) and deploy
deploy: lambda-tools
	@command -v sam >/dev/null 2>&1 || $(PYTHON) -m pip install -q aws-sam-cli
	SAM_CLI_BETA_RUST_CARGO_LAMBDA=1 sam build --beta-features
	sam deploy --guided

## fuzz: each cargo-fuzz target (decode, rules, trigger) for FUZZ_SECONDS (nightly toolchain)
fuzz: fuzz-tools
	cd fuzz && for t in decode rules trigger; do mkdir -p corpus/$$t && \
	  cargo +nightly fuzz run $$t corpus/$$t -- -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=1024 || exit 1; done

fuzz-tools:
	@command -v cargo-fuzz >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked

## bench: trailwatch vs the Python peer and a Rust baseline (see BENCHMARKS.md)
bench:
	$(PYTHON) bench/run.py

fmt:
	$(CARGO) fmt --all

build-cli:
	$(CARGO) build --bin trailwatch

clean:
	$(CARGO) clean
