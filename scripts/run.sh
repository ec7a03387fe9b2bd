#!/usr/bin/env bash
# make run: Mailpit (SMTP 127.0.0.1:1025, web 127.0.0.1:8025) and
# `newsletter serve` on 127.0.0.1:8080 with the sample column, in run/.
# Ctrl-C stops both. Flags after `make run ARGS=...` or `scripts/run.sh ...`
# go to `newsletter serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

mailpit=""
if [ -x "$root/bin/mailpit" ]; then
	mailpit="$root/bin/mailpit"
elif command -v mailpit >/dev/null 2>&1; then
	mailpit=$(command -v mailpit)
else
	echo "run: installing Mailpit into ./bin ..."
	GOBIN="$root/bin" go install github.com/axllent/mailpit@v1.33.1
	mailpit="$root/bin/mailpit"
fi

mkdir -p run/columns
if ! ls run/columns/* >/dev/null 2>&1; then
	# The author's sample, or the copy the tests keep (never a golden file).
	for sample in ../shared/samples/030-heisse-ki-luft.txt templates/testdata/030-heisse-ki-luft.txt; do
		if [ -f "$sample" ]; then
			cp "$sample" run/columns/
			echo "run: sample column $(basename "$sample") copied to run/columns"
			break
		fi
	done
fi

# Fail early, with the reason, when a port is taken.
for port in 1025 8025 8080; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		echo "run: 127.0.0.1:$port is already in use; stop whatever listens there (an earlier make run?)" >&2
		exit 1
	fi
done

pids=()
cleanup() {
	trap - INT TERM EXIT
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	echo "run: stopped"
}
trap cleanup INT TERM EXIT

"$mailpit" --smtp 127.0.0.1:1025 --listen 127.0.0.1:8025 --database "$root/run/mailpit.db" \
	--disable-version-check >run/mailpit.log 2>&1 &
pids+=($!)

# A placeholder imprint: every real mail must name its sender (§5 DDG).
imprint="KNIEPUNKT · Beispielweg 1 · 12345 Musterstadt · kolumne@example.org"

# Build first so Ctrl-C reaches the server itself, not `go run`.
go build -o run/newsletter ./cmd/newsletter
run/newsletter serve --db run/newsletter.db --columns run/columns \
	--listen 127.0.0.1:8080 --base-url http://127.0.0.1:8080 \
	--smtp-addr 127.0.0.1:1025 --smtp-tls off --from "KNIEPUNKT <kolumne@example.org>" \
	--imprint "$imprint" "$@" &
pids+=($!)

ready=""
for _ in $(seq 100); do
	if curl -fsS http://127.0.0.1:8080/healthz >/dev/null 2>&1; then
		ready=1
		break
	fi
	sleep 0.2
done
if [ -z "$ready" ]; then
	echo "run: newsletter serve did not come up; see the log above" >&2
	exit 1
fi
run/newsletter columns --db run/newsletter.db --columns run/columns || true
cat <<MSG

  Subscribe form:  http://127.0.0.1:8080/
  Mailpit (mail):  http://127.0.0.1:8025/
  Archive:         http://127.0.0.1:8080/archive
  Send the column now (in another terminal):
    run/newsletter send --db run/newsletter.db --columns run/columns --smtp-tls off --base-url http://127.0.0.1:8080 --from "KNIEPUNKT <kolumne@example.org>" --imprint "$imprint"

  Ctrl-C stops both.
MSG
wait -n "${pids[@]}" || true
