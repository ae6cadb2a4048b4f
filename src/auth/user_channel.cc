#include "auth/user_channel.h"

namespace herald::auth {

bool userMayUse(std::string_view channel, std::string_view user) {
  const size_t hash = channel.rfind('#');
  if (hash == std::string_view::npos) return true;
  if (user.empty()) return false;
  std::string_view list = channel.substr(hash + 1);
  while (true) {
    const size_t comma = list.find(',');
    if (list.substr(0, comma) == user) return true;
    if (comma == std::string_view::npos) return false;
    list.remove_prefix(comma + 1);
  }
}

}  // namespace herald::auth
