#!/usr/bin/env bash
# Installs the kernel tools the chainwalk-host tests drive (iptables in its nf_tables
# flavour, nftables, conntrack, iproute2, ipset). Idempotent: apt runs only when a tool
# is missing.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: must run as root" >&2
    exit 1
fi

declare -A tool_pkg=(
    [iptables-nft-restore]=iptables
    [ip6tables-nft-restore]=iptables
    [nft]=nftables
    [conntrack]=conntrack
    [ip]=iproute2
    [bridge]=iproute2
    [ipset]=ipset
    [nfacct]=nfacct
)

missing=()
for tool in "${!tool_pkg[@]}"; do
    if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$tool" ] && [ ! -x "/sbin/$tool" ]; then
        missing+=("${tool_pkg[$tool]}")
    fi
done

if [ "${#missing[@]}" -gt 0 ]; then
    # shellcheck disable=SC2207
    pkgs=($(printf '%s\n' "${missing[@]}" | sort -u))
    echo "install-deps: installing ${pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${pkgs[@]}"
fi

# iptables must be the nf_tables flavour: the trace reader maps nft rule handles.
if command -v update-alternatives >/dev/null 2>&1; then
    for alt in iptables ip6tables; do
        if update-alternatives --query "$alt" >/dev/null 2>&1; then
            current="$(update-alternatives --query "$alt" | awk '/^Value:/ {print $2}')"
            if [ "$current" != "/usr/sbin/$alt-nft" ] && [ -x "/usr/sbin/$alt-nft" ]; then
                update-alternatives --set "$alt" "/usr/sbin/$alt-nft"
            fi
        fi
    done
fi

version="$(iptables --version 2>/dev/null || true)"
case "$version" in
    *nf_tables*) echo "install-deps: $version" ;;
    *) echo "install-deps: iptables is not the nf_tables flavour: $version" >&2; exit 1 ;;
esac
