#!/usr/bin/env bash
# Runs every test of chainwalk on this machine, kernel tests included. Installs what the tests
# need first (iptables in its nf_tables flavour, nftables, conntrack, iproute2, ipset), so it
# works on a fresh Debian machine. Kernel tests need root: they build network namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/install-deps.sh
cargo test --workspace --all-targets
cargo test --workspace --doc
