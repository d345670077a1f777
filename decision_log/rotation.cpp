#include "decision_log/rotation.hpp"

#include "decision_log/line.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace imagegate {

int open_decision_log(const std::string &path, bool truncate) {
    return ::open(path.c_str(),
                  O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | (truncate ? O_TRUNC : 0),
                  kDecisionLogMode);
}

Result<void> shift_rotated_logs(const std::string &path, int max_files) {
    Result<void> result;
    for (int i = max_files; i > 0; --i) {
        std::string from = rotated_log_name(path, i - 1);
        if (::access(from.c_str(), F_OK) != 0)
            continue;
        if (::rename(from.c_str(), rotated_log_name(path, i).c_str()) != 0 && result)
            result = Error{"cannot rotate " + from + ": " + std::strerror(errno)};
    }
    return result;
}

} // namespace imagegate
