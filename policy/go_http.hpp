// Reading HTTP request metadata the way dockerd's Go standard library does
// (docs/reading-requests.md).
#pragma once
#include "common/result.hpp"

#include <string>
#include <string_view>

namespace imagegate {

// What Go's mime.ParseMediaType(value) returns: the media type (lower case, trimmed of Unicode
// white space, parameters cut off) and whether it returned an error. Go returns the media type
// together with an error when only a parameter is malformed ("text/plain; =x"), and "" with an
// error when the type itself is malformed or a parameter name repeats. Callers choose, as Go's
// callers do, whether the error matters: ParseForm ignores it, dockerd's authz middleware and
// CheckForJSON do not.
struct GoMediaType {
    std::string type;
    bool error = false;
};
GoMediaType go_parse_media_type(std::string_view value);

// Go's unicode.IsSpace for the rune starting at `s[i]` (UTF-8); `*width` gets its length in bytes.
bool go_is_space_at(std::string_view s, std::size_t i, std::size_t *width);

// S percent-decoded once, as Go's url package decodes a path (url.PathUnescape) or, with
// PLUS_IS_SPACE, a query component (url.QueryUnescape); an error for a bad escape.
Result<std::string> go_percent_decode(std::string_view s, bool plus_is_space);

} // namespace imagegate
