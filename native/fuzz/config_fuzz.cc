// libFuzzer target: the config.json reader (strict JSON parser and the field
// checks) on arbitrary text. A ModelError is the expected answer to a bad
// config; any other exception, a crash or a sanitizer report is a bug, and
// so is an accepted config that breaks an invariant the engine relies on.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "engine/config.h"
#include "engine/errors.h"

using namespace crossrank;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const engine::ModelConfig config = engine::parse_config(text, "config.json");
    const bool sane = config.model_type == "bert" && config.hidden_size >= 1 &&
                      config.num_attention_heads >= 1 &&
                      config.hidden_size % config.num_attention_heads == 0 &&
                      config.num_hidden_layers >= 1 && config.intermediate_size >= 1 &&
                      config.vocab_size >= 1 && config.type_vocab_size >= 1 &&
                      config.type_vocab_size <= 256 && config.max_position_embeddings >= 1 &&
                      config.num_labels >= 1 && config.layer_norm_eps > 0 &&
                      config.layer_norm_eps < 1;
    if (!sane) std::abort();
  } catch (const engine::ModelError&) {
    // the expected outcome for a malformed config
  }
  return 0;
}
