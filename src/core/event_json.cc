#include "core/event_json.h"

namespace herald::core {

namespace {
void writeEventFields(protocol::JsonWriter& w, const broker::Publication& pub) {
  w.raw("\"eventType\":").string(pub.event_type);
  w.raw(",\"version\":").number(pub.version);
  w.raw(",\"timestamp\":").number(pub.timestamp_ms);
  w.raw(",\"payload\":").raw(pub.payload);
  w.raw(",\"offset\":").number(pub.offset);
  if (!pub.publisher_client.empty()) {
    w.raw(",\"publisher\":{\"user\":").string(pub.publisher_user);
    w.raw(",\"client\":").string(pub.publisher_client).raw('}');
  }
}
}  // namespace

void writeEvent(protocol::JsonWriter& w, const broker::Publication& pub) {
  w.raw('{');
  writeEventFields(w, pub);
  w.raw('}');
}

void writeChannelEvent(protocol::JsonWriter& w, const broker::Publication& pub) {
  w.raw("{\"channel\":").string(pub.channel).raw(',');
  writeEventFields(w, pub);
  w.raw('}');
}

size_t writeEvents(protocol::JsonWriter& w, const std::vector<broker::PublicationPtr>& pubs,
                   size_t max_bytes) {
  std::string& out = *w.out();
  w.raw('[');
  size_t n = 0;
  for (; n < pubs.size(); ++n) {
    size_t before = out.size();
    if (n > 0) w.raw(',');
    writeEvent(w, *pubs[n]);
    if (out.size() + 1 > max_bytes) {  // + the closing bracket
      out.resize(before);
      break;
    }
  }
  w.raw(']');
  return n;
}

void writeClientInfo(protocol::JsonWriter& w, std::string_view client, std::string_view user,
                     std::string_view info) {
  w.raw("{\"client\":").string(client).raw(",\"user\":").string(user);
  if (!info.empty()) w.raw(",\"info\":").raw(info);
  w.raw('}');
}

void writePresence(protocol::JsonWriter& w, const std::vector<broker::ClientInfo>& clients) {
  w.raw("{\"clients\":{");
  for (size_t i = 0; i < clients.size(); ++i) {
    if (i > 0) w.raw(',');
    w.string(clients[i].client).raw(':');
    writeClientInfo(w, clients[i].client, clients[i].user, clients[i].info);
  }
  w.raw("}}");
}

void writePresenceStats(protocol::JsonWriter& w, const broker::PresenceStats& stats) {
  w.raw("{\"numClients\":").number(uint64_t{stats.num_clients});
  w.raw(",\"numUsers\":").number(uint64_t{stats.num_users}).raw('}');
}

}  // namespace herald::core
