// Reading JSON the way dockerd's Go encoding/json does, so imagegate sees what dockerd sees.
#pragma once
#include "policy/result.hpp"

#include <boost/json.hpp>
#include <string>
#include <string_view>

namespace imagegate {

// Go matches object keys to struct fields case-insensitively, and its folding also maps
// U+017F (ſ) to 's' and U+212A (K) to 'k': {"Bindſ": [...]} sets Binds.
std::string go_fold(std::string_view key);

// The value of field `lower_name` (already folded) in `object`, as Go would decode it; null when
// absent. Two keys that fold to the same name are an error: Go keeps the last, Boost.JSON keeps
// the first position, so the request is ambiguous and is refused.
Result<const boost::json::value *> go_field(const boost::json::object &object, std::string_view lower_name);

// Standard padded base64 (Go's []byte in JSON); \r and \n are skipped as Go does.
Result<std::string> base64_decode(std::string_view text);

} // namespace imagegate
