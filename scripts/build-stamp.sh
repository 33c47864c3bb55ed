#!/bin/sh
# Writes <out>/BuildStamp.swift with the git commit of <package root> (run by the BuildStamp plugin before every
# build). The file is replaced only when its text changes, so an unchanged tree recompiles nothing.
# A tree without git (a source tarball) is stamped "unknown"; uncommitted changes to tracked files add "-dirty".
root="$1"
out="$2"
mkdir -p "$out"
commit=$(git -C "$root" rev-parse --short=12 HEAD 2>/dev/null) || commit=unknown
[ -n "$commit" ] || commit=unknown
if [ "$commit" != unknown ] && [ -n "$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  commit="$commit-dirty"
fi
date=$(git -C "$root" log -1 --format=%cI 2>/dev/null) || date=""
tmp="$out/BuildStamp.swift.tmp"
cat > "$tmp" <<SWIFT
// Generated before every build by scripts/build-stamp.sh (the BuildStamp plugin). Do not edit.
let buildCommit = "$commit"
let buildCommitDate = "$date"
SWIFT
if cmp -s "$tmp" "$out/BuildStamp.swift"; then rm -f "$tmp"; else mv "$tmp" "$out/BuildStamp.swift"; fi
