// ASCII-only text helpers for protocol tokens (HTTP header names and
// values, WebSocket extension parameters, Origin patterns): locale-free,
// and never touching bytes >= 0x80, which only UTF-8 text could hold.
#pragma once

#include <string_view>

namespace herald::base {

constexpr char asciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

constexpr bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (asciiLower(a[i]) != asciiLower(b[i])) return false;
  }
  return true;
}

// Without leading and trailing spaces and tabs (HTTP's optional whitespace).
constexpr std::string_view trimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace herald::base
