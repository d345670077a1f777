#!/usr/bin/env bash
# `make format-check`: every C and C++ source git tracks is as clang-format-14 would write it
# (the repository's .clang-format). Prints the files that are not, and how to fix them.
set -uo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.c' '*.cpp' '*.h' '*.hpp' | grep -v '/corpus/')
bad=()
for f in "${files[@]}"; do
    clang-format-14 --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if ((${#bad[@]})); then
    echo "format-check: ${#bad[@]} of ${#files[@]} files are not formatted:" >&2
    printf '  %s\n' "${bad[@]}" >&2
    for f in "${bad[@]:0:3}"; do clang-format-14 --dry-run "$f" 2>&1 | head -12 >&2; done
    echo "format-check: run  clang-format-14 -i ${bad[*]:0:5}$( ((${#bad[@]} > 5)) && echo ' ...')" >&2
    exit 1
fi
echo "format-check: ${#files[@]} files formatted"
