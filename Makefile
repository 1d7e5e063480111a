# kinko: see README.md. `make test` is what CI runs; `make help` lists the rest.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
GO ?= go

# The Go toolchain, pinned: every go command make runs (and the tests it starts) uses exactly this
# release, which the go command fetches through the module proxy (golang.org/toolchain, checked
# against the checksum database) when it is not the one installed. Rebuilding a release's bytes
# needs the same toolchain, and the standard library's known vulnerabilities are this release's
# (make vulncheck: go1.26.8 let the code reach ten, fixed in go1.26.9 and go1.26.10).
# make GO_TOOLCHAIN=local uses whatever go is on PATH.
GO_TOOLCHAIN ?= go1.26.11
export GOTOOLCHAIN = $(GO_TOOLCHAIN)

# Lambda architecture: arm64 (default) or x86_64. Go calls the latter amd64.
ARCH ?= arm64
ARCHES := arm64 x86_64
goarch = $(if $(filter x86_64,$(1)),amd64,$(1))

# Stamped into both binaries as main.version. Evaluated once (`:=`), not per use.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
VERSION := $(VERSION)

DIST := dist
BUILD := build
# Reproducible binaries: no cgo, no local paths, no build id, no symbol table.
LDFLAGS := -s -w -buildid= -X main.version=$(VERSION)
GOBUILD := CGO_ENABLED=0 GOOS=linux $(GO) build -trimpath -ldflags "$(LDFLAGS)"
MKZIP := $(BUILD)/mkzip
# The shipped zips (the layer's and the function's) are deflated by zopfli (layer/mkzip -zopfli):
# 238 KB (6%) smaller than Go's flate for the x86_64 layer, a shorter download at every cold start,
# and as reproducible (zopfli is deterministic; make release records its version). make deps
# installs it. make ZOPFLI= builds them with Go's flate instead: for local experiments only, since
# those are not the release's bytes (make release refuses it).
ZOPFLI ?= zopfli
MKZIP_FLAGS = $(if $(ZOPFLI),-zopfli "$(ZOPFLI)")
NO_ZOPFLI = zopfli (ZOPFLI=$(ZOPFLI)) not found: the shipped zips are compressed with it. Install it with make deps \
  (or: sudo apt-get install zopfli). For a local experiment only, make ZOPFLI= ... builds with Go's flate (bigger, not the release's bytes)
# A recipe's first line: fails early, saying how to get zopfli; with ZOPFLI= says what was built.
need_zopfli = $(if $(ZOPFLI),command -v "$(ZOPFLI)" >/dev/null || { echo "$@: $(NO_ZOPFLI)" >&2; exit 1; },echo "$@: built with Go's flate (ZOPFLI=): not the release's bytes" >&2)
# The extension's compiler flags, one per line in layer/kinko.gcflags (the e2e builds read that
# file too): no inlining, except in the packages a cached answer runs through.
KINKO_GCFLAGS := $(shell cat layer/kinko.gcflags)

# A release is the zopfli bytes: say so before a minute of building.
ifneq ($(filter release,$(MAKECMDGOALS)),)
ifeq ($(ZOPFLI),)
$(error make release builds the zips with zopfli: ZOPFLI is empty (install zopfli with `make deps`))
endif
endif

# make run needs FN; say so before a minute of building.
ifneq ($(filter run,$(MAKECMDGOALS)),)
ifeq ($(FN),)
$(error FN is not set: make run FN=path/to/your/function [HANDLER=app.handler] [SECRETS=secrets.json] [ENV='K=V ...'] [EVENT=event.json] [N=2] (README "Try it locally"))
endif
endif

# Deployment (serverless.yml documents its parameters). OSLS_FLAGS adds more, e.g.
#   make deploy STAGE=prod OSLS_FLAGS='--param="secretName=prod/openai"'
# The region is the AWS CLI's: REGION, else AWS_REGION, else AWS_DEFAULT_REGION, else the CLI
# profile's region, so the secret the README creates with `aws` and the stack land in one region.
# make package renders offline and falls back to us-east-1; deploy, remove and publish-layer stop.
STAGE ?= dev
REGION ?= $(or $(AWS_REGION),$(AWS_DEFAULT_REGION),$(shell command -v aws >/dev/null && aws configure get region 2>/dev/null))
OSLS_FLAGS ?=
OSLS := npx --no-install osls
SLS_REGION = $(REGION)
SLS_ARGS = --stage $(STAGE) --region $(SLS_REGION) --param="arch=$(ARCH)" $(OSLS_FLAGS)
NO_REGION := no AWS region: set REGION=... (or AWS_REGION, or a region in your AWS CLI profile) to the region that holds your secret
need_region = $(if $(REGION),,$(error $(NO_REGION)))
# make publish-layer: the regions (default REGION), and whom to share the versions with.
REGIONS ?= $(REGION)
SHARE_ACCOUNT ?=
SHARE_ORG ?=
CFN_TEMPLATE := .serverless/cloudformation-template-update-stack.json

# The end-to-end stack runs binaries for this machine, whatever ARCH says.
HOST_ARCH := $(if $(filter aarch64 arm64,$(shell uname -m)),arm64,x86_64)

.PHONY: help test deps vet unit e2e demo up run lint vulncheck release bench soak faulttable faulttable-before fuzz build layer image function package deploy remove publish-layer clean FORCE
.DEFAULT_GOAL := test
# Keep the binaries that the zips are made from (make would delete them as intermediates).
.SECONDARY:
# A recipe that fails (the size check) leaves no half-made target behind.
.DELETE_ON_ERROR:

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'
	@echo "  variables: ARCH=$(ARCH) (arm64|x86_64) STAGE=$(STAGE) REGION=$(REGION) VERSION=$(VERSION)"

test: deps lint unit vulncheck ## what CI runs: deps, vet and staticcheck, every test with -race (unit, whole-process, end to end), then govulncheck

deps: node_modules/.package-lock.json ## install what the tests and the build need when missing: chromium, zopfli (apt), moto, cfn-lint, the AWS CLI (pip), osls (npm ci)
	bash e2e/install-deps.sh

# The Go client is a module of its own (client/go.mod), which ./... at the root does not enter:
# vet, staticcheck and the tests run there too.
vet: ## go vet
	$(GO) vet ./...
	$(GO) vet -C client ./...

# The whole output is kept in build/unit.log; on failure the last lines name what failed (a CI
# log is read from its end). -timeout 20m: ./extension alone took 487 s with four CPU-bound
# processes beside it, close to go test's default of 10 minutes per package. The Go client is a
# module of its own: its tests run there too.
unit: ## go test -race ./... (includes ./e2e) and in client/; on failure, ends with the list of what failed
	@mkdir -p $(BUILD)
	@echo "$(GO) test -race -count=1 -timeout 20m ./... && $(GO) test -C client -race -count=1 ./...  (output also in $(BUILD)/unit.log)"
	@status=0; { $(GO) test -race -count=1 -timeout 20m ./... && $(GO) test -C client -race -count=1 ./...; } 2>&1 | tee $(BUILD)/unit.log || status=$$?; \
	if [[ $$status -ne 0 ]]; then \
	  echo; echo "==> make unit: FAILED (exit $$status). What failed ($(BUILD)/unit.log has it all):"; \
	  failed=$$( { grep -E '^[[:space:]]*--- FAIL|^FAIL[[:space:]]|\[(build|setup) failed\]' $(BUILD)/unit.log; \
	    grep -E -A2 '^panic: ' $(BUILD)/unit.log; } || true ); \
	  echo "$${failed:-  no FAIL line: read $(BUILD)/unit.log}"; \
	fi; exit $$status

e2e: deps ## the end-to-end suite alone: emulator, layer, function, moto, browser
	$(GO) test -count=1 -v ./e2e/...

# The local stack unpacks the layer at once: Go's flate, not zopfli, which would add half a minute
# to every make run for a zip that never leaves the machine (same files; make layer and everything
# that ships rebuild it with zopfli).
demo up run: ZOPFLI =

demo: $(DIST)/kinko-layer-$(HOST_ARCH).zip ## the whole stack on this machine: a cold and two warm requests, then stop
	$(GO) build -o $(BUILD)/demo ./e2e/cmd/demo
	$(BUILD)/demo -layer $<

up: $(DIST)/kinko-layer-$(HOST_ARCH).zip ## the same stack until Ctrl-C; the page at http://127.0.0.1:3000/
	$(GO) build -o $(BUILD)/demo ./e2e/cmd/demo
	$(BUILD)/demo -up -layer $<

# make run: your own function with the layer, under the emulator, against moto (e2e/cmd/run;
# README "Try it locally"). The values reach the command through the environment, so paths and
# ENV's quotes pass unchanged. ENV counts only from make's command line: a shell may export an
# ENV of its own (POSIX sh reads it as a startup file).
run: export KINKO_RUN_FN = $(FN)
run: export KINKO_RUN_HANDLER = $(HANDLER)
run: export KINKO_RUN_SECRETS = $(SECRETS)
run: export KINKO_RUN_EVENT = $(EVENT)
run: export KINKO_RUN_N = $(or $(N),1)
run: export KINKO_RUN_ENV = $(if $(filter command line,$(origin ENV)),$(value ENV))
run: $(DIST)/kinko-layer-$(HOST_ARCH).zip ## your function in FN=DIR with the layer, against moto: HANDLER=app.handler SECRETS=s.json ENV='K=V' EVENT=e.json N=2
	$(GO) build -o $(BUILD)/run ./e2e/cmd/run
	$(BUILD)/run -layer $< -fn "$$KINKO_RUN_FN" -handler "$$KINKO_RUN_HANDLER" -secrets "$$KINKO_RUN_SECRETS" \
	  -event "$$KINKO_RUN_EVENT" -n "$$KINKO_RUN_N" -env "$$KINKO_RUN_ENV" $(if $(filter 1 true yes,$(VERBOSE)),-v)

# govulncheck (pinned in internal/cmd/vulncheck) over the packages of what kinko ships: the
# extension, kinko-exec and the sample function, for linux/arm64 and linux/amd64, against a local
# copy of Go's vulnerability database built from the golang.org/x/vulndb module (VULNDB_VERSION,
# default the newest the module proxy has; offline, the newest in the module cache), or
# VULNDB_DIR, a copy of the database made elsewhere. It fails when the code reaches a known
# vulnerability, says how old the database is, and skips with a message when there is none.
VULNDB_VERSION ?= latest
# make test checks against a fixed copy of the database, so CI's verdict on a commit does not change
# with the day it runs; make vulncheck (and make release) ask for the newest. Move this pin forward
# with the toolchain's.
VULNDB_FOR_TESTS := v0.0.0-20261105234957-e22db6528018
test: VULNDB_VERSION = $(VULNDB_FOR_TESTS)
VULNDB_DIR ?=
VULNCHECK_PKGS := ./extension ./extension/kinko-exec ./function
VULNCHECK = $(GO) run ./internal/cmd/vulncheck -vulndb-version $(VULNDB_VERSION) $(if $(VULNDB_DIR),-db "$(VULNDB_DIR)") \
	  -out $(BUILD)/vulndb -tools $(TOOLS) -tags lambda.norpc
vulncheck: ## govulncheck over the shipped binaries' packages (skips, saying so, without a vulnerability database)
	$(VULNCHECK) $(VULNCHECK_FLAGS) $(VULNCHECK_PKGS)

# A release: the layer zips, a CycloneDX SBOM of each binary, SHA256SUMS, the build's provenance
# (kinko.intoto.json: an in-toto Statement with SLSA Provenance v1: source commit, command,
# toolchain, builder, input digests) and RELEASE.md, all in dist/. Only from a committed tree (a
# release must be rebuildable from its commit), and only when govulncheck, with a database at
# hand, finds nothing reachable. README "Verifying a release" says how to rebuild and compare.
RELEASE_FILES = $(foreach a,$(ARCHES),kinko-layer-$(a).zip kinko-layer-$(a).kinko.cdx.json kinko-layer-$(a).kinko-exec.cdx.json) \
	$(foreach a,$(IMAGE_ARCHES),kinko-linux-$(a) kinko-linux-$(a).cdx.json)
RELEASE_INPUTS := go.mod go.sum layer/kinko.gcflags Makefile
# The zips' bytes are zopfli's too: the release records its version, the Debian package's that
# holds the command (make deps installs it), or ZOPFLI_VERSION=... for a zopfli from elsewhere.
ZOPFLI_VERSION ?= $(shell p=$$(command -v "$(ZOPFLI)" 2>/dev/null) && \
  dpkg-query -W -f='$${Version}' "$$(dpkg-query -S "$$(readlink -f "$$p")" 2>/dev/null | cut -d: -f1)" 2>/dev/null)
release: release-tree-clean release-zopfli layer image ## dist/: the layer zips, the binaries for outside Lambda, SHA256SUMS, SBOMs, provenance and RELEASE.md (from a clean commit)
	$(VULNCHECK) -require $(VULNCHECK_PKGS)
	$(GO) run ./internal/cmd/release -dist $(DIST) -version $(VERSION) -commit "$$(git rev-parse HEAD)" \
	  -toolchain "$$($(GO) env GOVERSION)" -tool "zopfli=$(ZOPFLI_VERSION)" $(foreach f,$(RELEASE_INPUTS),-input $(f)) \
	  $$([[ -z "$$(git status --porcelain)" ]] || echo -dirty) $(RELEASE_FILES)

.PHONY: release-zopfli
release-zopfli:
	@$(need_zopfli)
	@if [[ -z "$(ZOPFLI_VERSION)" ]]; then \
	  echo "make release: cannot tell the version of $(ZOPFLI) (not from a Debian package?): set ZOPFLI_VERSION=<its version>, e.g. 1.0.3" >&2; exit 1; fi

.PHONY: release-tree-clean
release-tree-clean:
	@if [[ -n "$$(git status --porcelain)" ]]; then \
	  echo "make release: the work tree has changes that are not committed (git status); a release must be rebuildable from its commit" >&2; exit 1; fi

lint: vet ## gofmt, go vet + staticcheck (part of make test, so CI keeps it green)
	@unformatted=$$("$$($(GO) env GOROOT)/bin/gofmt" -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then \
	  echo "gofmt would change these files; run gofmt -w on them:" >&2; echo "$$unformatted" >&2; exit 1; fi
	$(GO) tool staticcheck ./...
	sc=$$($(GO) tool -n staticcheck) && cd client && "$$sc" ./...

# Go programs the build and tests install are pinned: an exact version and the module's hash
# (go.sum's h1:), checked by internal/cmd/gotool before it installs into $(TOOLS); a binary
# already there is reused only if its build information names the same module, version and hash.
# To move a pin: `go mod download -json MODULE@VERSION` prints the new Sum.
TOOLS := $(BUILD)/tools
GOTOOL = $(GO) run ./internal/cmd/gotool -dir $(TOOLS)
BENCHSTAT_VERSION := v0.0.0-20260908200009-22c9c6c9d4da
BENCHSTAT_SUM := h1:TPnyATEEkYepRH6lv4RlUtMfeOSFw4B6fAee/M3OldI=

# Figures, not tests: nothing fails on a number. wrk and hyperfine come from apt, benchstat is
# the pinned one above.
BENCHSTAT = $(abspath $(TOOLS))/benchstat@$(BENCHSTAT_VERSION)/benchstat

bench: ## measure kinko against the alternatives into BENCHMARKS.md (<10 min); QUICK=1: <2 min, report in build/bench/
	@missing=""; for t in wrk hyperfine; do command -v $$t >/dev/null || missing="$$missing $$t"; done; \
	if [[ -n "$$missing" ]]; then \
		echo "installing$$missing with apt"; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $$missing; \
	fi
	@$(GOTOOL) -module golang.org/x/perf -sum $(BENCHSTAT_SUM) golang.org/x/perf/cmd/benchstat@$(BENCHSTAT_VERSION) >/dev/null
	$(GO) run ./e2e/cmd/bench -benchstat "$(BENCHSTAT)" $(if $(filter 1 true yes,$(QUICK)),-quick)

# A fleet of real kinko processes against one Secrets Manager quota (e2e/scale); make test runs
# a short one (20 sandboxes) as a Go test.
.PHONY: scale
scale: ## 200 kinko processes against one account's quota: five scenarios into SCALE.md with plots (<5 min)
	$(GO) run ./e2e/cmd/scale

# The long runs of the reliability suites (RELIABILITY.md); make test runs short ones.
# The soak runs without -race so its RSS figures are the shipped binary's.
SOAK_SECONDS ?= 60
FUZZTIME ?= 60s

soak: ## 64 connections of mixed traffic while AWS flaps, for SOAK_SECONDS (default 60)
	KINKO_SOAK_SECONDS=$(SOAK_SECONDS) $(GO) test -count=1 -run '^TestSoak$$' -v -timeout 10m ./extension

# RELIABILITY.md's fault table: what callers see while AWS fails (about 15 s). The "before" run
# is the same measurement against the code before issue 11 (commit 5737f0b), in a temporary copy.
FAULT_TABLE_BEFORE ?= 5737f0b
faulttable: ## measure callers' waits and attempts per second while AWS fails
	KINKO_FAULT_TABLE=1 $(GO) test -count=1 -run '^TestFaultTable$$' -v ./extension | grep -o 'table-row.*'

faulttable-before: ## the same measurement against FAULT_TABLE_BEFORE (default 5737f0b)
	d=$$(mktemp -d) && trap 'rm -rf "$$d"' EXIT && git archive $(FAULT_TABLE_BEFORE) | tar -x -C "$$d" && \
	cp extension/faulttable_test.go "$$d/extension/" && cd "$$d" && \
	KINKO_FAULT_TABLE=1 $(GO) test -count=1 -run '^TestFaultTable$$' -v ./extension | grep -o 'table-row.*'

fuzz: ## each fuzz target for FUZZTIME (default 60s)
	$(GO) test -run '^$$' -fuzz '^FuzzHandler$$' -fuzztime $(FUZZTIME) ./extension/internal/server
	$(GO) test -run '^$$' -fuzz '^FuzzQuery$$' -fuzztime $(FUZZTIME) ./extension/internal/query
	$(GO) test -run '^$$' -fuzz '^FuzzConfig$$' -fuzztime $(FUZZTIME) ./extension/internal/config
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./extension/internal/reference
	$(GO) test -run '^$$' -fuzz '^FuzzField$$' -fuzztime $(FUZZTIME) ./extension/internal/jsonfield
	$(GO) test -run '^$$' -fuzz '^FuzzElements$$' -fuzztime $(FUZZTIME) ./extension/internal/jsonfield
	$(GO) test -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME) ./extension/internal/sigv4

build: $(DIST)/$(ARCH)/extensions/kinko $(DIST)/$(ARCH)/kinko-exec $(DIST)/$(ARCH)/bootstrap ## the binaries for ARCH under dist/ARCH/

layer: $(foreach a,$(ARCHES),$(DIST)/kinko-layer-$(a).zip $(DIST)/kinko-layer-$(a).kinko.cdx.json $(DIST)/kinko-layer-$(a).kinko-exec.cdx.json) ## dist/kinko-layer-{arm64,x86_64}.zip and a CycloneDX SBOM of each binary beside them

function: $(DIST)/function-$(ARCH).zip ## dist/function-ARCH.zip

# kinko outside Lambda (CONTRACT.md section 11): the binary as the layer's is built but without
# the layer's build tags, static; for ECS, Kubernetes and EC2 (deploy/). dist/image is an OCI
# image layout (linux/amd64 and linux/arm64; /kinko alone with CA certificates, user 65532, no
# shell), written without a Docker daemon and dated by the commit: the same commit gives the same
# digest. Push it with `skopeo copy --all oci:dist/image:$(VERSION) docker://REGISTRY/kinko:$(VERSION)`
# or `crane push dist/image REGISTRY/kinko:$(VERSION)`. The binaries and their SBOMs are release
# files too (deploy/kinko.service runs one on EC2).
IMAGE_ARCHES := amd64 arm64
IMAGE_BINS := $(foreach a,$(IMAGE_ARCHES),$(DIST)/kinko-linux-$(a))
image: $(IMAGE_BINS) $(IMAGE_BINS:=.cdx.json) ## dist/image: kinko's OCI image (linux/amd64, linux/arm64; reproducible, no Docker daemon) and dist/kinko-linux-*
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(GO) run ./internal/cmd/image -o $(DIST)/image -version $(VERSION) \
	  -revision "$$(git rev-parse HEAD 2>/dev/null)" $(foreach a,$(IMAGE_ARCHES),linux/$(a)=$(DIST)/kinko-linux-$(a))

# As the layer's extension is built (KINKO_GCFLAGS included), without the layer's build tags.
$(IMAGE_BINS): $(DIST)/kinko-linux-%: FORCE
	GOARCH=$* $(GOBUILD) $(KINKO_GCFLAGS) -o $@ ./extension

# The Go build cache decides what is stale, so the binaries are always "rebuilt"
# (FORCE): make's timestamps cannot see a change in go.mod or a dependency.
# Code that runs on a few AWS calls per TTL is compiled without inlining (KINKO_GCFLAGS): it buys
# those paths nothing and costs the layer bytes. -tags lambda leaves out what only kinko outside
# Lambda needs (the SDK's default credential chain, the agent's TOML reader: about 2 MB).
$(DIST)/%/extensions/kinko: FORCE
	GOARCH=$(call goarch,$*) $(GOBUILD) -tags lambda $(KINKO_GCFLAGS) -o $@ ./extension

# The exec wrapper (/opt/kinko-exec, README "Secrets as environment variables").
$(DIST)/%/kinko-exec: FORCE
	GOARCH=$(call goarch,$*) $(GOBUILD) -gcflags=all=-l -o $@ ./extension/kinko-exec

$(DIST)/%/bootstrap: FORCE
	GOARCH=$(call goarch,$*) $(GOBUILD) -tags lambda.norpc -o $@ ./function

# The contract keeps the layer at most 4 MB zipped per architecture (CONTRACT.md section 8). The
# limit is the shipped zip's, zopfli's: a Go-flate zip (ZOPFLI=, make run) over it is only said.
comma := ,
LAYER_ZIP_LIMIT ?= 4000000
# The Python and Node.js clients (CONTRACT.md section 12), where Lambda's runtimes look: /opt/python
# and /opt/nodejs/node_modules. The packages only, not their tests (e2e/stack.LayerFiles: the same list).
LAYER_CLIENT_SRCS := $(sort $(wildcard client/python/kinko/*.py client/node/kinko/*.* client/node/kinko/powertools/*.*))
LAYER_CLIENTS := $(foreach f,$(LAYER_CLIENT_SRCS),$(patsubst client/node/kinko/%,nodejs/node_modules/kinko/%,$(patsubst client/python/%,python/%,$(f)))=$(f))
$(DIST)/kinko-layer-%.zip: $(DIST)/%/extensions/kinko $(DIST)/%/kinko-exec $(MKZIP) $(LAYER_CLIENT_SRCS)
	@$(need_zopfli)
	$(MKZIP) $(MKZIP_FLAGS) -o $@ extensions/kinko=$< kinko-exec=$(DIST)/$*/kinko-exec $(LAYER_CLIENTS)
	@size=$$(stat -c %s $@); echo "$@: $$size bytes"; \
	if (( size > $(LAYER_ZIP_LIMIT) )); then \
	  $(if $(ZOPFLI),echo "$@ is $$size bytes$(comma) over the contract's $(LAYER_ZIP_LIMIT) (CONTRACT.md section 8): something grew the layer" >&2; exit 1; , \
	  echo "$@ is $$size bytes with Go's flate$(comma) over the contract's $(LAYER_ZIP_LIMIT); zopfli's is 6-7% smaller: make layer checks the zip that ships" >&2;) fi

# The zip's size is cold-start time: the contract keeps it under 3 MB.
FUNCTION_ZIP_LIMIT := 3000000
$(DIST)/function-%.zip: $(DIST)/%/bootstrap $(MKZIP)
	@$(need_zopfli)
	$(MKZIP) $(MKZIP_FLAGS) -o $@ bootstrap=$<
	@size=$$(stat -c %s $@); if (( size >= $(FUNCTION_ZIP_LIMIT) )); then \
	  echo "$@ is $$size bytes, over the $(FUNCTION_ZIP_LIMIT)-byte budget: drop a dependency from function/" >&2; exit 1; fi

# A host tool: built without the Lambda GOOS/GOARCH.
$(MKZIP): FORCE
	$(GO) build -o $@ ./layer/mkzip

# A CycloneDX SBOM of each binary of the layer, from the build information in the binary (what
# `go version -m` prints: modules, versions, go.sum hashes, toolchain, build settings). Dated by
# the commit (SOURCE_DATE_EPOCH), with a serial number derived from the binary: the same build
# gives the same bytes.
SBOM := $(BUILD)/sbom
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null)
$(SBOM): FORCE
	$(GO) build -o $@ ./internal/cmd/sbom

$(DIST)/kinko-layer-%.kinko.cdx.json: $(DIST)/%/extensions/kinko $(SBOM)
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(SBOM) -o $@ -name kinko -version $(VERSION) -file extensions/kinko $<

$(DIST)/kinko-layer-%.kinko-exec.cdx.json: $(DIST)/%/kinko-exec $(SBOM)
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(SBOM) -o $@ -name kinko-exec -version $(VERSION) -file kinko-exec $<

$(IMAGE_BINS:=.cdx.json): $(DIST)/kinko-linux-%.cdx.json: $(DIST)/kinko-linux-% $(SBOM)
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(SBOM) -o $@ -name kinko -version $(VERSION) -file kinko-linux-$* $<

# npm ci only when node_modules is missing or older than the lockfile. Install scripts
# are off: osls needs none (esbuild's only fetches a binary for bundling JS).
node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts

# The Node.js client's tests (client/node/tests, run by layer/clients_test.go) need the real
# Powertools parameters package and TypeScript, pinned in their own lockfile.
deps: client/node/node_modules/.package-lock.json
client/node/node_modules/.package-lock.json: client/node/package-lock.json
	cd client/node && npm ci --no-audit --no-fund --ignore-scripts
# The AWS SDK for JavaScript v3, pinned: e2e/sdk_test.go's Node function reads through kinko with it.
deps: e2e/runtimes/sdk-node/node_modules/.package-lock.json
e2e/runtimes/sdk-node/node_modules/.package-lock.json: e2e/runtimes/sdk-node/package-lock.json
	cd e2e/runtimes/sdk-node && npm ci --no-audit --no-fund --ignore-scripts

# osls calls AWS (STS, CloudFormation) even to package: moto answers on loopback instead.
# cfn-lint's exit code is a bit mask (2 error, 4 warning, 8 info): only errors fail.
package: SLS_REGION = $(or $(REGION),us-east-1)
# A bad parameter's message (layer/sample.js) comes without osls's stack trace (-hide-js-stack).
package: node_modules/.package-lock.json layer function ## render the CloudFormation template offline and cfn-lint it
	$(GO) build -o $(BUILD)/withmoto ./internal/cmd/withmoto
	$(BUILD)/withmoto -hide-js-stack -- $(OSLS) package $(SLS_ARGS)
	@command -v cfn-lint >/dev/null || { echo "cfn-lint not found: make deps installs the pinned version (e2e/install-deps.sh)" >&2; exit 1; }
	@rc=0; cfn-lint $(CFN_TEMPLATE) || rc=$$?; \
	if (( rc & 2 )); then echo "cfn-lint: errors in $(CFN_TEMPLATE)" >&2; exit 1; fi; \
	echo "cfn-lint: no errors (exit $$rc)"
	@echo "package: the CloudFormation template is $(CFN_TEMPLATE) ($(abspath $(CFN_TEMPLATE)))"; \
	echo "package: it deploys $(DIST)/kinko-layer-$(ARCH).zip and $(DIST)/function-$(ARCH).zip; make deploy uploads them (README: Deploy the sample to AWS)"

deploy: node_modules/.package-lock.json layer function ## deploy the layer and the sample to AWS (needs credentials and REGION)
	$(need_region)$(OSLS) deploy $(SLS_ARGS)

remove: node_modules/.package-lock.json ## delete the sample's stack (layer versions are kept: functions may use them)
	$(need_region)$(OSLS) remove $(SLS_ARGS)

# The layer alone, for your own functions: no sample, no stack. Prints the version ARNs and writes
# them to dist/layer-arns-ARCH.txt; never deletes a version. Each version's description carries
# VERSION and the zip's SHA-256. With SIGNING_PROFILE (an AWS Signer profile for Lambda) and
# SIGNING_BUCKET (a versioned bucket per region; "{region}" is replaced), the zip is signed first
# and the signed zip written to dist/kinko-layer-ARCH.signed-REGION.zip; without them, not signed.
SIGNING_PROFILE ?=
SIGNING_BUCKET ?=
publish-layer: $(DIST)/kinko-layer-$(ARCH).zip ## publish the layer alone to REGIONS="r1 r2" (SHARE_ACCOUNT=ID|*, SHARE_ORG=o-..., SIGNING_PROFILE=, SIGNING_BUCKET=)
	$(if $(REGIONS),,$(error $(NO_REGION), or REGIONS="us-east-1 eu-west-1"))$(GO) run ./internal/cmd/publishlayer -zip $< -arch $(ARCH) \
	  -regions "$(REGIONS)" -out $(DIST)/layer-arns-$(ARCH).txt -version "$(VERSION)" \
	  $(if $(SHARE_ACCOUNT),-share-account "$(SHARE_ACCOUNT)") $(if $(SHARE_ORG),-share-org "$(SHARE_ORG)") \
	  $(if $(SIGNING_PROFILE),-signing-profile "$(SIGNING_PROFILE)" -signing-bucket "$(SIGNING_BUCKET)")

clean: ## remove dist/, build/, .serverless/, .e2e/
	rm -rf $(DIST) $(BUILD) .serverless .e2e

FORCE:
