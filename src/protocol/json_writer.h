// A minimal, fast JSON writer that appends to a std::string. The caller is
// responsible for structure (commas, braces); the writer escapes strings
// correctly (RFC 8259: quote, backslash, control characters) and formats
// numbers without locale. Not thread-safe; reuse one per worker.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace herald::protocol {

class JsonWriter {
 public:
  explicit JsonWriter(std::string* out) : out_(out) {}

  JsonWriter& raw(std::string_view s) { out_->append(s); return *this; }
  JsonWriter& raw(char c) { out_->push_back(c); return *this; }
  // "s" with escaping; the input is assumed to be UTF-8 and passed through.
  JsonWriter& string(std::string_view s);
  JsonWriter& number(int64_t v);
  JsonWriter& number(uint64_t v);
  JsonWriter& number(int v) { return number(static_cast<int64_t>(v)); }
  JsonWriter& boolean(bool v) { return raw(v ? "true" : "false"); }
  // ,"key": — `first` omits the leading comma. Keys are written unescaped:
  // only for the writer's own constant keys.
  JsonWriter& key(std::string_view k, bool first = false);

  std::string* out() { return out_; }

 private:
  std::string* out_;
};

// Appends `s` JSON-escaped (without quotes) to *out.
void appendEscaped(std::string* out, std::string_view s);

}  // namespace herald::protocol
