#!/usr/bin/env bash
# Fills corpus/ofp_message/ with every message of tests/vectors/*.hex (the
# golden captures from ovs-ofctl), one file per message.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$here/corpus/ofp_message"
mkdir -p "$out"
n=0
for f in "$here"/../../tests/vectors/*.hex; do
    # A message is a run of hex lines; comments and blank lines end it.
    awk '/^#/ || /^[[:space:]]*$/ { if (m != "") print m; m = ""; next } { m = m $0 } END { if (m != "") print m }' "$f" |
        while read -r hex; do
            name=$(printf '%s' "$hex" | sha1sum | cut -c1-16)
            printf '%s' "$hex" | python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(sys.stdin.read()))' >"$out/$name"
        done
done
n=$(ls "$out" | wc -l)
echo "corpus/ofp_message: $n seeds"
