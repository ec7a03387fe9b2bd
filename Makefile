# newsletter: build, run, test. `make run` starts Mailpit and the server;
# `make test` is what CI runs.
GO      ?= go
BIN     := bin/newsletter
PKGS    := ./...

# The packages whose tests run on both engines (NEWSLETTER_TEST_ENGINE).
PG_PKGS := ./db/ ./subscribers/ ./mailer/ ./web/ ./cmd/newsletter/

.PHONY: all build run test test-postgres bench fuzz fmt vet clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/newsletter

# Mailpit on 127.0.0.1:1025/8025 plus `newsletter serve` on 127.0.0.1:8080
# with the sample column; Ctrl-C stops both.
run:
	./scripts/run.sh $(ARGS)

# Static analysis: staticcheck, pinned, run through the module proxy's copy.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

# gofmt check, vet, staticcheck, then every test with the race detector,
# then the store, mailer and web tests again on PostgreSQL.
test:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) run $(STATICCHECK) $(PKGS)
	$(GO) test -race -count=1 -timeout 30m $(PKGS)
	$(MAKE) test-postgres

# The same tests on a throw-away PostgreSQL cluster the test set-up starts
# (initdb and postgres from Debian's postgresql package; skipped with a
# message where they are missing). About 2.5 minutes here, without -race.
test-postgres:
	NEWSLETTER_TEST_ENGINE=postgres $(GO) test -count=1 -timeout 30m $(PG_PKGS)

# Benchmarks, each with the iteration count that gives a meaningful figure:
# import rows/s, personalised mails/s on one core, subscribes/s with p99
# latency, composing one message (go-mail vs the campaign's encode-once,
# without and with DKIM), campaigns against bare go-mail on the same bytes
# (paired, 3 rounds at 4 and at 8 connections, median ratio), and whole
# campaigns of 10k and 100k subscribers (1M with NEWSLETTER_BENCH_1M=1),
# and the resident memory of `newsletter send` as its own process (100k;
# 1M with NEWSLETTER_BENCH_1M=1).
# The machine's load is printed before and after: figures from a busy
# machine are not comparable.
bench:
	uptime
	$(GO) test -run '^$$' -bench 'Import' -benchtime 2x ./subscribers/
	$(GO) test -run '^$$' -bench 'Personalize|Prepare' -cpu 1 ./templates/
	$(GO) test -run '^$$' -bench 'Subscribe' -benchtime 20000x ./web/
	$(GO) test -run '^$$' -bench 'SubscribeDuringCampaign' -benchtime 20000x ./cmd/newsletter/
	$(GO) test -run '^$$' -bench 'Compose|VERPAddress' -benchtime 2000x -cpu 1 ./mailer/
	$(GO) test -run '^$$' -bench 'Paired' -benchtime 1x -timeout 60m ./mailer/
	$(GO) test -run '^$$' -bench 'Campaign|BareGoMail' -benchtime 1x -timeout 60m ./mailer/
	$(GO) test -run '^$$' -bench 'SendMemory' -benchtime 1x -timeout 60m ./cmd/newsletter/
	uptime

# Each fuzz target for FUZZTIME (go test takes one -fuzz target per run).
# Their seeds run in `make test` anyway; a crasher found here is written to
# the package's testdata/fuzz/ and becomes a seed: fix it, keep the file.
FUZZTIME ?= 20s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./columns/
	$(GO) test -run '^$$' -fuzz '^FuzzImport$$' -fuzztime $(FUZZTIME) ./subscribers/
	$(GO) test -run '^$$' -fuzz '^FuzzNormalizeEmail$$' -fuzztime $(FUZZTIME) ./subscribers/
	$(GO) test -run '^$$' -fuzz '^FuzzNormalizeName$$' -fuzztime $(FUZZTIME) ./subscribers/
	$(GO) test -run '^$$' -fuzz '^FuzzSubscribeForm$$' -fuzztime $(FUZZTIME) ./web/
	$(GO) test -run '^$$' -fuzz '^FuzzSubscribeHandler$$' -fuzztime $(FUZZTIME) ./web/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./mailer/bounce/

clean:
	rm -rf bin run
	$(GO) clean -testcache
