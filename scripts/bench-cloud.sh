#!/usr/bin/env bash
# Benchmark of the cloud's SIP server (issue 4): registrations per second, calls per second and
# memory at 25,000 registered phones, with SIPp, on 127.0.0.1 only.
#
#   ./scripts/bench-cloud.sh [--no-update]
#
# 1. builds `carillon-cloud` and the seeder (`cloud/examples/seed.rs`) in release; seeds a
#    SQLite database through the Store API (site 1000: $PHONES phones + $CALLEES callees, and
#    two more sites of 200) and SIPp injection files with the generated passwords;
# 2. starts the cloud on free loopback ports with that database (on disk) and reads its memory;
# 3. REGISTER with digest (cloud/benches/sipp/register.xml) at increasing rates, $REG_SECS
#    seconds each, until a step has a failed call, a retransmission, or falls behind its rate;
#    then registers all $PHONES phones and reads the memory again (and once more after the
#    transaction tables have drained);
# 4. calls between extensions (cloud/benches/sipp/uac_call.xml: INVITE, 407, INVITE with
#    credentials, 200 from a SIPp UAS registered as the callees, ACK, hold, BYE) at increasing
#    rates, same stop rule;
# 5. prints the figures and, unless --no-update, puts them into BENCHMARKS.md (between the
#    bench-cloud markers of the "Cloud SIP server (issue 4)" section).
#
# Every process it starts is recorded by PID and killed on exit; each SIPp run is bounded by
# -m (calls) and -timeout plus a hard `timeout`. Knobs (environment): PHONES, CALLEES,
# FILL_RATE, REG_RATES, REG_SECS, CALL_RATES, CALL_SECS, CALL_HOLD_MS, MAX_TRANSACTIONS, WORK,
# DB_DIR (directory of the cloud's SQLite file, e.g. /dev/shm to take fsync out of the figures).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
PHONES=${PHONES:-25000}
CALLEES=${CALLEES:-20}
REG_RATES=${REG_RATES:-"1000 2000 3000 4000 5000 6000"}
REG_SECS=${REG_SECS:-8}
FILL_RATE=${FILL_RATE:-500}
CALL_RATES=${CALL_RATES:-"100 300 500 1000 1500 2000 3000"}
CALL_SECS=${CALL_SECS:-10}
CALL_HOLD_MS=${CALL_HOLD_MS:-500}
# Empty: the server's default (200,000 per side), which is what is measured.
MAX_TRANSACTIONS=${MAX_TRANSACTIONS:-}
WORK=${WORK:-$ROOT/target/bench-cloud}
# Where the cloud's SQLite file lives during the run (default: the run directory, on disk).
DB_DIR=${DB_DIR:-}
REALM=carillon.bench
TOKEN=bench-operator-token-0123456789
UPDATE=1
[[ ${1:-} == --no-update ]] && UPDATE=0
LOAD0=$(cut -d" " -f1-3 /proc/loadavg)

command -v sipp >/dev/null || { echo "sipp is not installed (apt-get install -y sip-tester)" >&2; exit 1; }

PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        if kill -0 "$p" 2>/dev/null; then
            kill "$p" 2>/dev/null || true
            wait "$p" 2>/dev/null || true
        fi
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '[bench-cloud %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# A free TCP+UDP port on 127.0.0.1 (not taken now, nor earlier by this script).
TAKEN=" "
free_port() {
    local p
    for _ in $(seq 100); do
        p=$((20000 + RANDOM % 30000))
        [[ $TAKEN == *" $p "* ]] && continue
        if [[ -z $(ss -Hlnut "( sport = :$p )" 2>/dev/null) ]]; then
            TAKEN+="$p "
            echo "$p"
            return
        fi
    done
    echo "no free port" >&2
    return 1
}

# ---- 1. build and seed -----------------------------------------------------------------------
log "building carillon-cloud and the seeder (release)"
cargo build --release -q -p carillon-cloud --bin carillon-cloud --example seed
CLOUD_BIN=$ROOT/target/release/carillon-cloud
SEED_BIN=$ROOT/target/release/examples/seed

mkdir -p "$WORK"
SEED=$WORK/seed-$PHONES-$CALLEES
if [[ ! -f $SEED/done ]]; then
    rm -rf "$SEED"
    # Seeding writes one transaction per extension; on tmpfs that is seconds, on disk minutes
    # (one fsync each). The cloud itself then runs on a copy on disk.
    tmp_parent=/dev/shm
    [[ -d $tmp_parent && -w $tmp_parent ]] || tmp_parent=$WORK
    stmp=$(mktemp -d "$tmp_parent/carillon-seed.XXXXXX")
    log "seeding $PHONES phones + $CALLEES callees (+2 sites of 200) in $stmp"
    "$SEED_BIN" --db "$stmp/seed.db" --realm "$REALM" --phones "$PHONES" --callees "$CALLEES" \
        --other-sites 2 --per-other 200 --out "$stmp" >&2
    mkdir -p "$SEED"
    cp "$stmp"/seed.db "$stmp"/*.csv "$SEED/"
    rm -rf "$stmp"
    touch "$SEED/done"
else
    log "reusing the seeded database in $SEED"
fi

RUN=$WORK/run-$(date +%Y%m%d-%H%M%S)
mkdir -p "$RUN"
DB_DIR=${DB_DIR:-$RUN}
mkdir -p "$DB_DIR"
DB=$DB_DIR/cloud-$$.db
cp "$SEED/seed.db" "$DB"
cp "$SEED"/*.csv "$RUN/"

# ---- 2. start the cloud ----------------------------------------------------------------------
SIP_PORT=$(free_port)
API_PORT=$(free_port)
cat >"$RUN/cloud.toml" <<EOF
listen = "127.0.0.1:$API_PORT"
database = "$DB"
operator_token = "$TOKEN"
realm = "$REALM"
[sip]
udp = "127.0.0.1:$SIP_PORT"
EOF
if [[ -n $MAX_TRANSACTIONS ]]; then echo "max_transactions = $MAX_TRANSACTIONS" >>"$RUN/cloud.toml"; fi
log "starting carillon-cloud (SIP udp 127.0.0.1:$SIP_PORT, API $API_PORT)"
"$CLOUD_BIN" --config "$RUN/cloud.toml" >"$RUN/cloud.log" 2>&1 &
CLOUD=$!
PIDS+=("$CLOUD")
for _ in $(seq 100); do
    grep -q "admin API listening" "$RUN/cloud.log" && break
    kill -0 "$CLOUD" 2>/dev/null || { cat "$RUN/cloud.log" >&2; exit 1; }
    sleep 0.1
done
sleep 1

alive() { kill -0 "$CLOUD" 2>/dev/null || { log "carillon-cloud died"; tail -20 "$RUN/cloud.log" >&2; exit 1; }; }
mem() { awk '/^(VmRSS|VmHWM):/ {sub(":", "", $1); printf "%s %.1f MiB  ", $1, $2/1024}' "/proc/$CLOUD/status"; }
rss_mib() { awk '/^VmRSS:/ {printf "%.1f", $2/1024}' "/proc/$CLOUD/status"; }
hwm_mib() { awk '/^VmHWM:/ {printf "%.1f", $2/1024}' "/proc/$CLOUD/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$CLOUD/stat"; }
HZ=$(getconf CLK_TCK)

RSS_EMPTY=$(rss_mib)
log "memory right after start (empty location table): $(mem)"

# ---- SIPp helpers ----------------------------------------------------------------------------
# stat FILE COLUMN: the last value of a column of SIPp's -trace_stat file.
stat_col() { awk -F';' -v col="$2" 'NR==1 {for (i = 1; i <= NF; i++) if ($i == col) c = i} NR>1 && c {v = $c} END {print v + 0}' "$1"; }

# pcts FILE RTD: "p50 p95 p99 max" of one response-time counter (ms) of SIPp's -trace_rtt file.
pcts() {
    awk -F';' -v r="$2" 'NR>1 && $3 == r {print $2}' "$1" | sort -n | awk '
        function at(p,   i) { i = int(NR * p); if (i < NR * p) i++; if (i < 1) i = 1; return a[i] }
        {a[NR] = $1}
        END {if (NR == 0) print "- - - -"; else printf "%g %g %g %g\n", at(0.5), at(0.95), at(0.99), a[NR]}'
}

# run_sipp DIR LIMIT_SECS ARGS...: one bounded SIPp run in DIR (its cwd); sets SIPP_RC, SIPP_WALL.
run_sipp() {
    local dir=$1 limit=$2 t0 t1
    shift 2
    mkdir -p "$dir"
    t0=$(date +%s.%N)
    (cd "$dir" && exec timeout -s KILL "$limit" sipp "$@" -nostdin -t u1 -i 127.0.0.1 \
        -trace_stat -stf stat.csv -fd 3600 -trace_rtt -rtt_freq 50 -trace_err -error_file errors.log \
        -max_recv_loops 10000 -max_sched_loops 10000) >"$dir/sipp.out" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    SIPP_RC=0
    wait "$pid" || SIPP_RC=$?
    t1=$(date +%s.%N)
    SIPP_WALL=$(echo "$t1 - $t0" | bc -l)
}

RESULTS=$RUN/results.txt
: >"$RESULTS"
result() { echo "$*" | tee -a "$RESULTS" >&2; }

# judge KIND RATE N DIR CPU0 CPU1: prints a result row; returns 0 if the rate was sustained
# (every call succeeded, no retransmission, completions kept at least 90 % of the rate).
judge() {
    local kind=$1 rate=$2 n=$3 dir=$4 cpu0=$5 cpu1=$6
    local ok fail retr eff sustained cpu p1 p2
    ok=$(stat_col "$dir/stat.csv" 'SuccessfulCall(C)')
    fail=$(stat_col "$dir/stat.csv" 'FailedCall(C)')
    retr=$(stat_col "$dir/stat.csv" 'Retransmissions(C)')
    # Completion rate: answered calls over the span between the first and the last final
    # response (SIPp's start-up and the calls' own length are not in it).
    eff=$(awk -F';' 'NR>1 && $3 == 2 {n++; if (min == "" || $1 < min) min = $1; if ($1 > max) max = $1}
        END {print (n > 1 && max > min) ? (n - 1) * 1000 / (max - min) : 0}' "$dir"/*_rtt.csv)
    cpu=$(echo "100 * ($cpu1 - $cpu0) / $HZ / $SIPP_WALL" | bc -l)
    p1=$(pcts "$dir"/*_rtt.csv 1)
    p2=$(pcts "$dir"/*_rtt.csv 2)
    sustained=no
    if [[ $SIPP_RC == 0 && $ok == "$n" && $fail == 0 && $retr == 0 ]] &&
        (($(echo "$eff >= 0.9 * $rate" | bc -l))); then
        sustained=yes
    fi
    result "$(printf '%s rate=%s calls=%s ok=%s failed=%s retrans=%s rc=%s wall=%.1fs effective=%.0f/s cloud_cpu=%.0f%% rtd1[p50,p95,p99,max]=%s rtd2=%s sustained=%s' \
        "$kind" "$rate" "$n" "$ok" "$fail" "$retr" "$SIPP_RC" "$SIPP_WALL" "$eff" "$cpu" "${p1// /,}" "${p2// /,}" "$sustained")"
    [[ $sustained == yes ]]
}

# ---- 3. registrations ------------------------------------------------------------------------
REG_PORT=$(free_port)
# All phones first, on the fresh process, at a moderate rate: the memory figures then hold the
# location table and what this rate leaves, not the peaks of the rate steps below (freed memory
# is not handed back to the system by the allocator, and the transaction table keeps its
# capacity).
fill_rate=$FILL_RATE
log "registering all $PHONES phones at $fill_rate/s"
c0=$(cpu_ticks)
run_sipp "$RUN/reg-all" $((PHONES / fill_rate + 90)) "127.0.0.1:$SIP_PORT" -sf "$ROOT/cloud/benches/sipp/register.xml" \
    -inf "$RUN/phones.csv" -p "$REG_PORT" -mp "$(free_port)" -r "$fill_rate" -m "$PHONES" -l 20000 -timeout $((PHONES / fill_rate + 60))s
c1=$(cpu_ticks)
alive
judge register-all "$fill_rate" "$PHONES" "$RUN/reg-all" "$c0" "$c1" || true
FILL_OK=$(stat_col "$RUN/reg-all/stat.csv" 'SuccessfulCall(C)')
RSS_FULL=$(rss_mib)
HWM_FULL=$(hwm_mib)
log "memory with $FILL_OK phones registered: $(mem)"
# Server transactions linger 32 s after their final response (Timers H/J); the sweeper runs
# every 5 s. What is left then is the location table (and allocator slack).
log "waiting 40 s for the transaction tables to drain"
sleep 40
alive
RSS_DRAINED=$(rss_mib)
log "memory with $FILL_OK phones registered, transactions drained: $(mem)"

# Then the rate steps, re-registering the same phones (same contacts: bindings are replaced)
# with all 25,000 in the table.
REG_BEST=0
REG_ROW=""
for rate in $REG_RATES; do
    n=$((rate * REG_SECS))
    ((n > PHONES)) && n=$PHONES
    dir=$RUN/reg-$rate
    log "REGISTER at $rate/s, $n phones"
    c0=$(cpu_ticks)
    run_sipp "$dir" $((n / rate + 60)) "127.0.0.1:$SIP_PORT" -sf "$ROOT/cloud/benches/sipp/register.xml" \
        -inf "$RUN/phones.csv" -p "$REG_PORT" -mp "$(free_port)" -r "$rate" -m "$n" -l 20000 -timeout $((n / rate + 45))s
    c1=$(cpu_ticks)
    alive
    if judge register "$rate" "$n" "$dir" "$c0" "$c1"; then
        REG_BEST=$rate
        REG_ROW=$(tail -1 "$RESULTS")
    else
        break
    fi
    sleep 2
done

# ---- 4. calls --------------------------------------------------------------------------------
UAS_PORT=$(free_port)
log "registering $CALLEES callees at the UAS port $UAS_PORT"
run_sipp "$RUN/callees" 60 "127.0.0.1:$SIP_PORT" -sf "$ROOT/cloud/benches/sipp/register.xml" \
    -inf "$RUN/callees.csv" -p "$UAS_PORT" -mp "$(free_port)" -r 50 -m "$CALLEES" -timeout 30s
[[ $SIPP_RC == 0 ]] || { log "callee registration failed"; exit 1; }
mkdir -p "$RUN/uas"
(cd "$RUN/uas" && exec sipp -sf "$ROOT/cloud/tests/sipp/uas_answer.xml" -t u1 -i 127.0.0.1 -p "$UAS_PORT" \
    -mp "$(free_port)" -nostdin -trace_stat -stf stat.csv -fd 1 -trace_err -error_file errors.log \
    -max_recv_loops 10000 -max_sched_loops 10000) >"$RUN/uas/sipp.out" 2>&1 &
UAS=$!
PIDS+=("$UAS")
sleep 1
CALL_PORT=$(free_port)
CALL_BEST=0
CALL_ROW=""
for rate in $CALL_RATES; do
    n=$((rate * CALL_SECS))
    ((n > PHONES)) && n=$PHONES
    dir=$RUN/call-$rate
    log "calls at $rate/s, $n calls, ${CALL_HOLD_MS} ms each"
    c0=$(cpu_ticks)
    run_sipp "$dir" $((n / rate + 90)) "127.0.0.1:$SIP_PORT" -sf "$ROOT/cloud/benches/sipp/uac_call.xml" \
        -inf "$RUN/calls.csv" -p "$CALL_PORT" -mp "$(free_port)" -r "$rate" -m "$n" -d "$CALL_HOLD_MS" -l 20000 \
        -timeout $((n / rate + 60))s
    c1=$(cpu_ticks)
    alive
    kill -0 "$UAS" 2>/dev/null || { log "the UAS died"; exit 1; }
    if judge call "$rate" "$n" "$dir" "$c0" "$c1"; then
        CALL_BEST=$rate
        CALL_ROW=$(tail -1 "$RESULTS")
    else
        break
    fi
    sleep 2
done
RSS_CALLS=$(rss_mib)
HWM_END=$(hwm_mib)
log "memory after the calls: $(mem)"
UAS_FAILED=$(stat_col "$RUN/uas/stat.csv" 'FailedCall(C)')
kill "$UAS" 2>/dev/null || true
wait "$UAS" 2>/dev/null || true

# Stop the cloud gracefully, then count what it stored.
kill -TERM "$CLOUD"
wait "$CLOUD" 2>/dev/null || true
WARNS=$(grep -c -E ' (WARN|ERROR) ' "$RUN/cloud.log" || true)
# The record writer's own count at its stop: records, transactions (group commit), waits on a full queue.
WRITER=$(grep 'call-record writer stopped' "$RUN/cloud.log" | sed 's/\x1b\[[0-9;]*m//g' | grep -o 'written=[0-9]* batches=[0-9]* full_waits=[0-9]*' | tail -1 || true)
RECORDS=$(sqlite3 "$DB" "SELECT outcome || ':' || COUNT(*) FROM call_records GROUP BY outcome" 2>/dev/null | tr '\n' ' ' || echo "?")
[[ $DB_DIR == "$RUN" ]] || rm -f "$DB"

# ---- 5. report -------------------------------------------------------------------------------
# The best sustained rate, or "< the first step" when none held.
best() { if (($1)); then echo "$1"; else echo "< ${2%% *}"; fi; }
field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" <<<"$2"; }
CPU_MODEL=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
{
    echo "Run of $(date -u +%Y-%m-%d) ($(git rev-parse --short HEAD)), $(nproc) cores ($CPU_MODEL) shared with SIPp and other work, load average before the run ${LOAD0:-?}; SQLite file in \`$DB_DIR\` ($(df --output=fstype "$DB_DIR" | tail -1))."
    echo
    echo "| figure | value |"
    echo "|---|---|"
    echo "| registrations/s sustained (REGISTER, 401, REGISTER with digest, 200; 0 failed, 0 retransmissions) | **$(best "$REG_BEST" "$REG_RATES")** |"
    if [[ -n $REG_ROW ]]; then
        echo "| — at that rate: response time of REGISTER→401 / authenticated REGISTER→200, ms (p50, p95, p99, max) | $(field 'rtd1\[p50,p95,p99,max\]' "$REG_ROW") / $(field rtd2 "$REG_ROW") |"
        echo "| — cloud CPU at that rate (of one core) | $(field cloud_cpu "$REG_ROW") |"
    fi
    echo "| calls/s sustained (INVITE, 407, INVITE with digest, 180/200, ACK, ${CALL_HOLD_MS} ms, BYE; 0 failed, 0 retransmissions) | **$(best "$CALL_BEST" "$CALL_RATES")** |"
    if [[ -n $CALL_ROW ]]; then
        echo "| — at that rate: set-up time first INVITE→200 / BYE→200, ms (p50, p95, p99, max) | $(field 'rtd1\[p50,p95,p99,max\]' "$CALL_ROW") / $(field rtd2 "$CALL_ROW") |"
        echo "| — cloud CPU at that rate (of one core) | $(field cloud_cpu "$CALL_ROW") |"
    fi
    echo "| RSS right after start, empty location table | $RSS_EMPTY MiB |"
    echo "| RSS with $FILL_OK phones registered at $FILL_RATE/s, just after the last REGISTER (VmHWM $HWM_FULL MiB) | $RSS_FULL MiB |"
    echo "| RSS with $FILL_OK phones registered, 40 s later (transactions drained) | $RSS_DRAINED MiB |"
    echo "| RSS after the rate steps and the calls (VmHWM over the run $HWM_END MiB) | $RSS_CALLS MiB |"
    echo "| call records stored (by outcome) / warnings+errors in the cloud's log / failed calls at the UAS | $RECORDS/ $WARNS / $UAS_FAILED |"
    echo "| call-record writer at its stop: records, transactions (group commit), waits on a full queue | ${WRITER:-?} |"
    echo
    echo "Every step (the first that is not sustained ends its series):"
    echo
    echo '```'
    cat "$RESULTS"
    echo '```'
} >"$RUN/report.md"

echo
cat "$RUN/report.md"
echo
log "run directory: $RUN"

if ((UPDATE)); then
    md=$ROOT/BENCHMARKS.md
    if ! grep -q '<!-- bench-cloud:begin -->' "$md"; then
        printf '\n## Cloud SIP server (issue 4)\n\nRun: `./scripts/bench-cloud.sh`.\n\n<!-- bench-cloud:begin -->\n<!-- bench-cloud:end -->\n' >>"$md"
    fi
    awk -v rep="$RUN/report.md" '
        /<!-- bench-cloud:begin -->/ {print; while ((getline l < rep) > 0) print l; skip = 1; next}
        /<!-- bench-cloud:end -->/ {skip = 0}
        !skip {print}' "$md" >"$md.tmp"
    mv "$md.tmp" "$md"
    log "BENCHMARKS.md updated"
fi
