// Paths and small text files of a model folder.
#pragma once

#include <string>
#include <string_view>

namespace crossrank::engine {

// "dir/name" without doubling a trailing slash of dir.
std::string join_path(std::string_view dir, std::string_view name);

// Reads the whole file (at most 16 MiB: the folder's JSON files are a few kB);
// throws ModelError naming path on failure.
std::string read_file(const std::string& path);

// Throws ModelError unless path names an existing folder.
void require_folder(const std::string& path);

}  // namespace crossrank::engine
