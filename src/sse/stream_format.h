// The text of a Server-Sent Events stream (WHATWG HTML, "Server-sent
// events"): fields and the resume cursor Herald puts in each event's `id:`.
// Stateless functions and a small value type; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace herald::sse {

// Appends `data: <json>\n` lines for one event's data, without the blank
// line that ends the event. A line break inside the JSON (the only place
// one can be is whitespace in a raw payload) starts a new `data:` line, so
// the browser, which joins data lines with '\n', gets the same JSON back.
void appendData(std::string* out, std::string_view json);

// Where a stream stands in each of its channels: enough to resume all of
// them through history recovery. Serialized as
//   <offset>.<epoch>.<channel>[,<offset>.<epoch>.<channel>...]
// with '%' and ',' in a channel name (user-limited channels may hold ',')
// written as %25 and %2C; epochs are checked to hold neither ',' nor '.'.
// The text holds no line break, as an `id:` field requires.
class Cursor {
 public:
  struct Entry {
    std::string channel;
    uint64_t offset = 0;
    std::string epoch;
  };

  // Parses a cursor sent back in Last-Event-ID. False (and an empty cursor)
  // when the text is not one this server wrote.
  bool parse(std::string_view text);

  // Records a channel's position (adds the channel if new).
  void set(std::string_view channel, uint64_t offset, std::string_view epoch);
  // Moves a known channel's offset forward; unknown channels are ignored.
  void advance(std::string_view channel, uint64_t offset);
  void erase(std::string_view channel);
  const Entry* find(std::string_view channel) const;

  // Appends the serialized cursor.
  void appendTo(std::string* out) const;
  bool empty() const { return entries_.empty(); }

 private:
  Entry* findMutable(std::string_view channel);
  std::vector<Entry> entries_;
};

}  // namespace herald::sse
