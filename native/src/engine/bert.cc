#include "engine/bert.h"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cmath>
#include <utility>

namespace crossrank::engine {
namespace {

using kernels::Epilogue;
using kernels::GemmArgs;
using kernels::PackedWeights;

// Hands out consecutive pieces of one buffer, each starting on a 64-byte
// line relative to the buffer.
class Carver {
 public:
  static constexpr std::size_t kAlign = 16;  // floats
  static std::size_t rounded(std::size_t floats) { return (floats + kAlign - 1) / kAlign * kAlign; }
  explicit Carver(float* base) : next_(base) {}
  float* take(std::size_t floats) {
    float* piece = next_;
    next_ += rounded(floats);
    return piece;
  }

 private:
  float* next_;
};

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
                                           Precision precision, Head head) {
  struct stat st {};
  if (::stat(model_dir.c_str(), &st) != 0) {
    throw ModelError(model_dir + ": model folder does not exist");
  }
  if (!S_ISDIR(st.st_mode)) throw ModelError(model_dir + ": not a folder");
  ModelConfig config = load_config(model_dir, head);
  BertWeights weights;
  {
    // The mapping is only needed while converting and packing.
    const SafetensorsFile file(join_path(model_dir, "model.safetensors"));
    weights = load_weights(config, file, table, precision, head);
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

void BertModel::require_head(const char* method) const {
  if (!weights_.has_head) {
    throw InputError(std::string(method) +
                     ": this model was loaded as an encoder alone, without its pooler and "
                     "classifier");
  }
}

std::vector<float> BertModel::run(const BatchInput& input) {
  require_head("run");
  validate(input);
  std::vector<float> logits(input.num_sequences * static_cast<std::size_t>(config_.num_labels));
  if (input.num_sequences == 0) return logits;
  const std::lock_guard<std::mutex> lock(run_mutex_);
  Target target;
  target.out = logits.data();
  forward(input, target);
  return logits;
}

std::vector<float> BertModel::run_pooled(const BatchInput& input) {
  require_head("run_pooled");
  validate(input);
  std::vector<float> pooled(input.num_sequences * static_cast<std::size_t>(config_.hidden_size));
  if (input.num_sequences == 0) return pooled;
  const std::lock_guard<std::mutex> lock(run_mutex_);
  Target target;
  target.kind = Target::Kind::kPooler;
  target.out = pooled.data();
  forward(input, target);
  return pooled;
}

std::vector<float> BertModel::run_hidden(const BatchInput& input, int layer, Pooling pooling) {
  if (layer < 0 || layer > config_.num_hidden_layers) {
    throw InputError("layer " + std::to_string(layer) + " is outside [0, " +
                     std::to_string(config_.num_hidden_layers) +
                     "] (0: the embeddings, num_hidden_layers " +
                     std::to_string(config_.num_hidden_layers) + ": the last layer)");
  }
  validate(input);
  std::vector<float> hidden(input.num_sequences * static_cast<std::size_t>(config_.hidden_size));
  if (input.num_sequences == 0) return hidden;
  const std::lock_guard<std::mutex> lock(run_mutex_);
  Target target;
  target.kind = Target::Kind::kHidden;
  target.out = hidden.data();
  target.layer = layer;
  target.pooling = pooling;
  forward(input, target);
  return hidden;
}

void BertModel::forward(const BatchInput& input, const Target& target) {
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

  // Activations, all overwritten before use.
  const std::size_t slots = static_cast<std::size_t>(pool_.size());
  const std::size_t scratch_floats = kernels::attention_scratch_floats(max_length, head_dim);
  const std::size_t sizes[] = {tokens * H,                                   // x
                               tokens * 3 * H,                               // qkv
                               tokens * H,                                   // context
                               tokens * static_cast<std::size_t>(inter),     // intermediate
                               slots * scratch_floats,                       // attention
                               sequences * H, sequences * H, sequences * H}; // [CLS] rows
  std::size_t total_floats = 0;
  for (std::size_t size : sizes) total_floats += Carver::rounded(size);
  Carver carve(workspace(total_floats));
  float* const x = carve.take(sizes[0]);
  float* const qkv = carve.take(sizes[1]);
  float* const context = carve.take(sizes[2]);
  float* const intermediate = carve.take(sizes[3]);
  float* const scratch = carve.take(sizes[4]);
  float* const cls = carve.take(sizes[5]);
  float* const cls_query = carve.take(sizes[6]);
  float* const pooled = carve.take(sizes[7]);

  auto layer_norm = [&](float* rows, std::size_t count, const std::vector<float>& gamma,
                        const std::vector<float>& beta) {
    parallel_rows(pool_, count, [&](std::size_t begin, std::size_t end) {
      float* block = rows + begin * H;
      table.add_layernorm(block, nullptr, gamma.data(), beta.data(), eps,
                          static_cast<int>(end - begin), hidden, hidden, block);
    });
  };
  auto gemm_args = [&](int m, const float* a, int lda, const PackedWeights& w,
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
    return args;
  };
  auto linear = [&](int m, const float* a, int lda, const PackedWeights& w,
                    const std::vector<float>& bias, Epilogue epilogue, float* c, int ldc) {
    kernels::gemm_parallel(table, gemm_args(m, a, lda, w, bias, epilogue, c, ldc), pool_);
  };

  // Embeddings, summed in Hugging Face's order: (word + token type) + position.
  const BertWeights& w = weights_;
  pool_.parallel_for(sequences, [&](std::size_t s) {
    for (std::size_t t = offsets[s]; t < offsets[s + 1]; ++t) {
      const float* word = w.word_embeddings.data() + input.ids[t] * H;
      const float* type = w.token_type_embeddings.data() + input.type_ids[t] * H;
      const float* position = w.position_embeddings.data() + (t - offsets[s]) * H;
      float* row = x + t * H;
      for (std::size_t j = 0; j < H; ++j) row[j] = (word[j] + type[j]) + position[j];
    }
  });
  layer_norm(x, tokens, w.embeddings_norm_gamma, w.embeddings_norm_beta);

  // Attention scratch: one slot per pool thread, each sized for the longest
  // sequence; (sequence, head) items are handed out dynamically.
  const std::size_t items = sequences * static_cast<std::size_t>(heads);
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));

  // Attention of every sequence: query_rows(s) gives the first query row of
  // sequence s and its row stride. With cls_only false every row is queried
  // and sequence s's output starts at its first token's row; with cls_only
  // true only the [CLS] row is, and its output is row s.
  using QueryRows = std::pair<const float*, int>;
  auto own_queries = [&](std::size_t s) {
    return QueryRows(qkv + offsets[s] * 3 * H, 3 * hidden);
  };
  auto attend = [&](auto query_rows, bool cls_only, float* out) {
    std::atomic<std::size_t> next{0};
    pool_.parallel_for(std::min(slots, items), [&](std::size_t slot) {
      kernels::AttentionArgs args;
      args.ld_qkv = 3 * hidden;
      args.ld_out = hidden;
      args.num_heads = heads;
      args.head_dim = head_dim;
      args.scale = scale;
      args.scratch = scratch + slot * scratch_floats;
      for (;;) {
        const std::size_t item = next.fetch_add(1, std::memory_order_relaxed);
        if (item >= items) break;
        const std::size_t s = item / static_cast<std::size_t>(heads);
        const int head = static_cast<int>(item % static_cast<std::size_t>(heads));
        args.qkv = qkv + offsets[s] * 3 * H;
        args.seq_len = static_cast<int>(input.lengths[s]);
        const auto [q, ld_q] = query_rows(s);
        args.q = q;
        args.ld_q = ld_q;
        args.num_queries = cls_only ? 1 : args.seq_len;
        args.out = out + (cls_only ? s : offsets[s]) * H;
        table.attention_heads(args, head, head + 1);
      }
    });
  };

  // After attention: output projection + residual, LayerNorm, feed-forward
  // + residual, LayerNorm, on `count` rows of `rows` (the layer's input, in
  // place) with their attention output in `context`.
  auto finish_layer = [&](const LayerWeights& layer, float* rows, std::size_t count) {
    const int m = static_cast<int>(count);
    linear(m, context, hidden, layer.attention_output, layer.attention_output_bias,
           Epilogue::kBiasResidual, rows, hidden);
    layer_norm(rows, count, layer.attention_norm_gamma, layer.attention_norm_beta);
    linear(m, rows, hidden, layer.intermediate, layer.intermediate_bias, Epilogue::kBiasGelu,
           intermediate, inter);
    linear(m, intermediate, inter, layer.output, layer.output_bias, Epilogue::kBiasResidual,
           rows, hidden);
    layer_norm(rows, count, layer.output_norm_gamma, layer.output_norm_beta);
  };

  // Only [CLS] rows leave the last layer for the pooler, and for [CLS]
  // pooling after the last layer; every other output needs every row.
  const bool hidden_out = target.kind == Target::Kind::kHidden;
  const auto num_layers = static_cast<int>(w.layers.size());
  const bool cls_last =
      !hidden_out || (target.layer == num_layers && target.pooling == Pooling::kCls);
  const int full_layers = cls_last ? num_layers - 1 : target.layer;

  const int m = static_cast<int>(tokens);
  for (int l = 0; l < full_layers; ++l) {
    const LayerWeights& layer = w.layers[static_cast<std::size_t>(l)];
    linear(m, x, hidden, layer.qkv, layer.qkv_bias, Epilogue::kBias, qkv, 3 * hidden);
    attend(own_queries, false, context);
    finish_layer(layer, x, tokens);
  }

  if (!cls_last) {
    // Hidden states of every row after full_layers layers, pooled per sequence.
    pool_.parallel_for(sequences, [&](std::size_t s) {
      const float* rows = x + offsets[s] * H;
      float* out = target.out + s * H;
      if (target.pooling == Pooling::kCls) {
        std::copy_n(rows, H, out);
        return;
      }
      // Summed in double: a long sequence's fp32 sum would drift from PyTorch's.
      const std::size_t count = offsets[s + 1] - offsets[s];
      std::vector<double> sum(H, 0.0);
      for (std::size_t t = 0; t < count; ++t) {
        for (std::size_t j = 0; j < H; ++j) sum[j] += rows[t * H + j];
      }
      for (std::size_t j = 0; j < H; ++j) {
        out[j] = static_cast<float>(sum[j] / static_cast<double>(count));
      }
    });
    return;
  }

  // The last layer: only each sequence's first ([CLS]) row is wanted, so
  // only that row is queried and carried through the attention output and
  // the feed-forward block; K and V still come from every token.
  // Each row goes through the same kernel code as in a full layer, so the
  // result is bit-identical to computing every row and keeping [CLS]: the
  // kernel tests check that GEMM column ranges, GEMM row blocks and
  // attention on some query rows equal the whole calls bit for bit. This
  // skips about 10/12 of the last layer's FLOPs.
  const LayerWeights& layer = w.layers[static_cast<std::size_t>(num_layers - 1)];
  const int n = static_cast<int>(sequences);
  for (std::size_t s = 0; s < sequences; ++s) {
    std::copy_n(x + offsets[s] * H, H, cls + s * H);
  }
  const int qkv_nr = layer.qkv.is_int8()   ? table.qgemm_nr
                     : layer.qkv.is_bf16() ? table.bgemm_nr
                                           : table.gemm_nr;
  if (hidden % qkv_nr == 0) {
    // K and V of every token, then Q of the [CLS] rows alone.
    const GemmArgs kv = gemm_args(m, x, hidden, layer.qkv, layer.qkv_bias,
                                  Epilogue::kBias, qkv, 3 * hidden);
    kernels::gemm_parallel_columns(table, kv, hidden, 3 * hidden, pool_);
    const GemmArgs q = gemm_args(n, cls, hidden, layer.qkv, layer.qkv_bias,
                                 Epilogue::kBias, cls_query, hidden);
    kernels::gemm_parallel_columns(table, q, 0, hidden, pool_);
    attend([&](std::size_t s) { return QueryRows(cls_query + s * H, hidden); }, true,
           context);
  } else {
    // Column blocks must start on a micro-tile: compute Q, K and V of every
    // token and query the [CLS] rows in place.
    linear(m, x, hidden, layer.qkv, layer.qkv_bias, Epilogue::kBias, qkv, 3 * hidden);
    attend(own_queries, true, context);
  }
  finish_layer(layer, cls, sequences);
  if (hidden_out) {
    std::copy_n(cls, sequences * H, target.out);
    return;
  }

  // Pooler (tanh on [CLS]), then the classifier.
  linear(n, cls, hidden, w.pooler, w.pooler_bias, Epilogue::kBias, pooled, hidden);
  table.tanh(pooled, sequences * H);
  if (target.kind == Target::Kind::kPooler) {
    std::copy_n(pooled, sequences * H, target.out);
    return;
  }
  linear(n, pooled, hidden, w.classifier, w.classifier_bias, Epilogue::kBias, target.out,
         config_.num_labels);
}

float* BertModel::workspace(std::size_t floats) {
  if (floats > workspace_floats_) {
    workspace_.reset();  // free the old one before taking the larger
    workspace_floats_ = 0;
    workspace_.reset(new float[floats]);
    workspace_floats_ = floats;
  }
  return workspace_.get();
}

}  // namespace crossrank::engine
