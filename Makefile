# ntpkit build, test and release entry points. `make test` is what CI runs
# (through .ci/run); everything else is a developer convenience.

GO       ?= go
BIN      ?= bin
PREFIX   ?= /usr/local
DESTDIR  ?=
FUZZTIME ?= 20s
BENCHTIME ?= 1s
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT   ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
CLI      := github.com/ntpkit/ntpkit/cmd/ntpkit/cli
LDFLAGS  := -s -w -X $(CLI).version=$(VERSION) -X $(CLI).commit=$(COMMIT)
# goreleaser v2.18+ needs Go >= 1.27.1 and v2.17.0 pulls a module the proxy refuses;
# v2.16.0 works with Go 1.26 (checked: `make release-check` validates goreleaser.yaml).
GORELEASER ?= github.com/goreleaser/goreleaser/v2@v2.16.0
APPLETS_BIN  := ntpq ntpstat
APPLETS_SBIN := ntpd ntpdate

.PHONY: all build test cross fmt-check vet fuzz bench bench-go docs release-check \
	install-links install vmtest clean demo

all: build

## build: bin/ntpkit with version and commit stamped in
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ntpkit ./cmd/ntpkit

## test: gofmt check, go vet, the release targets compile, then the whole test suite (live tests included)
test: fmt-check vet cross
	$(GO) test -count=1 -timeout 20m ./...
	$(GO) test -tags gendocs -count=1 -run 'Docs|Gendocs' ./cmd/ntpkit/cli

## cross: every release architecture compiles (32-bit ones catch C long/int width mistakes)
cross:
	for a in 386 arm arm64 riscv64; do GOOS=linux GOARCH=$$a CGO_ENABLED=0 $(GO) build -o /dev/null ./cmd/ntpkit || exit 1; done

fmt-check:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

## fuzz: every FuzzXxx target in the repository for FUZZTIME each
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

## bench-go: the Go benchmarks of every package (allocations included)
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...

## bench: ntpkit's daemon against chronyd and NTPsec ntpd, side by side in a
## private network namespace; writes the raw report to docs/bench-report.md
## (docs/performance.md keeps the measured runs and their analysis; needs root and the
## reference tools from shared/compat/refsetup/install.sh)
bench: build
	$(GO) run ./internal/benchcmp -ntpkit $(BIN)/ntpkit -rounds 3 -out docs/bench-report.md

## demo: build, start the daemon with its built-in configuration in a private
## network namespace, and show ntpq, ntpstat and ntpdate against it
demo: build
	BIN=$(BIN) scripts/demo.sh

## docs: regenerate completions/ and docs/man/ (the generator is built only with
## -tags gendocs, so cobra/doc's markdown libraries stay out of every tool's start-up)
docs:
	$(GO) run -tags gendocs ./cmd/ntpkit gendocs .

## release-check: validate goreleaser.yaml (downloads goreleaser; slow the first time)
release-check:
	$(GO) run $(GORELEASER) check

## install-links: ntpq, ntpstat, ntpdate, ntpd symlinks next to bin/ntpkit
install-links: build
	$(BIN)/ntpkit install-links --force $(BIN)

## install: binary, relative symlinks, man pages and completions under DESTDIR/PREFIX
install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/sbin \
		$(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man8 \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions \
		$(DESTDIR)$(PREFIX)/share/zsh/vendor-completions \
		$(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	install -m 0755 $(BIN)/ntpkit $(DESTDIR)$(PREFIX)/bin/ntpkit
	for a in $(APPLETS_BIN); do ln -sf ntpkit $(DESTDIR)$(PREFIX)/bin/$$a; done
	for a in $(APPLETS_SBIN); do ln -sf ../bin/ntpkit $(DESTDIR)$(PREFIX)/sbin/$$a; done
	install -m 0644 docs/man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 0644 docs/man/*.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 0644 completions/bash/* $(DESTDIR)$(PREFIX)/share/bash-completion/completions/
	install -m 0644 completions/zsh/* $(DESTDIR)$(PREFIX)/share/zsh/vendor-completions/
	install -m 0644 completions/fish/* $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/

## vmtest: the qemu VM tests with a real kernel clock, verbosely
vmtest:
	$(GO) test -count=1 -v -timeout 30m ./internal/vmtest/...

clean:
	rm -rf $(BIN) dist
