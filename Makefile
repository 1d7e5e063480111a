# kinko: see README.md. `make test` is what CI runs.
SHELL := bash
GO ?= go

.PHONY: test vet unit
test: vet unit

vet:
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 ./...
