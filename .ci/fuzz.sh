#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for a short, bounded time on the
# stable toolchain (no sanitizer: `-s none`, so no nightly is needed).
# Exits non-zero if any target finds a crash, a panic, a timeout or an
# out-of-memory; the reproducer is left in fuzz/artifacts/<target>/.
#
#   FUZZ_SECONDS   seconds per target (default 20)
#   FUZZ_TARGETS   space-separated subset (default: all targets)
#   FUZZ_TARGET_DIR  cargo target dir (default fuzz/target, cache it in CI)
#
# The seed corpora in fuzz/corpus/<target>/ are read, never written: new
# inputs go to a temporary corpus that is thrown away.
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${FUZZ_SECONDS:-20}"
targets="${FUZZ_TARGETS:-parse_ipv4 parse_ipv6 parse_tcp parse_udp parse_icmpv4 stack_packets socket_api}"
target_dir="${FUZZ_TARGET_DIR:-fuzz/target}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
cargo fuzz --version

echo "== building fuzz targets (stable, -s none)"
if ! cargo fuzz build -s none --target-dir "$target_dir"; then
  # Older cargo-fuzz releases pass -Z flags even without a sanitizer.
  echo "plain stable build failed; retrying with RUSTC_BOOTSTRAP=1"
  RUSTC_BOOTSTRAP=1 cargo fuzz build -s none --target-dir "$target_dir"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=()
total=0
for t in $targets; do
  mkdir -p "$work/$t"
  echo "== fuzz $t for ${secs}s"
  log="$work/$t.log"
  if cargo fuzz run -s none --target-dir "$target_dir" "$t" "$work/$t" "fuzz/corpus/$t" -- \
      -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      >"$log" 2>&1; then
    runs="$(grep -oE 'stat::number_of_executed_units: [0-9]+' "$log" | grep -oE '[0-9]+$' || echo 0)"
    total=$((total + runs))
    echo "$t: $runs executions, no crash"
  else
    echo "$t: FAILED"
    grep -E 'panicked|ERROR|SUMMARY|Test unit written|==[0-9]+==' "$log" | head -20 || true
    tail -40 "$log"
    failed+=("$t")
  fi
done
echo "fuzz: $total executions in total"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: crashes in: ${failed[*]} (reproducers in fuzz/artifacts/)"
  exit 1
fi
echo "fuzz: no crash"
