// libFuzzer target: the packed-batch entries of the engine (BertModel::run,
// and run_hidden at layers -1 to num_layers + 1 with either pooling) on
// test/fixtures/tiny, with arbitrary sequence counts and lengths (zero and
// past max_position_embeddings included), ids around and far beyond the
// vocabulary, type ids beyond the type vocabulary, and arrays whose lengths
// disagree. An InputError is the expected answer to bad input; any other
// exception, a crash, a sanitizer report or a non-finite output from an
// accepted batch is a bug. The arrays are allocated at their exact sizes so
// ASan sees any read past them.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "engine/bert.h"

using namespace crossrank;

namespace {

// Reads the fuzz input as a stream of bytes, then zeros once it runs out.
class Bytes {
 public:
  Bytes(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  std::uint8_t u8() { return at_ < size_ ? data_[at_++] : 0; }
  std::uint16_t u16() { return static_cast<std::uint16_t>(u8() | (u8() << 8)); }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t at_ = 0;
};

engine::BertModel* model = nullptr;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // One thread: a pool's hand-offs cost the fuzzer most of its speed on a
  // busy machine, and the splitting of work is covered by the C++ and ava
  // tests and the sanitizer suite.
  model = engine::BertModel::load(CROSSRANK_SOURCE_DIR "/test/fixtures/tiny", 1).release();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Bytes in(data, size);
  const engine::ModelConfig& config = model->config();
  const auto vocab = static_cast<std::uint32_t>(config.vocab_size);

  const std::uint8_t flags = in.u8();
  const std::size_t sequences = in.u8() % 5;
  std::vector<std::uint32_t> lengths(sequences);
  std::size_t tokens = 0;
  for (std::uint32_t& length : lengths) {
    // Mostly short (0 to 254 tokens) to keep runs fast; 255 escapes to the
    // edge of max_position_embeddings (512): 505 to 520 tokens.
    length = in.u8();
    if (length == 255) length = 505 + in.u8() % 16;
    tokens += length;
  }
  if ((flags & 1) && sequences > 0) lengths[0] += 1;  // sum of lengths != ids.length

  std::vector<std::uint32_t> ids(tokens);
  std::vector<std::uint8_t> type_ids(tokens - ((flags & 2) && tokens > 0 ? 1 : 0));
  for (std::size_t t = 0; t < tokens; ++t) {
    const std::uint16_t raw = in.u16();
    if (raw == 0xFFFF) {
      ids[t] = 0xFFFFFFFFu;
    } else if (raw & 0x8000) {
      ids[t] = vocab - 4 + (raw & 7);  // the last ids of the vocabulary and just past it
    } else {
      ids[t] = raw % vocab;
    }
  }
  for (std::uint8_t& type : type_ids) {
    const std::uint8_t raw = in.u8();
    type = raw < 240 ? raw % 2 : raw;  // mostly 0/1, sometimes far beyond type_vocab_size
  }

  const engine::BatchInput input{ids.data(),      ids.size(),     type_ids.data(),
                                 type_ids.size(), lengths.data(), lengths.size()};
  try {
    std::vector<float> out;
    std::size_t width = static_cast<std::size_t>(config.num_labels);
    if (flags & 4) {
      // Layers -1 .. num_hidden_layers + 1: one out of range on each side.
      const int layer = (flags >> 4) % (config.num_hidden_layers + 3) - 1;
      const auto pooling = (flags & 8) ? engine::Pooling::kMean : engine::Pooling::kCls;
      out = model->run_hidden(input, layer, pooling);
      width = static_cast<std::size_t>(config.hidden_size);
    } else {
      out = model->run(input);
    }
    if (out.size() != sequences * width) std::abort();
    for (const float value : out) {
      if (!std::isfinite(value)) std::abort();
    }
  } catch (const engine::InputError&) {
    // the expected outcome for a bad batch
  }
  return 0;
}
