#!/bin/sh
# Fills fuzz/corpus/{save,command} with seeds made from the repository's test data:
# the corpus rulesets as they are, and the same rulesets rewritten as iptables command scripts.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
data="$here/../testdata"
mkdir -p "$here/corpus/save" "$here/corpus/command"
for f in "$data"/corpus/rulesets/*.rules "$data"/example-node/node.rules; do
    cp "$f" "$here/corpus/save/"
    awk '
        /^\*/ { table = substr($0, 2); next }
        /^:/ { split(substr($0, 2), w, " ");
               if (w[2] == "-") print "iptables -t " table " -N " w[1];
               else print "iptables -t " table " -P " w[1] " " w[2];
               next }
        /^\[/ { sub(/^\[[0-9]*:[0-9]*\] /, "") }
        /^-/ { print "iptables -t " table " " $0; next }
    ' "$f" > "$here/corpus/command/$(basename "$f" .rules).sh"
done
cp "$data"/example-node/article-rules.sh "$here/corpus/command/"
