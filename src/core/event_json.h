// The JSON shapes of the native protocol that carry broker data: an event
// (in pushes, recovered events and history) and a presence entry. Shared by
// the hub's fan-out, the session's replies and the server API, so that an
// event looks the same wherever a client meets it. Stateless.
#pragma once

#include <cstdint>
#include <vector>

#include "broker/broker.h"
#include "protocol/json_writer.h"

namespace herald::core {

// {"eventType":T,"version":V,"timestamp":MS,"payload":P,"offset":N
//  [,"publisher":{"user":U,"client":C}]}
void writeEvent(protocol::JsonWriter& w, const broker::Publication& pub);

// {"channel":C,"eventType":T,...}: the same event with its channel first,
// for transports that carry events without a push around them (SSE).
void writeChannelEvent(protocol::JsonWriter& w, const broker::Publication& pub);

// [event, event, ...] with as many whole events as keep the output at most
// `max_bytes` long (counting what it held before); returns how many.
size_t writeEvents(protocol::JsonWriter& w, const std::vector<broker::PublicationPtr>& pubs,
                   size_t max_bytes = SIZE_MAX);

// {"client":C,"user":U[,"info":I]}
void writeClientInfo(protocol::JsonWriter& w, std::string_view client, std::string_view user,
                     std::string_view info);

// {"clients":{C:{...},...}}: the presence reply's body.
void writePresence(protocol::JsonWriter& w, const std::vector<broker::ClientInfo>& clients);

// {"numClients":N,"numUsers":M}
void writePresenceStats(protocol::JsonWriter& w, const broker::PresenceStats& stats);

}  // namespace herald::core
