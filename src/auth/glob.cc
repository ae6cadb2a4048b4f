#include "auth/glob.h"

#include "base/ascii.h"

namespace herald::auth {

// The classic two-pointer wildcard match: on a mismatch after a '*', let that
// '*' swallow one more character and retry. Only the last '*' needs
// remembering, since an earlier one can never help a later mismatch.
bool globMatch(std::string_view pattern, std::string_view text, bool ignore_ascii_case) {
  auto same = [ignore_ascii_case](char a, char b) {
    return a == b || (ignore_ascii_case && base::asciiLower(a) == base::asciiLower(b));
  };
  size_t p = 0, t = 0;
  size_t star = std::string_view::npos, resume = 0;
  while (t < text.size()) {
    // '*' first: a '*' in the text is a literal, never a second wildcard.
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (p < pattern.size() && (pattern[p] == '?' || same(pattern[p], text[t]))) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool matchesAny(const std::vector<std::string>& patterns, std::string_view text) {
  for (const std::string& pattern : patterns) {
    if (globMatch(pattern, text)) return true;
  }
  return false;
}

}  // namespace herald::auth
