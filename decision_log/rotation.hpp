// The decision log's files, for every process that writes them: `imagegate serve`
// (DecisionLog) and containerd's verifiers (containerd/verify.cpp) append to the same file.
// One mode, one way to open, one way to rotate (docs/architecture.md, "decision_log/").
#pragma once
#include "common/result.hpp"

#include <sys/types.h>

#include <string>

namespace imagegate {

// The log may hold image names and users of the host: readable by root and its group (adm).
inline constexpr mode_t kDecisionLogMode = 0640;

// Opens `path` for appending, created with kDecisionLogMode; a symbolic link is refused
// (O_NOFOLLOW). `truncate` empties it (rotation with no files kept). -1 with errno on failure.
int open_decision_log(const std::string &path, bool truncate = false);

// decisions.jsonl → decisions.1.jsonl → ... → decisions.N.jsonl (the oldest dropped), by renames
// alone, never truncating a file: a line another process appends meanwhile lands in one of
// them. Goes on past a failed rename; the error names the first.
Result<void> shift_rotated_logs(const std::string &path, int max_files);

} // namespace imagegate
