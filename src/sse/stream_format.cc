#include "sse/stream_format.h"

#include <algorithm>
#include <charconv>

#include "core/channel.h"

namespace herald::sse {

void appendData(std::string* out, std::string_view json) {
  out->append("data: ");
  size_t start = 0;
  for (size_t i = 0; i < json.size(); ++i) {
    char c = json[i];
    if (c != '\n' && c != '\r') continue;
    out->append(json, start, i - start);
    out->append("\ndata: ");
    if (c == '\r' && i + 1 < json.size() && json[i + 1] == '\n') ++i;
    start = i + 1;
  }
  out->append(json, start);
  out->push_back('\n');
}

namespace {
bool validEpoch(std::string_view epoch) {
  return !epoch.empty() && epoch.size() <= 64 &&
         std::all_of(epoch.begin(), epoch.end(), [](unsigned char c) {
           return c > 0x20 && c < 0x7f && c != ',' && c != '.';
         });
}
// A channel name in a cursor: ',' separates entries, so it is escaped.
void appendChannel(std::string* out, std::string_view channel) {
  for (char c : channel) {
    if (c == '%') out->append("%25");
    else if (c == ',') out->append("%2C");
    else out->push_back(c);
  }
}

bool readChannel(std::string_view text, std::string* out) {
  out->clear();
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out->push_back(text[i]);
    } else if (text.substr(i, 3) == "%25") {
      out->push_back('%');
      i += 2;
    } else if (text.substr(i, 3) == "%2C") {
      out->push_back(',');
      i += 2;
    } else {
      return false;
    }
  }
  return core::validChannelName(*out);
}

}  // namespace

bool Cursor::parse(std::string_view text) {
  entries_.clear();
  for (bool more = !text.empty(); more;) {
    size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    more = comma != std::string_view::npos;
    if (more) text.remove_prefix(comma + 1);
    size_t dot1 = item.find('.');
    size_t dot2 = dot1 == std::string_view::npos ? dot1 : item.find('.', dot1 + 1);
    if (dot2 == std::string_view::npos) {
      entries_.clear();
      return false;
    }
    Entry e;
    std::string_view offset = item.substr(0, dot1);
    auto [end, ec] = std::from_chars(offset.data(), offset.data() + offset.size(), e.offset);
    std::string_view epoch = item.substr(dot1 + 1, dot2 - dot1 - 1);
    if (ec != std::errc{} || end != offset.data() + offset.size() || !validEpoch(epoch) ||
        !readChannel(item.substr(dot2 + 1), &e.channel) || find(e.channel)) {
      entries_.clear();
      return false;
    }
    e.epoch = epoch;
    entries_.push_back(std::move(e));
  }
  return true;
}

Cursor::Entry* Cursor::findMutable(std::string_view channel) {
  auto it = std::find_if(entries_.begin(), entries_.end(),
                         [channel](const Entry& e) { return e.channel == channel; });
  return it == entries_.end() ? nullptr : &*it;
}

const Cursor::Entry* Cursor::find(std::string_view channel) const {
  return const_cast<Cursor*>(this)->findMutable(channel);
}

void Cursor::set(std::string_view channel, uint64_t offset, std::string_view epoch) {
  // An epoch the cursor could not carry makes the channel unrecoverable
  // rather than the cursor unparsable.
  if (!validEpoch(epoch)) return erase(channel);
  Entry* e = findMutable(channel);
  if (!e) e = &entries_.emplace_back(Entry{std::string(channel), 0, {}});
  e->offset = offset;
  e->epoch = epoch;
}

void Cursor::advance(std::string_view channel, uint64_t offset) {
  if (Entry* e = findMutable(channel); e && offset > e->offset) e->offset = offset;
}

void Cursor::erase(std::string_view channel) {
  std::erase_if(entries_, [channel](const Entry& e) { return e.channel == channel; });
}

void Cursor::appendTo(std::string* out) const {
  char digits[24];
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (i > 0) out->push_back(',');
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, entries_[i].offset);
    out->append(digits, end);
    out->push_back('.');
    out->append(entries_[i].epoch);
    out->push_back('.');
    appendChannel(out, entries_[i].channel);
  }
}

}  // namespace herald::sse
