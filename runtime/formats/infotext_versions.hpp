#pragma once
/// The program versions infotexts carry ("Version: v1.9.4"), read and compared as A1111's
/// modules/infotext_versions.py does with packaging's PEP 440 versions.

#include <string>
#include <vector>

namespace sdw {

/// A PEP 440 version as packaging compares it (the local part does not matter here).
struct pep440_version {
  std::vector<long> release;
  int pre_kind = 3;   ///< 0 a, 1 b, 2 rc, 3 none
  long pre = 0;
  long post = -1;     ///< -1 none
  long dev = -1;      ///< -1 none
};
/// A version string as A1111's parse_version reads it ("v" prefix allowed, git describe's
/// "1.9.4-12-gabc" read as 1.9.4.post12); false when packaging would not take it as a version.
bool parse_infotext_version(const std::string& text, pep440_version& out);
/// a < b as packaging orders versions.
bool version_less(const pep440_version& a, const pep440_version& b);

} // namespace sdw
