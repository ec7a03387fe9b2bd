# newsletter: build, run, test. `make run` starts Mailpit and the server;
# `make test` is what CI runs.
GO      ?= go
BIN     := bin/newsletter
PKGS    := ./...

.PHONY: all build run test bench fmt vet clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/newsletter

# Mailpit on 127.0.0.1:1025/8025 plus `newsletter serve` on 127.0.0.1:8080
# with the sample column; Ctrl-C stops both.
run:
	./scripts/run.sh

# gofmt check, vet, then every test with the race detector.
test:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 -timeout 30m $(PKGS)

# Benchmarks, each with the iteration count that gives a meaningful figure:
# import rows/s, personalised mails/s on one core, subscribes/s with p99
# latency, composing one message (go-mail vs the campaign's encode-once,
# without and with DKIM), campaigns against bare go-mail on the same bytes
# (paired, 3 rounds at 4 and at 8 connections, median ratio), and whole
# campaigns of 10k and 100k subscribers (1M with NEWSLETTER_BENCH_1M=1).
# The machine's load is printed before and after: figures from a busy
# machine are not comparable.
bench:
	uptime
	$(GO) test -run '^$$' -bench 'Import' -benchtime 2x ./subscribers/
	$(GO) test -run '^$$' -bench 'Personalize|Prepare' -cpu 1 ./templates/
	$(GO) test -run '^$$' -bench 'Subscribe' -benchtime 20000x ./web/
	$(GO) test -run '^$$' -bench 'SubscribeDuringCampaign' -benchtime 20000x ./cmd/newsletter/
	$(GO) test -run '^$$' -bench 'Compose' -benchtime 2000x -cpu 1 ./mailer/
	$(GO) test -run '^$$' -bench 'Paired' -benchtime 1x -timeout 60m ./mailer/
	$(GO) test -run '^$$' -bench 'Campaign|BareGoMail' -benchtime 1x -timeout 60m ./mailer/
	uptime

clean:
	rm -rf bin run
	$(GO) clean -testcache
