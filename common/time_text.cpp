#include "common/time_text.hpp"

#include <cstdio>
#include <ctime>

namespace imagegate {

namespace {

// Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian, UTC).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void civil_from_days(std::int64_t z, std::int64_t &y, unsigned &m, unsigned &d) {
    z += 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2);
}

} // namespace

std::optional<std::int64_t> parse_rfc3339_ms(std::string_view t) {
    std::size_t i = 0;
    auto number = [&](std::size_t width, int &out) {
        if (i + width > t.size())
            return false;
        out = 0;
        for (std::size_t k = 0; k < width; ++k) {
            char c = t[i + k];
            if (c < '0' || c > '9')
                return false;
            out = out * 10 + (c - '0');
        }
        i += width;
        return true;
    };
    auto expect = [&](std::string_view chars) {
        if (i >= t.size() || chars.find(t[i]) == std::string_view::npos)
            return false;
        ++i;
        return true;
    };
    int year, month, day, hour, minute, second;
    if (!number(4, year) || !expect("-") || !number(2, month) || !expect("-") || !number(2, day) ||
        !expect("Tt ") || !number(2, hour) || !expect(":") || !number(2, minute) || !expect(":") ||
        !number(2, second))
        return std::nullopt;
    static constexpr int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (month < 1 || month > 12 || day < 1 || day > kDays[month - 1] || hour > 23 || minute > 59 ||
        second > 60)
        return std::nullopt;
    int millis = 0;
    if (i < t.size() && t[i] == '.') {
        ++i;
        std::size_t begin = i;
        while (i < t.size() && t[i] >= '0' && t[i] <= '9') {
            if (i - begin < 3)
                millis = millis * 10 + (t[i] - '0');
            ++i;
        }
        if (i == begin)
            return std::nullopt;
        for (std::size_t k = i - begin; k < 3; ++k)
            millis *= 10;
    }
    int offset_minutes = 0;
    if (i < t.size() && (t[i] == 'Z' || t[i] == 'z')) {
        ++i;
    } else if (i < t.size() && (t[i] == '+' || t[i] == '-')) {
        int sign = t[i] == '-' ? -1 : 1;
        ++i;
        int oh, om;
        if (!number(2, oh) || !expect(":") || !number(2, om) || oh > 23 || om > 59)
            return std::nullopt;
        offset_minutes = sign * (oh * 60 + om);
    } else {
        return std::nullopt;
    }
    if (i != t.size())
        return std::nullopt;
    std::int64_t days = days_from_civil(year, unsigned(month), unsigned(day));
    std::int64_t seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    return seconds * 1000 + millis;
}

std::string format_rfc3339_ms(std::int64_t ms) {
    std::int64_t seconds = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    int millis = static_cast<int>(ms - seconds * 1000);
    std::int64_t days = seconds >= 0 ? seconds / 86400 : -((-seconds + 86399) / 86400);
    std::int64_t of_day = seconds - days * 86400;
    std::int64_t year;
    unsigned month, day;
    civil_from_days(days, year, month, day);
    char out[40];
    std::snprintf(out, sizeof out, "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ",
                  static_cast<long long>(year), month, day, static_cast<int>(of_day / 3600),
                  static_cast<int>(of_day / 60 % 60), static_cast<int>(of_day % 60), millis);
    return out;
}

std::string rfc3339(std::chrono::system_clock::time_point when) {
    auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(when.time_since_epoch()).count();
    std::string text = format_rfc3339_ms(ms - ((ms % 1000) + 1000) % 1000);
    return text.substr(0, text.size() - 5) + "Z"; // without ".000"
}

void append_rfc3339_now(std::string &out) {
    auto now = std::chrono::system_clock::now();
    auto ms_total =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    std::time_t t = static_cast<std::time_t>(ms_total / 1000);
    int ms = static_cast<int>(ms_total % 1000);
    // The date and time to the second, formatted once a second per thread (gmtime_r and
    // strftime cost more than the rest of a decision's log line).
    thread_local std::time_t cached_second = -1;
    thread_local char cached[32];
    thread_local std::size_t cached_size = 0;
    if (t != cached_second) {
        std::tm tm{};
        gmtime_r(&t, &tm);
        cached_size = std::strftime(cached, sizeof cached, "%Y-%m-%dT%H:%M:%S", &tm);
        cached_second = t;
    }
    out.append(cached, cached_size);
    out += '.';
    out += static_cast<char>('0' + ms / 100);
    out += static_cast<char>('0' + ms / 10 % 10);
    out += static_cast<char>('0' + ms % 10);
    out += 'Z';
}

} // namespace imagegate
