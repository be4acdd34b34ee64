// The two errors the engine throws. Every file of the engine and the addon
// catches or throws these, so they live apart from any one reader.
#pragma once

#include <stdexcept>

namespace crossrank::engine {

// Anything wrong with the model folder: missing or unreadable files,
// unsupported or inconsistent config, malformed weights. The message names
// the file and the field or tensor.
class ModelError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Input that does not fit the model (lengths, ids out of range...). The
// message names the field and the first bad index.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace crossrank::engine
