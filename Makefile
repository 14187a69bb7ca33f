# trailwatch — every target works on a fresh clone; nothing relies on hand-installed tools.
CARGO ?= cargo
BIN := target/debug/trailwatch

.PHONY: run test test-deps lint deny deny-tool check-template fmt fuzz-smoke build-cli build lambda-tools deploy bench fuzz fuzz-tools clean
FUZZ_SECONDS ?= 300
PYTHON ?= python3
export AWS_DEFAULT_REGION ?= us-east-1

## run: scan the sample trails in examples/ with the bundled rules (alerts found = success)
run: build-cli
	@$(BIN) scan --format text examples; rc=$$?; \
	  if [ $$rc -gt 1 ]; then echo "make run: scan failed (exit $$rc)"; exit $$rc; fi

## test: formatting, clippy -D warnings, cargo-deny, unit + integration tests (the Lambda's
## against moto_server on loopback, some behind a fault-injecting proxy), the rules' own
## tests, then a 30 s fuzz smoke per target
test: test-deps lint build-cli
	$(CARGO) test --all-targets
	$(BIN) validate rules
	$(BIN) test rules
	$(MAKE) fuzz-smoke

## test-deps: the Python test packages (moto_server, cfn-lint), pinned in requirements-dev.txt
test-deps:
	@$(PYTHON) -m pip install -q --disable-pip-version-check --root-user-action=ignore -r requirements-dev.txt

## lint: rustfmt check, clippy with warnings as errors, the SAM template, cargo-deny
lint: check-template deny
	$(CARGO) fmt --all --check
	$(CARGO) clippy --all-targets -- -D warnings

## deny: licenses, bans and sources of every dependency (deny.toml); RustSec advisories
## too when the advisory database can be fetched or is already on the machine (these
## machines reach crates.io but not GitHub, where the database lives)
deny: deny-tool
	$(CARGO) deny --offline check licenses bans sources
	@if $(CARGO) deny fetch db >/dev/null 2>&1 || \
	    ls -d $${CARGO_HOME:-$$HOME/.cargo}/advisory-dbs/advisory-db-* >/dev/null 2>&1; then \
	  $(CARGO) deny --offline check advisories; \
	else \
	  echo "deny: advisories NOT checked: the RustSec database (github.com/rustsec/advisory-db) cannot be fetched from this machine"; \
	fi

deny-tool:
	@command -v cargo-deny >/dev/null 2>&1 || $(CARGO) install cargo-deny --locked --version 0.20.2

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

## fuzz: each cargo-fuzz target (decode, rules, trigger) for FUZZ_SECONDS (nightly toolchain),
## seeded with the sample trails and the bundled rules
fuzz: fuzz-tools
	cd fuzz && for t in decode rules trigger; do \
	  case $$t in rules) seeds="$$(find ../rules -type d)";; *) seeds=../examples;; esac; \
	  mkdir -p corpus/$$t && \
	  cargo +nightly fuzz run $$t corpus/$$t $$seeds -- -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=1024 || exit 1; done

## fuzz-smoke: the same, 30 s each (part of make test)
fuzz-smoke: FUZZ_SECONDS = 30
fuzz-smoke: fuzz

fuzz-tools:
	@command -v cargo-fuzz >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --locked --version 0.13.2

## bench: trailwatch vs the Python peer and a Rust baseline (see BENCHMARKS.md)
bench:
	$(PYTHON) bench/run.py

fmt:
	$(CARGO) fmt --all

build-cli:
	$(CARGO) build --bin trailwatch

clean:
	$(CARGO) clean
