# kinko: see README.md. `make test` is what CI runs; `make help` lists the rest.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
GO ?= go

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

# Deployment (serverless.yml documents its parameters). OSLS_FLAGS adds more, e.g.
#   make deploy STAGE=prod OSLS_FLAGS='--param="secretName=prod/openai"'
STAGE ?= dev
REGION ?= us-east-1
OSLS_FLAGS ?=
OSLS := npx --no-install osls
SLS_ARGS = --stage $(STAGE) --region $(REGION) --param="arch=$(ARCH)" $(OSLS_FLAGS)
CFN_TEMPLATE := .serverless/cloudformation-template-update-stack.json

.PHONY: help test vet unit lint build layer function package deploy clean FORCE
.DEFAULT_GOAL := test
# Keep the binaries that the zips are made from (make would delete them as intermediates).
.SECONDARY:

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'
	@echo "  variables: ARCH=$(ARCH) (arm64|x86_64) STAGE=$(STAGE) REGION=$(REGION) VERSION=$(VERSION)"

test: vet unit ## vet + unit tests (what CI runs)

vet: ## go vet
	$(GO) vet ./...

unit: ## go test -race
	$(GO) test -race -count=1 ./...

lint: ## go vet + staticcheck
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

build: $(DIST)/$(ARCH)/extensions/kinko $(DIST)/$(ARCH)/bootstrap ## both binaries for ARCH under dist/ARCH/

layer: $(foreach a,$(ARCHES),$(DIST)/kinko-layer-$(a).zip) ## dist/kinko-layer-{arm64,x86_64}.zip

function: $(DIST)/function-$(ARCH).zip ## dist/function-ARCH.zip

# The Go build cache decides what is stale, so the binaries are always "rebuilt"
# (FORCE): make's timestamps cannot see a change in go.mod or a dependency.
$(DIST)/%/extensions/kinko: FORCE
	GOARCH=$(call goarch,$*) $(GOBUILD) -o $@ ./extension

$(DIST)/%/bootstrap: FORCE
	GOARCH=$(call goarch,$*) $(GOBUILD) -tags lambda.norpc -o $@ ./function

$(DIST)/kinko-layer-%.zip: $(DIST)/%/extensions/kinko $(MKZIP)
	$(MKZIP) -o $@ extensions/kinko=$<

$(DIST)/function-%.zip: $(DIST)/%/bootstrap $(MKZIP)
	$(MKZIP) -o $@ bootstrap=$<

# A host tool: built without the Lambda GOOS/GOARCH.
$(MKZIP): FORCE
	$(GO) build -o $@ ./layer/mkzip

# npm ci only when node_modules is missing or older than the lockfile. Install scripts
# are off: osls needs none (esbuild's only fetches a binary for bundling JS).
node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts

# osls calls AWS (STS, CloudFormation) even to package: moto answers on loopback instead.
# cfn-lint's exit code is a bit mask (2 error, 4 warning, 8 info): only errors fail.
package: node_modules/.package-lock.json layer function ## render the CloudFormation template offline and cfn-lint it
	$(GO) run ./internal/cmd/withmoto -- $(OSLS) package $(SLS_ARGS)
	@command -v cfn-lint >/dev/null || { echo "cfn-lint not found: pip install cfn-lint" >&2; exit 1; }
	@rc=0; cfn-lint $(CFN_TEMPLATE) || rc=$$?; \
	if (( rc & 2 )); then echo "cfn-lint: errors in $(CFN_TEMPLATE)" >&2; exit 1; fi; \
	echo "cfn-lint: no errors (exit $$rc)"

deploy: node_modules/.package-lock.json layer function ## deploy to AWS (needs credentials)
	$(OSLS) deploy $(SLS_ARGS)

clean: ## remove dist/, build/, .serverless/
	rm -rf $(DIST) $(BUILD) .serverless

FORCE:
