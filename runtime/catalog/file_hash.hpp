#pragma once
/// Model file hashes as the A1111 WebUI computes them ("Model hash" and "VAE hash" in infotext,
/// /sd-models), and the cache that spares hashing a file twice.

#include <string>

namespace sdw {

/// Lower-case hex sha256 of the whole file, read in 1 MiB blocks. Throws error(not_found) when the
/// file cannot be opened and error(internal) on a read failure.
std::string file_sha256(const std::string& path);

/// file_sha256, remembered in `<path>.sha256` beside the file (with its size and mtime) so a
/// 2 GB checkpoint is hashed once, as A1111 keeps its hashes in cache.json.
std::string cached_file_sha256(const std::string& path);

/// The sha256 cached_file_sha256 remembered for the file as it is now, without hashing it;
/// empty when none is remembered (A1111 lists a checkpoint without its hash until it is loaded).
std::string known_file_sha256(const std::string& path);

/// The short hash shown as "Model hash": the first 10 hex characters of the full sha256.
std::string short_hash(const std::string& sha256_hex);

/// The legacy 8-character hash: sha256 of the 64 KiB at offset 1 MiB (fewer bytes, or none, when the
/// file is shorter), first 8 hex characters; only used as a lookup alias.
std::string legacy_model_hash(const std::string& path);

} // namespace sdw
