# trailwatch — every target works on a fresh clone with a Rust toolchain and Python 3:
# crates, tools (cargo-deny, cargo-fuzz, cargo-lambda) and Python packages are fetched
# into the project (target/tools, .venv), never into your system.
CARGO ?= cargo
PYTHON ?= python3
BIN := target/debug/trailwatch
VENV := .venv
TOOLS := target/tools
STEP := scripts/step
FUZZ_SECONDS ?= 300
# The project's virtual environment and tools come first.
export PATH := $(CURDIR)/$(VENV)/bin:$(CURDIR)/$(TOOLS)/bin:$(PATH)
export AWS_DEFAULT_REGION ?= us-east-1
# The AWS CLI in `make redrive` gets the caller's region, not the default above (which
# would override a profile's region).
AWS_CLI_ENV := $(if $(filter file,$(origin AWS_DEFAULT_REGION)),env -u AWS_DEFAULT_REGION)
MAKEFLAGS += --no-print-directory

.PHONY: arm64-check run test venv lint deny deny-tool check-template fmt fuzz fuzz-smoke fuzz-tools \
	build-cli build lambda-tools deploy redrive bench docs aws-api clean mutants mutants-diff \
	mutants-tool mutants-summary

## run: scan examples/attack-story, one morning of a trail with an intrusion in it, with the
## bundled rules (the story: examples/README.md; alerts found = success)
run: build-cli
	@echo "trailwatch scan --format text examples/attack-story   (the story: examples/README.md)"
	@$(BIN) scan --format text examples/attack-story; rc=$$?; \
	  if [ $$rc -gt 1 ]; then echo "make run: scan failed (exit $$rc)"; exit $$rc; fi

## test: one line per step, each step's output in target/make-test/*.log, failures in full
test:
	@$(STEP) --begin
	@$(STEP) python-venv $(MAKE) venv
	@$(STEP) fetch-crates $(CARGO) fetch --locked
	@$(STEP) fmt $(CARGO) fmt --all --check
	@$(STEP) sam-template $(MAKE) check-template
	@$(STEP) cargo-deny $(MAKE) deny
	@$(STEP) clippy $(CARGO) clippy --locked --all-targets -- -D warnings
	@$(STEP) cargo-test $(CARGO) test --locked --all-targets
	@$(STEP) rules-validate $(BIN) validate rules
	@$(STEP) rules-test $(BIN) test rules
	@$(STEP) mutants-diff $(MAKE) mutants-diff
	@$(STEP) fuzz-smoke $(MAKE) fuzz-smoke
	@$(STEP) --summary

## venv: the Python test packages (moto_server, cfn-lint, pySigma), pinned in requirements-dev.txt,
## in a virtual environment of the project's own
venv: $(VENV)/.installed
$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	@touch $@

## lint: rustfmt check, clippy with warnings as errors, the SAM template, cargo-deny
lint: check-template deny
	$(CARGO) fmt --all --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

## deny: licenses, bans and sources of every dependency (deny.toml); RustSec advisories
## too when the advisory database can be fetched or is already on the machine (it lives
## on GitHub, which some build machines cannot reach)
deny: deny-tool
	$(CARGO) fetch --locked
	$(CARGO) deny --offline check licenses bans sources
	@if $(CARGO) deny fetch db >/dev/null 2>&1 || \
	    ls -d $${CARGO_HOME:-$$HOME/.cargo}/advisory-dbs/advisory-db-* >/dev/null 2>&1; then \
	  $(CARGO) deny --offline check advisories && echo "step-note: licenses, bans, sources, advisories"; \
	else \
	  echo "step-note: licenses, bans, sources; advisories NOT checked (the RustSec database on github.com cannot be fetched)"; \
	fi

deny-tool:
	@command -v cargo-deny >/dev/null 2>&1 || \
	  $(CARGO) install --quiet --locked --root $(TOOLS) cargo-deny --version 0.20.2

## mutants: cargo-mutants (scope and exclusions: .cargo/mutants.toml) on a copy of the tree,
## one mutant at a time at the lowest priority; hours for the whole scope, so narrow it with
## MUTANTS_ARGS, e.g. MUTANTS_ARGS='--file src/state/window.rs' or '--shard 1/8'.
## Results in target/mutants.out/{core,lambda}/mutants.out/ (missed.txt: untested code)
mutants: mutants-tool
	scripts/mutants all $(MUTANTS_ARGS); rc=$$?; scripts/mutants-summary; exit $$rc

## mutants-summary: per module, the mutants found in the scope and, over every run kept in
## target/mutants.out, how many were caught, missed or unviable
mutants-summary: mutants-tool
	scripts/mutants-summary

## mutants-diff: the same on the mutants in what the change touched (since MUTANTS_BASE:
## origin/main, else the last commit's parent), at most MUTANTS_DIFF_MAX (6); part of
## make test, skipped and said so where cargo-mutants cannot be installed
mutants-diff:
	@$(MAKE) mutants-tool || echo "cargo-mutants could not be installed"
	scripts/mutants diff

mutants-tool:
	@command -v cargo-mutants >/dev/null 2>&1 || \
	  $(CARGO) install --quiet --locked --root $(TOOLS) cargo-mutants --version 27.1.0

## check-template: cfn-lint (pinned: it expands the SAM resources and checks what they generate)
check-template: venv
	cfn-lint template.yaml

## build: validate and test rules/, then build the Lambda's bootstrap for arm64 with the
## rules compiled in → target/lambda/trailwatch-lambda/bootstrap
build: build-cli lambda-tools
	$(BIN) validate rules
	$(BIN) test rules > target/rule-tests.log || { cat target/rule-tests.log; exit 1; }
	@tail -n 1 target/rule-tests.log
	cargo lambda build --release --arm64 --bin trailwatch-lambda

## lambda-tools: cargo-lambda and zig from PyPI (into .venv), and the arm64 Rust target
lambda-tools: venv
	@command -v cargo-lambda >/dev/null 2>&1 || $(VENV)/bin/python -m pip install -q --disable-pip-version-check cargo-lambda ziglang
	@rustup target list --installed | grep -q aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu

## arm64-check: the arm64 bootstrap `make build` made, run under qemu-user in place of the
## native build by the Lambda's moto tests (differential, e2e, faults): the build that ships
## gives the same alerts. Needs qemu-user and libc6-arm64-cross (Debian packages)
arm64-check: build
	scripts/arm64-check

## deploy: build with SAM (its rust-cargolambda build method is a beta feature) and deploy
deploy: build
	@command -v sam >/dev/null 2>&1 || $(VENV)/bin/python -m pip install -q --disable-pip-version-check aws-sam-cli
	SAM_CLI_BETA_RUST_CARGO_LAMBDA=1 sam build --beta-features
	sam deploy --guided

## redrive: STACK=<stack name> — once the cause of the failures is fixed, turn on the stack's
## RedriveMapping (output RedriveMappingId): the function re-reads what its dead-letter queue
## (the on-failure destination) holds. Uses the AWS CLI and its usual environment
## (AWS_PROFILE, AWS_REGION, ...); this Makefile's us-east-1 default is not passed on.
## It prints how to turn the mapping off once the queue is empty.
redrive:
	@test -n "$(STACK)" || { echo "usage: make redrive STACK=<stack name>"; exit 2; }
	@command -v aws >/dev/null 2>&1 || { echo "make redrive needs the AWS CLI (aws)"; exit 2; }
	@set -e; cli() { $(AWS_CLI_ENV) aws "$$@"; }; \
	output() { cli cloudformation describe-stacks --stack-name "$(STACK)" \
	  --query "Stacks[0].Outputs[?OutputKey=='$$1'].OutputValue" --output text; }; \
	uuid=$$(output RedriveMappingId); queue=$$(output DeadLetterQueueUrl); \
	if [ -z "$$uuid" ] || [ "$$uuid" = None ]; then \
	  echo "stack $(STACK) has no RedriveMappingId output (deployed from an older template.yaml?)"; exit 1; fi; \
	state=$$(cli lambda update-event-source-mapping --uuid "$$uuid" --enabled --query State --output text); \
	echo "redrive mapping $$uuid: $$state (from $$queue)"; \
	echo "Watch the queue drain (both numbers 0 = empty; DeliveryLag alarms during a redrive are expected):"; \
	echo "  aws sqs get-queue-attributes --queue-url $$queue --attribute-names ApproximateNumberOfMessages ApproximateNumberOfMessagesNotVisible"; \
	echo "then turn the redrive off:"; \
	echo "  aws lambda update-event-source-mapping --uuid $$uuid --no-enabled"

## fuzz: each cargo-fuzz target (decode, rules, trigger) for FUZZ_SECONDS (nightly toolchain),
## seeded with the sample trails and the bundled rules; libFuzzer's progress goes to
## target/fuzz-<target>.log
fuzz: fuzz-tools
	@cd fuzz && for t in decode rules trigger; do \
	  case $$t in rules) seeds="$$(find ../rules -type d)";; *) seeds=../examples;; esac; \
	  mkdir -p corpus/$$t && \
	  if cargo +nightly fuzz run $$t corpus/$$t $$seeds -- -max_total_time=$(FUZZ_SECONDS) \
	       -rss_limit_mb=1024 > ../target/fuzz-$$t.log 2>&1; then \
	    echo "step-note: $$t $$(grep -Eo 'Done [0-9]+ runs' ../target/fuzz-$$t.log | tail -n 1 | cut -d' ' -f2) runs"; \
	  else cat ../target/fuzz-$$t.log; echo "fuzz target $$t failed (log: target/fuzz-$$t.log)"; exit 1; fi; \
	done

## fuzz-smoke: the same, 30 s each (part of make test; skipped without a nightly toolchain)
fuzz-smoke:
	@if rustup run nightly rustc --version >/dev/null 2>&1; then \
	  $(MAKE) fuzz FUZZ_SECONDS=30; \
	else echo "step-note: skipped: no nightly toolchain (rustup toolchain install nightly)"; fi

fuzz-tools:
	@command -v cargo-fuzz >/dev/null 2>&1 || \
	  $(CARGO) install --quiet --locked --root $(TOOLS) cargo-fuzz --version 0.13.2

## docs: regenerate the catalogue figures in rules/README.md (coverage, Stratus, noise, peers)
docs:
	TRAILWATCH_BLESS=1 $(CARGO) test --locked --test catalogue

## aws-api: regenerate src/rules/aws_api/members.txt.gz (the AWS API request members validate
## checks requestParameters against) from the botocore pinned in requirements-dev.txt, then
## measure it against the real records (tests/aws_api.rs)
aws-api: venv
	$(VENV)/bin/python scripts/aws_api_members.py
	$(CARGO) test --locked --test aws_api -- --nocapture

## bench: trailwatch vs the Python peer and a Rust baseline (see BENCHMARKS.md)
bench:
	$(PYTHON) bench/run.py

fmt:
	$(CARGO) fmt --all

build-cli:
	$(CARGO) build --locked --bin trailwatch

clean:
	$(CARGO) clean
	rm -rf $(VENV)
