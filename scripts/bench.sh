#!/usr/bin/env bash
# SPEC §14 benchmark report: runs the benchmarks that measure each target and
# prints every figure beside its target (and the ack latency beside the
# do-nothing slack-go Socket Mode floor measured on the same simulator).
# Usage: scripts/bench.sh   (ONCALLBOT_BENCH_SECONDS=10 is the SPEC load time)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
GO=${GO:-go}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "== running benchmarks (this takes about a minute) =="
$GO test -run '^$' -bench '^(BenchmarkAckFloor|BenchmarkAck|BenchmarkStartToReady)$' -benchtime 1x ./bot/app/ | tee "$out/app.txt"
$GO test -run '^$' -bench '^BenchmarkEscalationLag$' -benchtime 1x ./commands/incident/ | tee "$out/esc.txt"
$GO test -run '^$' -bench '^BenchmarkPlaybookDiagnosticsLoopback$' -benchtime 20x ./commands/triage/ | tee "$out/diag.txt"

# metric NAME FILE BENCH: the value reported before unit NAME on BENCH's line.
metric() { awk -v b="$3" -v u="$1" '$1 ~ "^"b"(-[0-9]+)?$" { for (i = 3; i <= NF; i++) if ($i == u) print $(i-1) }' "$2" | tail -1; }

floor_p99=$(metric ack-p99-µs "$out/app.txt" BenchmarkAckFloor)
ack_p50=$(metric ack-p50-µs "$out/app.txt" BenchmarkAck)
ack_p99=$(metric ack-p99-µs "$out/app.txt" BenchmarkAck)
ans_p50=$(metric answer-p50-µs "$out/app.txt" BenchmarkAck)
ans_p99=$(metric answer-p99-µs "$out/app.txt" BenchmarkAck)
start_ms=$(metric start-ms "$out/app.txt" BenchmarkStartToReady)
esc_p50=$(metric p50-lag-ms "$out/esc.txt" BenchmarkEscalationLag)
esc_p99=$(metric p99-lag-ms "$out/esc.txt" BenchmarkEscalationLag)
diag_ratio=$(awk '/BenchmarkPlaybookDiagnosticsLoopback/ { for (i = 3; i <= NF; i++) if ($i == "wall/slowest") print $(i-1) }' "$out/diag.txt" | tail -1)
diag_wall=$(metric wall-ms "$out/diag.txt" BenchmarkPlaybookDiagnosticsLoopback)

# Steady-state RSS of the real binary (local workspace: includes the embedded
# simulated Slack, so it is an upper bound for the Slack-connected bot).
$GO build -o "$out/oncallbot" ./cmd/oncallbot
mkfifo "$out/in"
DATABASE_URL=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/oncallbot_bench?sslmode=disable} \
HTTP_ADDR=127.0.0.1:0 "$out/oncallbot" <"$out/in" >"$out/console.txt" 2>"$out/err.txt" &
pid=$!
exec 3>"$out/in"
for _ in $(seq 20); do echo "/oncall" >&3; done
for _ in $(seq 100); do grep -c "On call now" "$out/console.txt" 2>/dev/null | grep -qx 20 && break; sleep 0.2; done
sleep 2
rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
exec 3>&-
wait "$pid" || true

pass() { awk -v v="$1" -v t="$2" 'BEGIN { print (v+0 <= t+0) ? "ok" : "MISSED" }'; }
twice=$(awk -v f="$floor_p99" 'BEGIN { print 2*f }')
ms() { awk -v v="$1" 'BEGIN { printf "%.2f ms", v/1000 }'; }

echo
echo "== SPEC §14 report ($(date -u +%FT%TZ), $(nproc) cores, ${ONCALLBOT_BENCH_SECONDS:-10} s at 200 envelopes/s) =="
printf '%-48s %-14s %-22s %s\n' figure measured target verdict
printf '%-48s %-14s %-22s %s\n' "ack p50 (envelope written → ack read)" "$(ms "$ack_p50")" "-" ""
printf '%-48s %-14s %-22s %s\n' "ack p99" "$(ms "$ack_p99")" "< 2 ms" "$(pass "$ack_p99" 2000)"
printf '%-48s %-14s %-22s %s\n' "ack p99 of a do-nothing slack-go handler" "$(ms "$floor_p99")" "(floor)" ""
printf '%-48s %-14s %-22s %s\n' "ack p99 vs floor" "$(ms "$ack_p99")" "≤ 2 × floor = $(ms "$twice")" "$(pass "$ack_p99" "$twice")"
printf '%-48s %-14s %-22s %s\n' "/oncall answer posted p50" "$(ms "$ans_p50")" "-" ""
printf '%-48s %-14s %-22s %s\n' "/oncall answer posted p99" "$(ms "$ans_p99")" "< 10 ms" "$(pass "$ans_p99" 10000)"
printf '%-48s %-14s %-22s %s\n' "playbook diagnostics wall / slowest check" "$diag_ratio (${diag_wall} ms)" "≤ 1.20" "$(pass "$diag_ratio" 1.2)"
printf '%-48s %-14s %-22s %s\n' "escalation lag p50, 1,000 open incidents" "${esc_p50} ms" "-" ""
printf '%-48s %-14s %-22s %s\n' "escalation lag p99, 1,000 open incidents" "${esc_p99} ms" "< 1000 ms" "$(pass "$esc_p99" 1000)"
printf '%-48s %-14s %-22s %s\n' "steady-state RSS (local workspace binary)" "$((rss_kb / 1024)) MB" "< 60 MB" "$(pass "$rss_kb" $((60 * 1024)))"
printf '%-48s %-14s %-22s %s\n' "start to ready (migrated DB, local services)" "${start_ms} ms" "< 1000 ms" "$(pass "$start_ms" 1000)"
