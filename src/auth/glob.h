// Channel patterns of the token claims "channels" and "publish": a glob where
// '*' matches any run of characters (none included) and '?' exactly one; every
// other character matches itself (no escapes, no classes: channel names
// cannot hold the characters a richer syntax would need). Pure functions,
// thread-safe, no allocation.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace herald::auth {

// True when `pattern` matches the whole of `text`. Linear in practice: one
// backtrack point (the last '*'), so a hostile pattern cannot blow up.
// `ignore_ascii_case` for names that are case-insensitive (Origin hosts).
bool globMatch(std::string_view pattern, std::string_view text, bool ignore_ascii_case = false);

// True when any of `patterns` matches `text`.
bool matchesAny(const std::vector<std::string>& patterns, std::string_view text);

}  // namespace herald::auth
