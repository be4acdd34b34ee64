#include "engine/bert.h"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cmath>

namespace crossrank::engine {
namespace {

using kernels::Epilogue;
using kernels::GemmArgs;
using kernels::PackedWeights;

// Activations are fully overwritten before use; skip zero-filling them.
std::unique_ptr<float[]> uninitialized_floats(std::size_t count) {
  return std::unique_ptr<float[]>(new float[std::max<std::size_t>(count, 1)]);
}

// Runs fn(begin, end) over [0, rows) split in chunks spread over the pool.
template <typename Fn>
void parallel_rows(ThreadPool& pool, std::size_t rows, Fn&& fn) {
  const std::size_t chunks = std::min<std::size_t>(rows, static_cast<std::size_t>(pool.size()) * 4);
  if (chunks <= 1) {
    if (rows > 0) fn(std::size_t{0}, rows);
    return;
  }
  pool.parallel_for(chunks, [&](std::size_t chunk) {
    fn(rows * chunk / chunks, rows * (chunk + 1) / chunks);
  });
}

}  // namespace

std::unique_ptr<BertModel> BertModel::load(const std::string& model_dir, int threads,
                                           const kernels::KernelTable& table,
                                           Precision precision) {
  struct stat st {};
  if (::stat(model_dir.c_str(), &st) != 0) {
    throw ModelError(model_dir + ": model folder does not exist");
  }
  if (!S_ISDIR(st.st_mode)) throw ModelError(model_dir + ": not a folder");
  ModelConfig config = load_config(model_dir);
  BertWeights weights;
  {
    // The mapping is only needed while converting and packing.
    const SafetensorsFile file(join_path(model_dir, "model.safetensors"));
    weights = load_weights(config, file, table, precision);
  }
  return std::unique_ptr<BertModel>(
      new BertModel(std::move(config), std::move(weights), threads, table));
}

BertModel::BertModel(ModelConfig config, BertWeights weights, int threads,
                     const kernels::KernelTable& table)
    : config_(std::move(config)),
      weights_(std::move(weights)),
      table_(table),
      pool_(std::max(threads, 1)) {}

void BertModel::validate(const BatchInput& input) const {
  if (input.num_type_ids != input.num_ids) {
    throw InputError("typeIds.length (" + std::to_string(input.num_type_ids) +
                     ") differs from ids.length (" + std::to_string(input.num_ids) + ")");
  }
  const auto max_length = static_cast<std::uint32_t>(config_.max_position_embeddings);
  std::uint64_t total = 0;  // cannot overflow: each length is at most 2^20
  for (std::size_t i = 0; i < input.num_sequences; ++i) {
    const std::uint32_t length = input.lengths[i];
    if (length < 1 || length > max_length) {
      throw InputError("lengths[" + std::to_string(i) + "] = " + std::to_string(length) +
                       " is outside [1, " + std::to_string(max_length) +
                       "] (max_position_embeddings " + std::to_string(max_length) + ")");
    }
    total += length;
  }
  if (total != input.num_ids) {
    throw InputError("ids.length (" + std::to_string(input.num_ids) +
                     ") differs from the sum of lengths (" + std::to_string(total) + ")");
  }
  // GEMM rows and strides are ints: keep the widest activation under 2^31
  // elements.
  const std::uint64_t widest = static_cast<std::uint64_t>(
      std::max(3 * config_.hidden_size, config_.intermediate_size));
  if (total * widest > static_cast<std::uint64_t>(INT_MAX)) {
    throw InputError("ids.length (" + std::to_string(total) +
                     ") is too many tokens for one call; split the batch");
  }
  const auto vocab = static_cast<std::uint32_t>(config_.vocab_size);
  for (std::size_t i = 0; i < input.num_ids; ++i) {
    if (input.ids[i] >= vocab) {
      throw InputError("ids[" + std::to_string(i) + "] = " + std::to_string(input.ids[i]) +
                       " is outside the vocabulary (vocab_size " + std::to_string(vocab) + ")");
    }
  }
  const auto type_vocab = static_cast<unsigned>(config_.type_vocab_size);
  for (std::size_t i = 0; i < input.num_type_ids; ++i) {
    if (input.type_ids[i] >= type_vocab) {
      throw InputError("typeIds[" + std::to_string(i) + "] = " +
                       std::to_string(input.type_ids[i]) + " is outside [0, " +
                       std::to_string(type_vocab) + ") (type_vocab_size " +
                       std::to_string(type_vocab) + ")");
    }
  }
}

std::vector<float> BertModel::run(const BatchInput& input) {
  validate(input);
  std::vector<float> logits(input.num_sequences * static_cast<std::size_t>(config_.num_labels));
  if (input.num_sequences == 0) return logits;
  const std::lock_guard<std::mutex> lock(run_mutex_);
  forward(input, logits.data());
  return logits;
}

std::vector<float> BertModel::run_pooled(const BatchInput& input) {
  validate(input);
  std::vector<float> pooled(input.num_sequences * static_cast<std::size_t>(config_.hidden_size));
  if (input.num_sequences == 0) return pooled;
  const std::lock_guard<std::mutex> lock(run_mutex_);
  forward(input, nullptr, pooled.data());
  return pooled;
}

void BertModel::forward(const BatchInput& input, float* logits, float* pooled_out) {
  const kernels::KernelTable& table = table_;
  const int hidden = config_.hidden_size;
  const int heads = config_.num_attention_heads;
  const int head_dim = config_.head_dim();
  const int inter = config_.intermediate_size;
  const auto eps = static_cast<float>(config_.layer_norm_eps);
  const std::size_t tokens = input.num_ids;
  const std::size_t sequences = input.num_sequences;
  const auto H = static_cast<std::size_t>(hidden);

  std::vector<std::size_t> offsets(sequences + 1, 0);
  int max_length = 0;
  for (std::size_t s = 0; s < sequences; ++s) {
    offsets[s + 1] = offsets[s] + input.lengths[s];
    max_length = std::max(max_length, static_cast<int>(input.lengths[s]));
  }

  // Per-call activations, so concurrent callers never share buffers.
  auto x = uninitialized_floats(tokens * H);
  auto qkv = uninitialized_floats(tokens * 3 * H);
  auto context = uninitialized_floats(tokens * H);
  auto intermediate = uninitialized_floats(tokens * static_cast<std::size_t>(inter));

  auto layer_norm = [&](float* rows, const std::vector<float>& gamma,
                        const std::vector<float>& beta) {
    parallel_rows(pool_, tokens, [&](std::size_t begin, std::size_t end) {
      float* block = rows + begin * H;
      table.add_layernorm(block, nullptr, gamma.data(), beta.data(), eps,
                          static_cast<int>(end - begin), hidden, hidden, block);
    });
  };
  auto linear = [&](int m, const float* a, int lda, const PackedWeights& w,
                    const std::vector<float>& bias, Epilogue epilogue, float* c, int ldc) {
    GemmArgs args;
    args.m = m;
    args.a = a;
    args.lda = lda;
    args.w = &w;
    args.bias = bias.data();
    args.c = c;
    args.ldc = ldc;
    args.epilogue = epilogue;
    if (epilogue == Epilogue::kBiasResidual) {
      args.residual = c;  // every residual add here is in place
      args.ldr = ldc;
    }
    kernels::gemm_parallel(table, args, pool_);
  };

  // Embeddings, summed in Hugging Face's order: (word + token type) + position.
  const BertWeights& w = weights_;
  pool_.parallel_for(sequences, [&](std::size_t s) {
    for (std::size_t t = offsets[s]; t < offsets[s + 1]; ++t) {
      const float* word = w.word_embeddings.data() + input.ids[t] * H;
      const float* type = w.token_type_embeddings.data() + input.type_ids[t] * H;
      const float* position = w.position_embeddings.data() + (t - offsets[s]) * H;
      float* row = x.get() + t * H;
      for (std::size_t j = 0; j < H; ++j) row[j] = (word[j] + type[j]) + position[j];
    }
  });
  layer_norm(x.get(), w.embeddings_norm_gamma, w.embeddings_norm_beta);

  // Attention scratch: one slot per pool thread, each sized for the longest
  // sequence; (sequence, head) items are handed out dynamically.
  const std::size_t slots = static_cast<std::size_t>(pool_.size());
  const std::size_t scratch_floats = kernels::attention_scratch_floats(max_length, head_dim);
  auto scratch = uninitialized_floats(slots * scratch_floats);
  const std::size_t items = sequences * static_cast<std::size_t>(heads);
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));

  const int m = static_cast<int>(tokens);
  for (const LayerWeights& layer : w.layers) {
    linear(m, x.get(), hidden, layer.qkv, layer.qkv_bias, Epilogue::kBias, qkv.get(), 3 * hidden);

    std::atomic<std::size_t> next{0};
    pool_.parallel_for(std::min(slots, items), [&](std::size_t slot) {
      kernels::AttentionArgs args;
      args.ld_qkv = 3 * hidden;
      args.ld_out = hidden;
      args.num_heads = heads;
      args.head_dim = head_dim;
      args.scale = scale;
      args.scratch = scratch.get() + slot * scratch_floats;
      for (;;) {
        const std::size_t item = next.fetch_add(1, std::memory_order_relaxed);
        if (item >= items) break;
        const std::size_t s = item / static_cast<std::size_t>(heads);
        const int head = static_cast<int>(item % static_cast<std::size_t>(heads));
        args.qkv = qkv.get() + offsets[s] * 3 * H;
        args.out = context.get() + offsets[s] * H;
        args.seq_len = static_cast<int>(input.lengths[s]);
        table.attention_heads(args, head, head + 1);
      }
    });

    linear(m, context.get(), hidden, layer.attention_output, layer.attention_output_bias,
           Epilogue::kBiasResidual, x.get(), hidden);
    layer_norm(x.get(), layer.attention_norm_gamma, layer.attention_norm_beta);
    linear(m, x.get(), hidden, layer.intermediate, layer.intermediate_bias, Epilogue::kBiasGelu,
           intermediate.get(), inter);
    linear(m, intermediate.get(), inter, layer.output, layer.output_bias, Epilogue::kBiasResidual,
           x.get(), hidden);
    layer_norm(x.get(), layer.output_norm_gamma, layer.output_norm_beta);
  }

  // Pooler on each sequence's first ([CLS]) row, then the classifier.
  auto cls = uninitialized_floats(sequences * H);
  for (std::size_t s = 0; s < sequences; ++s) {
    std::copy_n(x.get() + offsets[s] * H, H, cls.get() + s * H);
  }
  auto pooled = uninitialized_floats(sequences * H);
  const int n = static_cast<int>(sequences);
  linear(n, cls.get(), hidden, w.pooler, w.pooler_bias, Epilogue::kBias, pooled.get(), hidden);
  table.tanh(pooled.get(), sequences * H);
  if (pooled_out != nullptr) {
    std::copy_n(pooled.get(), sequences * H, pooled_out);
    return;
  }
  linear(n, pooled.get(), hidden, w.classifier, w.classifier_bias, Epilogue::kBias, logits,
         config_.num_labels);
}

}  // namespace crossrank::engine
