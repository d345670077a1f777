// Reading JSON the way dockerd's Go encoding/json does, so imagegate sees what dockerd sees.
#pragma once
#include "common/result.hpp"

#include <boost/json.hpp>
#include <cstdint>
#include <string>
#include <string_view>

namespace imagegate {

// Go matches object keys to struct fields case-insensitively, and its folding also maps
// U+017F (ſ) to 's' and U+212A (K) to 'k': {"Bindſ": [...]} sets Binds.
std::string go_fold(std::string_view key);

// The value of field `lower_name` (already folded) in `object`, as Go would decode it; null when
// absent. Two keys that fold to the same name are an error: Go keeps the last, Boost.JSON keeps
// the first position, so the request is ambiguous and is refused.
Result<const boost::json::value *> go_field(const boost::json::object &object,
                                            std::string_view lower_name);

// The first folded character of each key of `object`, as bits (character & 63): a field whose
// name starts with a character outside it is absent without a look at any key. For objects
// read field by field (a create body is read for some fifty HostConfig fields, most absent).
std::uint64_t go_key_mask(const boost::json::object &object);
inline bool go_mask_may_have(std::uint64_t mask, std::string_view lower_name) {
    return !lower_name.empty() && (mask >> (static_cast<unsigned char>(lower_name[0]) & 63) & 1);
}

// Parses a request body as boost::json::parse does (max_depth nesting, `storage` for the values),
// and refuses an object that has the same key twice: Boost keeps the last, while Go's decoder
// applies each in turn (a later null leaves an earlier value, a repeated object is merged into
// the first: {"Privileged":true,"Privileged":null} is privileged to dockerd).
Result<boost::json::value> go_parse_json(std::string_view text, boost::json::storage_ptr storage,
                                         std::size_t max_depth);

// Standard padded base64 (Go's []byte in JSON); \r and \n are skipped as Go does.
Result<std::string> base64_decode(std::string_view text);

} // namespace imagegate
