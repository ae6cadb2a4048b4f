// Decodes native protocol v1 commands from JSON text with simdjson.
// One parser per worker (it keeps simdjson's buffers warm); not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "protocol/command.h"

namespace herald::protocol {

// Why a command was refused. Every failure maps to protocol error 107 (bad
// request) except kUnknownMethod (104) and kTooLarge (111).
enum class CommandError : uint8_t {
  kNone,
  kInvalidJson,    // not JSON, or trailing garbage
  kTooDeep,        // nesting over max_depth
  kNotObject,      // top level is not an object
  kMissingId,      // no numeric "id" (non-negative integer)
  kUnknownMethod,  // no known method key, or more than one
  kBadField,       // a field of the wrong type or out of range
  kTooLarge,       // text over max_bytes
};

struct ParsedCommand {
  CommandError error = CommandError::kNone;
  uint64_t id = 0;         // set when the id could be read, even on error
  std::string_view what;   // a short static message for the error reply
};

class CommandParser {
 public:
  explicit CommandParser(size_t max_bytes = 64 * 1024, size_t max_depth = 64);
  ~CommandParser();
  CommandParser(const CommandParser&) = delete;
  CommandParser& operator=(const CommandParser&) = delete;

  // Parses one command object (no newlines inside it) into *out. The method
  // is the one key besides "id" whose value is an object: {"id":1,"connect":{}}.
  ParsedCommand parse(std::string_view json, Command* out);

  // Splits a frame that may hold several commands separated by '\n' and calls
  // fn(std::string_view one_command) for each non-blank line.
  template <typename Fn>
  static void split(std::string_view frame, Fn&& fn) {
    size_t start = 0;
    while (start < frame.size()) {
      size_t nl = frame.find('\n', start);
      if (nl == std::string_view::npos) nl = frame.size();
      std::string_view line = frame.substr(start, nl - start);
      if (line.find_first_not_of(" \t\r") != std::string_view::npos) fn(line);
      start = nl + 1;
    }
  }

 private:
  struct Impl;  // the simdjson parser and its buffers
  std::unique_ptr<Impl> impl_;
  size_t max_bytes_;
};

}  // namespace herald::protocol
