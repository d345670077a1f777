// Reading and writing whole files: the one implementation every folder uses (docs/architecture.md,
// "common/"). Errors name the file.
#pragma once
#include "common/result.hpp"

#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace imagegate {

enum class Links { Follow, Refuse }; // Refuse: O_NOFOLLOW (a symbolic link is not read through)

// The whole file at `path`, at most `limit` bytes. Errors: "PATH: cannot open: REASON",
// "PATH: larger than N bytes", "PATH: read error: REASON". `missing`, when given, tells a file
// that does not exist from one that cannot be read.
Result<std::string> read_file(const std::string &path, std::size_t limit,
                              Links links = Links::Follow, bool *missing = nullptr);

// The first `max` bytes of the file at `path` (all of it when shorter): for files whose size
// the caller judges (a daemon.json over its limit) or that may be endless (/proc).
Result<std::string> read_file_head(const std::string &path, std::size_t max);

// The rest of an open file descriptor (not closed here), at most `limit` bytes; `path` names it
// in errors.
Result<std::string> read_fd(int fd, const std::string &path, std::size_t limit);

// How write_file_atomically writes.
struct AtomicWrite {
    mode_t mode = 0600;                           // whatever the umask
    std::optional<std::pair<uid_t, gid_t>> owner; // fchown; EPERM is ignored
    bool sync = true;                             // fsync the file, then its directory
    bool exclusive = false;                       // never replace: "PATH already exists"
    // The temporary is DIR/.NAME<marker>XXXXXX; policy sync removes such leftovers in cacheDir.
    std::string_view temp_marker = ".tmp.";
};

// Writes `bytes` to a temporary file beside `path`, then renames it over `path` (or links it,
// when exclusive): a reader, a crash or a full disk sees the old file or the new one, never a
// mixture, and the temporary is removed on every failure. Errors: "cannot create a temporary
// file in DIR: REASON", "cannot write PATH: REASON", "cannot replace PATH: REASON",
// "PATH already exists".
Result<void> write_file_atomically(const std::string &path, std::string_view bytes,
                                   const AtomicWrite &how = {});

// write(2) until done, retrying EINTR; false with errno set on failure.
bool write_all(int fd, std::string_view bytes);

} // namespace imagegate
