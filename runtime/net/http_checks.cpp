#include "runtime/net/http_checks.hpp"

#include <boost/asio/ip/address.hpp>

#include <algorithm>
#include <cctype>

namespace sdw {
namespace {

std::string lower_trimmed(std::string s) {
  const auto space = [](unsigned char c) { return std::isspace(c) != 0; };
  s.erase(s.begin(), std::find_if_not(s.begin(), s.end(), space));
  s.erase(std::find_if_not(s.rbegin(), s.rend(), space).base(), s.end());
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool loopback_address(const std::string& text) {
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(text, ec);
  return !ec && address.is_loopback();
}

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
}

} // namespace

bool is_json_media_type(const std::optional<std::string>& content_type) {
  if (!content_type) return true;
  const std::string type = lower_trimmed(content_type->substr(0, content_type->find(';')));
  if (type.empty()) return true;
  if (type.rfind("application/", 0) != 0) return false;
  const std::string subtype = type.substr(12);
  return subtype == "json" || (subtype.size() > 5 && subtype.compare(subtype.size() - 5, 5, "+json") == 0);
}

bool is_loopback_host(const std::string& host) {
  const std::string h = lower_trimmed(host);
  if (h == "localhost") return true;
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') return loopback_address(h.substr(1, h.size() - 2));
  return loopback_address(h);
}

bool is_loopback_host_header(const std::optional<std::string>& host_header) {
  if (!host_header) return true;
  std::string h = lower_trimmed(*host_header);
  std::string name = h;
  if (!h.empty() && h.front() == '[') {
    // [::1] or [::1]:port
    const auto close = h.find(']');
    if (close == std::string::npos) return false;
    const std::string rest = h.substr(close + 1);
    if (!rest.empty() && (rest.front() != ':' || !all_digits(rest.substr(1)))) return false;
    return loopback_address(h.substr(1, close - 1)) && h.substr(1, close - 1).find(':') != std::string::npos;
  }
  if (const auto colon = h.find(':'); colon != std::string::npos) {
    if (!all_digits(h.substr(colon + 1))) return false;
    name = h.substr(0, colon);
  }
  if (name == "localhost") return true;
  // A dotted IPv4 literal only: "127.1" and other short forms are names to a browser's resolver.
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address_v4(name, ec);
  return !ec && address.is_loopback() && std::count(name.begin(), name.end(), '.') == 3;
}

} // namespace sdw
