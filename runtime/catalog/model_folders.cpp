#include "runtime/catalog/model_folders.hpp"

#include <algorithm>
#include <cctype>
#include <set>
#include <system_error>

namespace sdw {

namespace fs = std::filesystem;

bool path_inside(const fs::path& root, const fs::path& p) {
  auto q = p.begin();
  for (auto r = root.begin(); r != root.end(); ++r, ++q) {
    if (q == p.end() || *r != *q) {
      return false;
    }
  }
  return true;
}

bool ends_with_nocase(const std::string& name, const std::string& suffix) {
  if (name.size() < suffix.size()) {
    return false;
  }
  return std::equal(suffix.begin(), suffix.end(), name.end() - static_cast<std::ptrdiff_t>(suffix.size()),
                    [](char a, char b) {
                      return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
                    });
}

std::vector<found_file> files_inside(const fs::path& folder, const std::vector<std::string>& suffixes, bool recursive) {
  std::error_code ec;
  const fs::path root = fs::canonical(folder, ec);
  if (ec || !fs::is_directory(root, ec)) {
    return {};
  }
  std::vector<found_file> found;
  std::set<fs::path> seen{root};
  std::vector<std::pair<fs::path, fs::path>> pending{{root, fs::path()}};  // (real folder, listed name)
  while (!pending.empty()) {
    const auto [dir, listed] = pending.back();
    pending.pop_back();
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      std::error_code own;
      const fs::path real = fs::canonical(it->path(), own);
      if (own || !path_inside(root, real)) {
        continue;
      }
      const fs::path name = listed / it->path().filename();
      if (fs::is_directory(real, own)) {
        if (recursive && seen.insert(real).second) {
          pending.emplace_back(real, name);
        }
        continue;
      }
      const std::string file = it->path().filename().string();
      const bool wanted = std::any_of(suffixes.begin(), suffixes.end(),
                                      [&](const std::string& s) { return ends_with_nocase(file, s); });
      if (wanted && fs::is_regular_file(real, own)) {
        found.push_back({real, name.generic_string()});
      }
    }
    ec.clear();
  }
  std::sort(found.begin(), found.end(),
            [](const found_file& a, const found_file& b) { return a.relative < b.relative; });
  return found;
}

} // namespace sdw
