#!/bin/sh
# Asks the running kernel how iptables-save prints rules: reads cases from testdata/print-cases.in
# (`FAMILY TABLE -A CHAIN OPTIONS…` per line, `#` comments), restores each alone into a private
# network namespace (` ;; ` separates several lines of one case) and writes `FAMILY TABLE INPUT => PRINTED` (or `=> ERROR: message` when
# iptables-restore refuses it) to testdata/print-cases.txt. Needs root, iptables 1.8.9 (nf_tables).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
in=${1:-$root/testdata/print-cases.in}
out=${2:-$root/testdata/print-cases.txt}
ns="cw-print-$$"
ip netns add "$ns"
trap 'ip netns del "$ns"' EXIT INT TERM
# Objects some cases refer to: ip sets and an nfacct counter.
ip netns exec "$ns" ipset create myset hash:ip timeout 0 counters
ip netns exec "$ns" ipset create s hash:ip,port timeout 0
ip netns exec "$ns" ipset create myset6 hash:ip family inet6
if command -v nfacct >/dev/null; then ip netns exec "$ns" nfacct add ct-stats; fi
tmp=$(mktemp)
{
  echo "# Kernel-checked iptables-save prints: FAMILY TABLE INPUT => what iptables-save printed"
  echo "# after iptables-restore of the rule alone (or ERROR: what iptables-restore said)."
  echo "# Produced by scripts/kernel-print-cases.sh from testdata/print-cases.in on"
  echo "# $(iptables --version), kernel $(uname -r). Do not edit by hand."
} >"$tmp"
grep -v '^[[:space:]]*\(#\|$\)' "$in" | while IFS= read -r line; do
  fam=${line%% *}; rest=${line#* }
  table=${rest%% *}; rule=${rest#* }
  case $fam in
    ipv4) restore=iptables-restore; save=iptables-save ;;
    ipv6) restore=ip6tables-restore; save=ip6tables-save ;;
    *) echo "bad family in: $line" >&2; exit 1 ;;
  esac
  # Empty the table first, so that only this rule is listed.
  printf '*%s\nCOMMIT\n' "$table" | ip netns exec "$ns" $restore
  lines=$(printf '%s' "$rule" | sed 's/ ;; /\n/g')
  if err=$(printf '*%s\n%s\nCOMMIT\n' "$table" "$lines" | ip netns exec "$ns" $restore 2>&1); then
    printed=$(ip netns exec "$ns" $save -t "$table" | grep '^-A ' | sed ':a;N;$!ba;s/\n/ \&\& /g')
    printf '%s %s %s => %s\n' "$fam" "$table" "$rule" "$printed" >>"$tmp"
  else
    msg=$(printf '%s' "$err" | tr '\n' ' ' | sed 's/^ip6*tables-restore v[^:]*: *//; s/ *$//')
    printf '%s %s %s => ERROR: %s\n' "$fam" "$table" "$rule" "$msg" >>"$tmp"
  fi
done
mv "$tmp" "$out"
