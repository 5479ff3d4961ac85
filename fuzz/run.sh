#!/bin/sh
# Runs one fuzz target for a given number of seconds (default 600) from seeds made by seed.sh.
# Usage: [MAX_LEN=bytes] [SANITIZER=address|none] fuzz/run.sh save|command|roundtrip [seconds]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
target=$1
secs=${2:-600}
[ -d "$here/corpus/$target" ] || "$here/seed.sh"
[ -d "$here/corpus/$target" ] || cp -r "$here/corpus/save" "$here/corpus/$target"
cd "$here"
exec cargo +nightly fuzz run -O -s "${SANITIZER:-address}" "$target" "corpus/$target" -- \
    -max_total_time="$secs" -timeout=10 -max_len="${MAX_LEN:-16384}" -rss_limit_mb=2048 -print_final_stats=1
