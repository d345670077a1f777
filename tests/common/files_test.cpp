// common/files.cpp and common/time_text.cpp: the one reader, the one atomic writer, time text.
#include "common/files.hpp"
#include "common/time_text.hpp"

#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using namespace imagegate;

namespace {
struct TempDir {
    fs::path path;
    TempDir() {
        std::string t = (fs::temp_directory_path() / "ig-files.XXXXXX").string();
        path = ::mkdtemp(t.data());
    }
    ~TempDir() { fs::remove_all(path); }
};
} // namespace

TEST_CASE("read_file: limit, missing, links") {
    TempDir d;
    std::string file = (d.path / "f").string();
    std::ofstream(file) << "12345";
    CHECK(read_file(file, 5).value() == "12345");
    auto over = read_file(file, 4);
    REQUIRE_FALSE(over);
    CHECK(over.error() == file + ": larger than 4 bytes");
    bool missing = false;
    auto gone = read_file((d.path / "none").string(), 10, Links::Follow, &missing);
    CHECK_FALSE(gone);
    CHECK(missing);
    fs::create_symlink(file, d.path / "link");
    CHECK(read_file((d.path / "link").string(), 10).value() == "12345");
    CHECK_FALSE(read_file((d.path / "link").string(), 10, Links::Refuse));
    CHECK(read_file_head(file, 2).value() == "12");
}

TEST_CASE("write_file_atomically: mode, replace, exclusive, nothing left behind") {
    TempDir d;
    std::string file = (d.path / "out").string();
    AtomicWrite how;
    how.mode = 0640;
    REQUIRE(write_file_atomically(file, "one", how));
    CHECK(read_file(file, 10).value() == "one");
    struct stat st {};
    REQUIRE(::stat(file.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0640);
    REQUIRE(write_file_atomically(file, "two"));
    CHECK(read_file(file, 10).value() == "two");
    how.exclusive = true;
    auto again = write_file_atomically(file, "three", how);
    REQUIRE_FALSE(again);
    CHECK(again.error() == file + " already exists");
    CHECK(read_file(file, 10).value() == "two");
    auto nowhere = write_file_atomically((d.path / "no/such/dir/f").string(), "x");
    REQUIRE_FALSE(nowhere);
    CHECK(nowhere.error().starts_with("cannot create a temporary file in " +
                                      (d.path / "no/such/dir").string()));
    std::size_t entries = 0;
    for ([[maybe_unused]] auto &e : fs::directory_iterator(d.path))
        ++entries;
    CHECK(entries == 1); // no temporary file left
}

TEST_CASE("time text: RFC 3339 to the second and with milliseconds") {
    using namespace std::chrono;
    system_clock::time_point t{milliseconds(1772445960123)};
    CHECK(rfc3339(t) == "2026-03-02T10:06:00Z");
    CHECK(rfc3339(system_clock::time_point{milliseconds(-1)}) == "1969-12-31T23:59:59Z");
    CHECK(format_rfc3339_ms(1772445960123) == "2026-03-02T10:06:00.123Z");
    std::string now;
    append_rfc3339_now(now);
    REQUIRE(now.size() == 24);
    CHECK(parse_rfc3339_ms(now).has_value());
}
