#include "common/files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace imagegate {

namespace {
std::string reason(int error) {
    return std::strerror(error);
}
} // namespace

Result<std::string> read_fd(int fd, const std::string &path, std::size_t limit) {
    // In chunks: a buffer of `limit` bytes up front costs a page fault per 4 KiB (containerd-verify
    // runs once per pull).
    std::string data;
    char chunk[65536];
    for (;;) {
        ssize_t n = ::read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return Error{path + ": read error: " + reason(errno)};
        if (n == 0)
            return data;
        if (data.size() + static_cast<std::size_t>(n) > limit)
            return Error{path + ": larger than " + std::to_string(limit) + " bytes"};
        data.append(chunk, static_cast<std::size_t>(n));
    }
}

Result<std::string> read_file(const std::string &path, std::size_t limit, Links links,
                              bool *missing) {
    if (missing)
        *missing = false;
    int flags = O_RDONLY | O_CLOEXEC | (links == Links::Refuse ? O_NOFOLLOW : 0);
    int fd = ::open(path.c_str(), flags);
    if (fd < 0) {
        if (missing)
            *missing = errno == ENOENT;
        return Error{path + ": cannot open: " + reason(errno)};
    }
    auto data = read_fd(fd, path, limit);
    ::close(fd);
    return data;
}

Result<std::string> read_file_head(const std::string &path, std::size_t max) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return Error{path + ": cannot open: " + reason(errno)};
    std::string data(max, '\0');
    std::size_t got = 0;
    while (got < max) {
        ssize_t n = ::read(fd, data.data() + got, max - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int error = errno;
            ::close(fd);
            return Error{path + ": read error: " + reason(error)};
        }
        if (n == 0)
            break;
        got += static_cast<std::size_t>(n);
    }
    ::close(fd);
    data.resize(got);
    return data;
}

bool write_all(int fd, std::string_view bytes) {
    std::size_t written = 0;
    while (written < bytes.size()) {
        ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            return false;
        }
        written += static_cast<std::size_t>(n);
    }
    return true;
}

Result<void> write_file_atomically(const std::string &path, std::string_view bytes,
                                   const AtomicWrite &how) {
    auto slash = path.rfind('/');
    std::string prefix = slash == std::string::npos ? "" : path.substr(0, slash + 1);
    std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    std::string temp =
        prefix + "." + path.substr(prefix.size()) + std::string(how.temp_marker) + "XXXXXX";
    int fd = ::mkostemp(temp.data(), O_CLOEXEC); // mode 0600
    if (fd < 0)
        return Error{"cannot create a temporary file in " + dir + ": " + reason(errno)};
    auto fail = [&](const std::string &what, int error) {
        ::close(fd);
        ::unlink(temp.c_str());
        return Error{what + " " + path + ": " + reason(error)};
    };
    if (::fchmod(fd, how.mode) != 0)
        return fail("cannot write", errno);
    if (how.owner && ::fchown(fd, how.owner->first, how.owner->second) != 0 && errno != EPERM)
        return fail("cannot write", errno);
    if (!write_all(fd, bytes) || (how.sync && ::fsync(fd) != 0))
        return fail("cannot write", errno);
    if (::close(fd) != 0) {
        int error = errno;
        ::unlink(temp.c_str());
        return Error{"cannot write " + path + ": " + reason(error)};
    }
    // link() fails if `path` exists: an exclusive write never replaces a file.
    if (how.exclusive ? ::link(temp.c_str(), path.c_str()) != 0
                      : ::rename(temp.c_str(), path.c_str()) != 0) {
        int error = errno;
        ::unlink(temp.c_str());
        if (how.exclusive && error == EEXIST)
            return Error{path + " already exists"};
        return Error{"cannot replace " + path + ": " + reason(error)};
    }
    if (how.exclusive)
        ::unlink(temp.c_str());
    if (how.sync) {
        int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd >= 0) {
            ::fsync(dir_fd);
            ::close(dir_fd);
        }
    }
    return {};
}

} // namespace imagegate
