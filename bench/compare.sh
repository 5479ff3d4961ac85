#!/usr/bin/env bash
# Side-by-side benchmark, measured in one run on the same files:
#   - synthetic node rulesets (kube-proxy for N services x 10 endpoints, plus
#     Calico- and Docker-style chains) written by the gen-node example;
#   - `iptables-restore --test` on each file, in a fresh network namespace
#     (median of RESTORE_RUNS) against chainwalk's load = parse_save + check
#     (load-bench, median of LOAD_RUNS), their ratio and our MB/s;
#   - peak RSS of our load (text + ruleset) against the file size;
#   - kube-proxy render time (full sync, fresh proxier) for 1k/10k/50k services,
#     and a partial sync after one EndpointSlice changed;
#   - trace throughput (full hook flow with conntrack, one core): the indexed walk
#     (Simulator::new) against the reference walk (Simulator::reference) on
#     KUBE-SERVICES-shaped rulesets, in the same run (the plain-loop mode of
#     `cargo bench -p chainwalk-netfilter --bench trace`; each trace is handed back
#     with Simulator::recycle, as `chainwalk trace --batch` does).
#
# Usage: bench/compare.sh [SERVICES...]      (default: 100 1000 10000 50000)
# Environment:
#   OUT            where the files go (default ${TMPDIR:-/tmp}/chainwalk-bench; reused)
#   RESTORE_RUNS   runs of iptables-restore --test per file (default 3)
#   LOAD_RUNS      runs of our load per file (default 5)
#   LIMIT          seconds: no further run starts once a file's runs took that long,
#                  and a single run taking more than 2 x LIMIT is stopped and reported
#                  as "> 2xLIMIT s" (default 60)
#   RENDER_SIZES   services for the render column (default "1000 10000 50000")
#   TRACE_SIZES    services for the trace column (default: the SIZES)
#   TRACE_ENDPOINTS endpoints per service for the trace column (default "1 10")
#   TRACE_PACKETS  packets traced per size by the indexed walk (default 200000; the
#                  reference walk traces fewer on large rulesets)
#   TRACE_ROUNDS   rounds of the trace measurement: each round measures every size in
#                  turn, and the medians over the rounds are reported (default 5)
#   ONLY           measure only these parts: any of "load render trace" (default all)
#   CARGO_TARGET_DIR is honoured.
# Needs root (network namespaces) for the iptables-restore column; without it that
# column is left empty.
set -euo pipefail

cd "$(dirname "$0")/.."
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(100 1000 10000 50000)
OUT=${OUT:-${TMPDIR:-/tmp}/chainwalk-bench}
RESTORE_RUNS=${RESTORE_RUNS:-3}
LOAD_RUNS=${LOAD_RUNS:-5}
LIMIT=${LIMIT:-60}
HARD=$((LIMIT * 2))
RENDER_SIZES=${RENDER_SIZES:-"1000 10000 50000"}
TRACE_SIZES=${TRACE_SIZES:-"${SIZES[*]}"}
TRACE_ENDPOINTS=${TRACE_ENDPOINTS:-"1 10"}
TRACE_PACKETS=${TRACE_PACKETS:-200000}
TRACE_ROUNDS=${TRACE_ROUNDS:-5}
ONLY=${ONLY:-"load render trace"}
part() { [[ " $ONLY " == *" $1 "* ]]; }
TARGET=${CARGO_TARGET_DIR:-target}
BIN=$TARGET/release
mkdir -p "$OUT"

echo "building release binaries..." >&2
cargo build --release -q -p chainwalk-bench --bins
cargo build --release -q -p chainwalk-kubeproxy --example gen-node
TRACE_BIN=$(cargo bench -q -p chainwalk-netfilter --bench trace --no-run --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)

NS=""
cleanup() { [ -n "$NS" ] && ip netns del "$NS" 2>/dev/null || true; }
trap cleanup EXIT
can_netns=0
if [ "$(id -u)" = 0 ] && command -v iptables-restore >/dev/null && command -v ip >/dev/null; then
    can_netns=1
fi

now_ns() { date +%s%N; }
# median of numbers on stdin
median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) print ""; else print a[int((NR+1)/2)]}'; }
kv() { tr ' ' '\n' | sed -n "s/^$1=//p" | head -1; }

# restore_ms FILE: median ms of iptables-restore --test, each run in a fresh namespace;
# prints ">LIMIT" when a run hit the limit.
restore_ms() {
    local f=$1 times=() spent=0 i s e rc
    for ((i = 0; i < RESTORE_RUNS; i++)); do
        [ "$i" -gt 0 ] && [ "$spent" -gt $((LIMIT * 1000)) ] && break
        NS="cwbench-$$-$i"
        ip netns add "$NS"
        s=$(now_ns)
        rc=0
        timeout "$HARD" ip netns exec "$NS" iptables-restore --test "$f" || rc=$?
        e=$(now_ns)
        ip netns del "$NS"
        NS=""
        if [ "$rc" = 124 ]; then echo ">$HARD"; return; fi
        if [ "$rc" != 0 ]; then echo "error(rc=$rc)"; return; fi
        times+=($(((e - s) / 1000000)))
        spent=$((spent + (e - s) / 1000000))
    done
    printf '%s\n' "${times[@]}" | median
}

mb() { awk -v b="$1" 'BEGIN {printf "%.1f", b / 1e6}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "-"}'; }

rows=()
over=0   # our load of a smaller file already hit the hard limit: bigger ones are not run
part load || SIZES=()
for n in "${SIZES[@]}"; do
    f="$OUT/node-${n}x10.rules"
    if [ ! -s "$f" ]; then
        echo "generating $f..." >&2
        "$BIN/examples/gen-node" --services "$n" --endpoints 10 --out "$f"
    fi
    bytes=$(stat -c %s "$f")
    rules=$(grep -c '^-A' "$f" || true)
    echo "measuring $n services ($(mb "$bytes") MB)..." >&2
    r_ms=""
    [ "$can_netns" = 1 ] && r_ms=$(restore_ms "$f")
    rc=0
    if [ "$over" = 1 ]; then
        rc=124
    else
        out=$(timeout "$HARD" "$BIN/load-bench" "$f" "$LOAD_RUNS" "$LIMIT") || rc=$?
    fi
    if [ "$rc" = 124 ]; then
        over=1
        l_ms=">$HARD"; p_ms="-"; c_ms="-"; mbs="-"; rss="-"; runs=0
    else
        l_ms=$(echo "$out" | kv load_ms)
        p_ms=$(echo "$out" | kv parse_ms)
        c_ms=$(echo "$out" | kv check_ms)
        mbs=$(echo "$out" | kv mb_per_s)
        runs=$(echo "$out" | kv runs)
        rss=$(echo "$out" | kv peak_rss)
    fi
    fmt_s() { case "$1" in ">"*) echo "$1 s";; ""|error*|-) echo "${1:--}";; *) awk -v m="$1" 'BEGIN {printf "%.3f s", m / 1000}';; esac; }
    if [[ "$r_ms" =~ ^[0-9]+$ ]] && [[ "$l_ms" =~ ^[0-9.]+$ ]]; then
        x="$(ratio "$r_ms" "$l_ms")x"
    elif [[ "$r_ms" =~ ^[0-9]+$ ]] && [[ "$l_ms" == ">"* ]]; then
        x="< $(ratio "$r_ms" "$((HARD * 1000))")x"
    else
        x="-"
    fi
    if [[ "$rss" =~ ^[0-9]+$ ]]; then
        rss_s="$(mb "$rss") MB ($(ratio "$rss" "$bytes")x)"
    else
        rss_s="-"
    fi
    rows+=("| $n | $(mb "$bytes") MB | $rules | $(fmt_s "$r_ms") | $(fmt_s "$l_ms") ($(fmt_s "$p_ms") + $(fmt_s "$c_ms"), $runs runs) | $x | $mbs | $rss_s |")
done

render_rows=()
part render || RENDER_SIZES=""
for n in $RENDER_SIZES; do
    runs=5
    [ "$n" -ge 50000 ] && runs=3
    echo "rendering $n services x 10 endpoints..." >&2
    out=$("$BIN/render-bench" "$n" 10 "$runs")
    render_rows+=("| $n x 10 | $(mb "$(echo "$out" | kv bytes)") MB | $(echo "$out" | kv full_ms) ms | $(echo "$out" | kv full_min_ms) ms | $(echo "$out" | kv partial_ms) ms |")
done

trace_rows=()
if [ -n "$TRACE_BIN" ] && part trace; then
    sizes_csv=$(echo "$TRACE_SIZES" | tr ' ' ',')
    for e in $TRACE_ENDPOINTS; do
        echo "tracing ($sizes_csv services x $e endpoints)..." >&2
        out=$(CHAINWALK_BENCH_LOOP=$TRACE_PACKETS CHAINWALK_BENCH_ROUNDS=$TRACE_ROUNDS CHAINWALK_BENCH_SIZES=$sizes_csv CHAINWALK_BENCH_ENDPOINTS=$e "$TRACE_BIN")
        for n in $TRACE_SIZES; do
            fast=$(echo "$out" | grep "^ *indexed services=$n ")
            slow=$(echo "$out" | grep "^ *reference services=$n ")
            f_pps=$(echo "$fast" | kv packets_per_s)
            f_cpu=$(echo "$fast" | kv packets_per_cpu_s)
            f_ops=$(echo "$fast" | kv outcomes_per_s)
            s_pps=$(echo "$slow" | kv packets_per_s)
            s_cpu=$(echo "$slow" | kv packets_per_cpu_s)
            trace_rows+=("| $n | $e | $f_pps | $f_cpu | $f_ops | $s_pps | $s_cpu | $(ratio "$f_pps" "$s_pps")x |")
        done
    done
fi

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
echo
echo "Machine: $(nproc) CPUs ($cpu), $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg) at the end; $(iptables-restore --version 2>/dev/null || echo 'no iptables')."
echo
echo "| services (x10 endpoints) | file | rules | iptables-restore --test (median) | chainwalk load = parse + check (median) | speed-up | chainwalk MB/s | chainwalk peak RSS (x file) |"
echo "|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
echo "| render (full sync) | restore text | median | min | partial sync, one slice changed (median) |"
echo "|---|---|---|---|---|"
printf '%s\n' "${render_rows[@]}"
echo
echo "Trace: medians of $TRACE_ROUNDS rounds, every size measured in turn in each round."
echo
echo "| trace: services | endpoints | indexed packets/s | indexed packets/CPU-s | indexed outcomes/s | reference packets/s | reference packets/CPU-s | indexed / reference |"
echo "|---|---|---|---|---|---|---|---|"
printf '%s\n' "${trace_rows[@]}"
