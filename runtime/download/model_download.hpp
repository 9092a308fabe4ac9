#pragma once
/// A checkpoint fetched from a URL at start, for images that bake no model in: downloaded once
/// into the models folder, resumed where an earlier try stopped, checked against the sha256 the
/// configuration expects, and only then put in place, so a wrong or partial file is never loaded.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

namespace sdw {

/// Where a download goes and what it must be.
struct model_download {
  std::string url;                   ///< http(s)://...
  std::filesystem::path target;      ///< the checkpoint file it becomes
  std::string sha256;                ///< lower-case hex the file must have; empty = not checked
};

/// Called as bytes arrive: done so far (resumed bytes included) and the total (0 when unknown).
using download_progress = std::function<void(std::uint64_t done, std::uint64_t total)>;

/// `<folder>/<last path segment of the URL, without query>`; a URL without a usable file name
/// (none, "..", or not ending in .safetensors) → sdw::error(bad_request, "model.url", ...).
std::filesystem::path download_target(const std::string& url, const std::filesystem::path& folder);

/// Makes `d.target` hold the file at `d.url`: nothing to do when it is there already (and has
/// `d.sha256`, when given: a file that does not is fetched again); else the bytes go to
/// `<target>.part`, continuing an earlier `.part` with an HTTP Range request when the server
/// allows, are hashed, and the file is renamed into place only when the hash matches. Errors say
/// what went wrong and name the URL or file: an unreachable host or an HTTP error status
/// (bad_request, "model.url"), a hash that differs (bad_checkpoint, target; the part is removed
/// so the next start fetches afresh).
void fetch_model(const model_download& d, const download_progress& progress = {});

} // namespace sdw
