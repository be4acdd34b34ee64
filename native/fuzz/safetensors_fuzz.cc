// libFuzzer target: the safetensors header and offset checks, then the weight
// loader, on arbitrary file contents. Each input is written to a file and
// mapped exactly as a model's model.safetensors is. A ModelError is the
// expected answer to a bad file; any other exception, a crash or a sanitizer
// report is a bug. Tensors accepted by the parser are read byte by byte, so a
// view that points outside the mapping faults here.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "engine/config.h"
#include "engine/errors.h"
#include "engine/safetensors.h"
#include "engine/weights.h"
#include "kernels/kernels.h"

using namespace crossrank;

namespace {

// The model the seed files in corpus/safetensors_fuzz describe: small enough
// that the fuzzer can reach the weight loader's shape and dtype checks.
engine::ModelConfig seed_model_config() {
  engine::ModelConfig config;
  config.model_type = "bert";
  config.hidden_size = 4;
  config.num_hidden_layers = 1;
  config.num_attention_heads = 2;
  config.intermediate_size = 8;
  config.vocab_size = 8;
  config.type_vocab_size = 2;
  config.max_position_embeddings = 8;
  config.num_labels = 1;
  return config;
}

const std::string& scratch_path() {
  static const std::string path = [] {
    const char* dir = std::getenv("TMPDIR");
    return std::string(dir != nullptr ? dir : "/tmp") + "/crossrank-safetensors-fuzz-" +
           std::to_string(::getpid()) + ".safetensors";
  }();
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string& path = scratch_path();
  static const engine::ModelConfig config = seed_model_config();
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, file) != size) std::abort();
  std::fclose(file);

  try {
    const engine::SafetensorsFile tensors(path);
    unsigned checksum = 0;
    for (const auto& [name, view] : tensors.tensors()) {
      if (view.nbytes != view.numel * engine::dtype_size(view.dtype)) std::abort();
      for (std::size_t i = 0; i < view.nbytes; ++i) checksum += view.data[i];
    }
    // Keeps the reads above from being optimised away.
    if (checksum == 0xFFFFFFFFu) std::fputs("", stderr);
    engine::load_weights(config, tensors, kernels::active_kernels());
  } catch (const engine::ModelError&) {
    // the expected outcome for a malformed file
  }
  // Each run removes its file: libFuzzer may end the process at any point.
  ::unlink(path.c_str());
  return 0;
}
