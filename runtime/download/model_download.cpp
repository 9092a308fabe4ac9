// cpprest's U() and platform strings clash with other headers; plain std::string suffices on Linux.
#define _TURN_OFF_PLATFORM_STRING
#include "runtime/download/model_download.hpp"

#include "runtime/base/encoding.hpp"
#include "runtime/base/errors.hpp"

#include <cpprest/filestream.h>
#include <cpprest/http_client.h>

#include <system_error>

namespace sdw {

namespace fs = std::filesystem;

namespace {

/// The URL without its credentials, for messages and logs.
std::string shown(const std::string& url) {
  try {
    web::uri u(url);
    return u.scheme() + "://" + u.host() + (u.port() > 0 ? ":" + std::to_string(u.port()) : "") + u.path();
  } catch (const std::exception&) {
    return "(not a URL)";
  }
}

bool hash_matches(const fs::path& file, const std::string& expected) {
  return expected.empty() || sha256_file_hex(file.string()) == expected;
}

} // namespace

fs::path download_target(const std::string& url, const fs::path& folder) {
  std::string path;
  try {
    path = web::uri(url).path();
  } catch (const std::exception&) {
    throw error(errc::bad_request, "model.url", "'" + url + "' is not a URL");
  }
  const std::string name = web::uri::decode(path.substr(path.find_last_of('/') + 1));
  const bool plain = !name.empty() && name != "." && name != ".." && name.find_first_of("/\\") == std::string::npos;
  const std::string ext = ".safetensors";
  if (!plain || name.size() <= ext.size() || name.compare(name.size() - ext.size(), ext.size(), ext) != 0) {
    throw error(errc::bad_request, "model.url",
                "the URL " + shown(url) + " does not end in a .safetensors file name; set model.checkpoint to the file to download to");
  }
  return folder / name;
}

void fetch_model(const model_download& d, const download_progress& progress) {
  namespace http = web::http;
  std::error_code ec;
  if (fs::is_regular_file(d.target, ec)) {
    if (hash_matches(d.target, d.sha256)) {
      return;
    }
    // A file there that is not the one asked for is replaced, never loaded.
    fs::remove(d.target, ec);
  }
  fs::create_directories(d.target.parent_path(), ec);
  const fs::path part = d.target.string() + ".part";
  std::uint64_t have = fs::is_regular_file(part, ec) ? fs::file_size(part, ec) : 0;

  http::status_code status = 0;
  std::uint64_t total = 0;
  try {
    http::client::http_client_config cfg;
    cfg.set_timeout(std::chrono::seconds(60));
    http::client::http_client client(web::uri(d.url), cfg);
    http::http_request request(http::methods::GET);
    if (have > 0) {
      request.headers().add("Range", "bytes=" + std::to_string(have) + "-");
    }
    http::http_response response = client.request(request).get();
    status = response.status_code();
    if (status == 416 && have > 0) {
      // The part is already whole (or longer than the file): start again from nothing.
      fs::remove(part, ec);
      return fetch_model(d, progress);
    }
    if (status != http::status_codes::OK && status != http::status_codes::PartialContent) {
      throw error(errc::bad_request, "model.url", "downloading " + shown(d.url) + " answered HTTP " + std::to_string(status));
    }
    if (status == http::status_codes::OK) {
      have = 0;  // the server ignored the range: the whole file comes again
    }
    total = response.headers().content_length() + have;
    auto out = concurrency::streams::fstream::open_ostream(part.string(), status == http::status_codes::OK
                                                                            ? std::ios::out | std::ios::trunc
                                                                            : std::ios::out | std::ios::app)
                 .get();
    auto body = response.body();
    std::uint64_t done = have;
    for (;;) {
      const size_t n = body.read(out.streambuf(), size_t{1} << 20).get();
      if (n == 0) {
        break;
      }
      done += n;
      if (progress) {
        progress(done, total);
      }
    }
    out.close().get();
    if (total > have && done != total) {
      throw error(errc::bad_request, "model.url",
                  "downloading " + shown(d.url) + " stopped at " + std::to_string(done) + " of " + std::to_string(total) +
                    " bytes; the next start continues it");
    }
  } catch (const error&) {
    throw;
  } catch (const std::exception& e) {
    throw error(errc::bad_request, "model.url", "downloading " + shown(d.url) + " failed: " + e.what() +
                                                  (have > 0 || fs::exists(part, ec) ? "; the next start continues it" : ""));
  }
  if (!hash_matches(part, d.sha256)) {
    const std::string got = sha256_file_hex(part.string());
    fs::remove(part, ec);
    throw error(errc::bad_checkpoint, d.target.string(),
                "the file downloaded from " + shown(d.url) + " has sha256 " + got + ", not the expected " + d.sha256);
  }
  fs::rename(part, d.target, ec);
  if (ec) {
    throw error(errc::internal, d.target.string(), "cannot put the downloaded file in place: " + ec.message());
  }
}

} // namespace sdw
