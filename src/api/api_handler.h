// The server HTTP API (POST /api/<method>, DESIGN.md "Server API"): decodes
// the JSON body, runs the method against the node, and answers with
// {"result":{...}} or {"error":{"code":N,"message":"..."}} and the matching
// HTTP status. Runs on the worker that received the request; methods that
// need every worker (channels, info, disconnect) gather across them first.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace herald::core {
class Hub;
}

namespace herald::api {

// done(http_status, json_body) is called exactly once, on the hub's thread,
// possibly after handle() returned.
using ApiDone = std::function<void(int status, std::string body)>;

void handle(core::Hub& hub, std::string_view method, std::string_view body, ApiDone done);

// The HTTP status for a protocol error code (101 -> 401, 104 -> 404, ...).
int httpStatusFor(int error_code);

}  // namespace herald::api
