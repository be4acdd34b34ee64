#include "engine/bert.h"

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <cmath>
#include <iterator>
#include <utility>

#include "engine/errors.h"
#include "engine/files.h"
#include "engine/safetensors.h"

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
                                           Dtype dtype, Head head) {
  require_folder(model_dir);
  ModelConfig config = load_config(model_dir, head);
  BertWeights weights;
  {
    // The mapping is only needed while converting and packing.
    const std::unique_ptr<SafetensorsFile> file = SafetensorsFile::open_model_weights(model_dir);
    weights = load_weights(config, *file, table, dtype, head);
  }
  return std::unique_ptr<BertModel>(
      new BertModel(std::move(config), std::move(weights), threads, table));
}

BertModel::BertModel(ModelConfig config, BertWeights weights, int threads,
                     const kernels::KernelTable& table)
    : config_(std::move(config)),
      weights_(std::move(weights)),
      table_(table),
      attention_heads_(table.attention_heads),
      pool_(std::max(threads, 1)) {
  const char* bf16_attention = std::getenv("CROSSRANK_BF16_ATTENTION");
  const bool allowed = bf16_attention != nullptr && std::strcmp(bf16_attention, "1") == 0;
  if (weights_.bf16 && allowed && table.attention_bf16_heads != nullptr)
    attention_heads_ = table.attention_bf16_heads;
}

void BertModel::validate(const BatchInput& input) const {
  if (input.num_type_ids != input.num_ids) {
    throw InputError("typeIds.length (" + std::to_string(input.num_type_ids) +
                     ") differs from ids.length (" + std::to_string(input.num_ids) + ")");
  }
  const auto max_length = static_cast<std::uint32_t>(config_.max_length());
  std::uint64_t total = 0;  // cannot overflow: each length is at most 2^20
  for (std::size_t i = 0; i < input.num_sequences; ++i) {
    const std::uint32_t length = input.lengths[i];
    if (length < 1 || length > max_length) {
      throw InputError("lengths[" + std::to_string(i) + "] = " + std::to_string(length) +
                       " is outside [1, " + std::to_string(max_length) +
                       "] (max_position_embeddings " +
                       std::to_string(config_.max_position_embeddings) +
                       (config_.position_offset > 0
                            ? " less the " + std::to_string(config_.position_offset) +
                                  " positions before pad_token_id + 1"
                            : std::string()) +
                       ")");
    }
    total += length;
  }
  if (total != input.num_ids) {
    throw InputError("ids.length (" + std::to_string(input.num_ids) +
                     ") differs from the sum of lengths (" + std::to_string(total) + ")");
  }
  // GEMM rows and strides are ints: keep the widest activation under 2^31
  // elements.
  const int ffn_width = (config_.family == Family::kModernBert ? 2 : 1) * config_.intermediate_size;
  const std::uint64_t widest =
      static_cast<std::uint64_t>(std::max(3 * config_.hidden_size, ffn_width));
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
  // Families without token types from the tokenizer ignore the values.
  const auto type_vocab = static_cast<unsigned>(config_.type_vocab_size);
  for (std::size_t i = 0; config_.token_types_from_input && i < input.num_type_ids; ++i) {
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

struct BertModel::Pass {
  explicit Pass(const BatchInput& batch) : input(batch) {}

  const BatchInput& input;
  std::size_t tokens = 0;
  std::size_t sequences = 0;
  std::vector<std::size_t> offsets;  // sequence s holds tokens [offsets[s], offsets[s + 1])
  // Activations, all overwritten before use.
  float* x = nullptr;             // tokens x hidden: the running hidden states
  float* qkv = nullptr;           // tokens x 3 hidden: query, key, value
  float* context = nullptr;       // tokens x hidden: attention output before its projection
  float* intermediate = nullptr;  // tokens x intermediate: the feed-forward's inner layer
  float* scratch = nullptr;       // one attention slot per pool thread
  std::size_t scratch_floats = 0; // floats per slot, for the longest sequence
  float* first = nullptr;         // sequences x hidden: each sequence's first row
  float* first_queries_buffer = nullptr;  // sequences x hidden: their queries...
  float* first_queries = nullptr;  // ...when the last attention block computed them apart
  float* pooled = nullptr;        // sequences x hidden: the head's inner layer
  float* embedded = nullptr;      // tokens x embedding_size, when projected to hidden
  float* normed = nullptr;        // tokens x hidden: ModernBERT's pre-norm layer inputs
};

BertModel::Pass BertModel::begin_pass(const BatchInput& input) {
  const auto H = static_cast<std::size_t>(config_.hidden_size);
  Pass pass(input);
  pass.tokens = input.num_ids;
  pass.sequences = input.num_sequences;
  pass.offsets.assign(pass.sequences + 1, 0);
  int max_length = 0;
  for (std::size_t s = 0; s < pass.sequences; ++s) {
    pass.offsets[s + 1] = pass.offsets[s] + input.lengths[s];
    max_length = std::max(max_length, static_cast<int>(input.lengths[s]));
  }
  const std::size_t slots = static_cast<std::size_t>(pool_.size());
  pass.scratch_floats = kernels::attention_scratch_floats(max_length, config_.head_dim());
  const std::size_t tokens = pass.tokens;
  const std::size_t sequences = pass.sequences;
  const bool modernbert = config_.family == Family::kModernBert;
  // ModernBERT's Wi gives the gated feed-forward's input and gate side by side.
  const std::size_t ffn_width =
      (modernbert ? 2 : 1) * static_cast<std::size_t>(config_.intermediate_size);
  if (modernbert) grow_rotary_tables(max_length);
  const std::size_t sizes[] = {tokens * H,
                               tokens * 3 * H,
                               tokens * H,
                               tokens * ffn_width,
                               slots * pass.scratch_floats,
                               sequences * H,
                               sequences * H,
                               sequences * H,
                               weights_.has_embeddings_project
                                   ? tokens * static_cast<std::size_t>(config_.embedding_size)
                                   : 0,
                               modernbert ? tokens * H : 0};
  std::size_t total_floats = 0;
  for (std::size_t size : sizes) total_floats += Carver::rounded(size);
  Carver carve(workspace(total_floats));
  float** const pieces[] = {&pass.x,       &pass.qkv,   &pass.context,       &pass.intermediate,
                            &pass.scratch, &pass.first, &pass.first_queries_buffer, &pass.pooled,
                            &pass.embedded, &pass.normed};
  for (std::size_t i = 0; i < std::size(pieces); ++i) *pieces[i] = carve.take(sizes[i]);
  return pass;
}

void BertModel::layer_norm(float* rows, std::size_t count, const std::vector<float>& gamma,
                           const std::vector<float>& beta) {
  const int hidden = static_cast<int>(gamma.size());  // hidden_size, or embedding_size
  const auto eps = static_cast<float>(config_.layer_norm_eps);
  parallel_rows(pool_, count, [&](std::size_t begin, std::size_t end) {
    float* block = rows + begin * static_cast<std::size_t>(hidden);
    table_.add_layernorm(block, nullptr, gamma.data(), beta.data(), eps,
                         static_cast<int>(end - begin), hidden, hidden, block);
  });
}

namespace {

GemmArgs gemm_args(int m, const float* a, int lda, const PackedWeights& w,
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
}

}  // namespace

void BertModel::linear(int m, const float* a, int lda, const PackedWeights& w,
                       const std::vector<float>& bias, Epilogue epilogue, float* c, int ldc) {
  kernels::gemm_parallel(table_, gemm_args(m, a, lda, w, bias, epilogue, c, ldc), pool_);
}

void BertModel::embed(Pass& pass) {
  const BertWeights& w = weights_;
  const BatchInput& input = pass.input;
  if (config_.family == Family::kModernBert) {
    // The token's row alone, normed: positions are rotary, there are no types.
    const auto H = static_cast<std::size_t>(config_.hidden_size);
    parallel_rows(pool_, pass.tokens, [&](std::size_t begin, std::size_t end) {
      for (std::size_t t = begin; t < end; ++t) {
        std::copy_n(w.word_embeddings.data() + input.ids[t] * H, H, pass.x + t * H);
      }
    });
    layer_norm(pass.x, pass.tokens, w.embeddings_norm_gamma, w.embeddings_norm_beta);
    return;
  }
  // Summed in Hugging Face's order: (word + token type) + position.
  // ELECTRA's tables may be narrower than the encoder: summed and
  // normalised at their width, then projected.
  const auto E = static_cast<std::size_t>(config_.embedding_size);
  float* const rows = w.has_embeddings_project ? pass.embedded : pass.x;
  pool_.parallel_for(pass.sequences, [&](std::size_t s) {
    for (std::size_t t = pass.offsets[s]; t < pass.offsets[s + 1]; ++t) {
      const float* word = w.word_embeddings.data() + input.ids[t] * E;
      const std::size_t type_row = config_.token_types_from_input ? input.type_ids[t] : 0;
      const float* type = w.token_type_embeddings.data() + type_row * E;
      const std::size_t position_row = t - pass.offsets[s] + config_.position_offset;
      const float* position = w.position_embeddings.data() + position_row * E;
      float* row = rows + t * E;
      for (std::size_t j = 0; j < E; ++j) row[j] = (word[j] + type[j]) + position[j];
    }
  });
  layer_norm(rows, pass.tokens, w.embeddings_norm_gamma, w.embeddings_norm_beta);
  if (w.has_embeddings_project) {
    const int hidden = config_.hidden_size;
    linear(static_cast<int>(pass.tokens), rows, config_.embedding_size, w.embeddings_project,
           w.embeddings_project_bias, Epilogue::kBias, pass.x, hidden);
  }
}

void BertModel::attend(Pass& pass, Rows rows, int window) {
  // One scratch slot per pool thread, each sized for the longest sequence;
  // (sequence, head) items are handed out dynamically.
  const int hidden = config_.hidden_size;
  const int heads = config_.num_attention_heads;
  const auto H = static_cast<std::size_t>(hidden);
  const std::size_t items = pass.sequences * static_cast<std::size_t>(heads);
  const std::size_t slots = static_cast<std::size_t>(pool_.size());
  const bool first_only = rows == Rows::kFirst;
  // Queries of the first rows computed apart (see attention_block) are
  // packed one row per sequence; otherwise each row queries from qkv.
  const bool apart = first_only && pass.first_queries != nullptr;
  std::atomic<std::size_t> next{0};
  pool_.parallel_for(std::min(slots, items), [&](std::size_t slot) {
    kernels::AttentionArgs args;
    args.ld_qkv = 3 * hidden;
    args.ld_out = hidden;
    args.num_heads = heads;
    args.head_dim = config_.head_dim();
    args.scale = 1.0f / std::sqrt(static_cast<float>(args.head_dim));
    args.scratch = pass.scratch + slot * pass.scratch_floats;
    args.window = window;
    args.query_position = 0;  // all rows from the first, or the first row alone
    for (;;) {
      const std::size_t item = next.fetch_add(1, std::memory_order_relaxed);
      if (item >= items) break;
      const std::size_t s = item / static_cast<std::size_t>(heads);
      const int head = static_cast<int>(item % static_cast<std::size_t>(heads));
      args.qkv = pass.qkv + pass.offsets[s] * 3 * H;
      args.seq_len = static_cast<int>(pass.input.lengths[s]);
      args.q = apart ? pass.first_queries + s * H : args.qkv;
      args.ld_q = apart ? hidden : 3 * hidden;
      args.num_queries = first_only ? 1 : args.seq_len;
      args.out = pass.context + (first_only ? s : pass.offsets[s]) * H;
      attention_heads_(args, head, head + 1);
    }
  });
}

void BertModel::attention_block(const LayerWeights& layer, Pass& pass, Rows rows) {
  const int hidden = config_.hidden_size;
  const int m = static_cast<int>(pass.tokens);
  float* out = pass.x;
  std::size_t count = pass.tokens;
  pass.first_queries = nullptr;
  if (rows == Rows::kAll) {
    linear(m, pass.x, hidden, layer.qkv, layer.qkv_bias, Epilogue::kBias, pass.qkv, 3 * hidden);
  } else {
    // Only each sequence's first row is queried and carried on; K and V
    // still come from every token. Each row goes through the same kernel
    // code as in a full layer, so the result is bit-identical to computing
    // every row and keeping the first: the kernel tests check that GEMM
    // column ranges, GEMM row blocks and attention on some query rows equal
    // the whole calls bit for bit. This skips about 10/12 of a layer's FLOPs.
    const auto H = static_cast<std::size_t>(hidden);
    for (std::size_t s = 0; s < pass.sequences; ++s) {
      std::copy_n(pass.x + pass.offsets[s] * H, H, pass.first + s * H);
    }
    out = pass.first;
    count = pass.sequences;
    const int qkv_nr = layer.qkv.is_int8()   ? table_.qgemm_nr
                       : layer.qkv.is_bf16() ? table_.bgemm_nr
                                             : table_.gemm_nr;
    if (hidden % qkv_nr == 0) {
      // K and V of every token, then Q of the first rows alone.
      const GemmArgs kv = gemm_args(m, pass.x, hidden, layer.qkv, layer.qkv_bias,
                                    Epilogue::kBias, pass.qkv, 3 * hidden);
      kernels::gemm_parallel_columns(table_, kv, hidden, 3 * hidden, pool_);
      const GemmArgs q = gemm_args(static_cast<int>(count), pass.first, hidden, layer.qkv,
                                   layer.qkv_bias, Epilogue::kBias, pass.first_queries_buffer,
                                   hidden);
      kernels::gemm_parallel_columns(table_, q, 0, hidden, pool_);
      pass.first_queries = pass.first_queries_buffer;
    } else {
      // Column blocks must start on a micro-tile: compute Q, K and V of
      // every token and query the first rows in place.
      linear(m, pass.x, hidden, layer.qkv, layer.qkv_bias, Epilogue::kBias, pass.qkv,
             3 * hidden);
    }
  }
  attend(pass, rows);
  linear(static_cast<int>(count), pass.context, hidden, layer.attention_output,
         layer.attention_output_bias, Epilogue::kBiasResidual, out, hidden);
  layer_norm(out, count, layer.attention_norm_gamma, layer.attention_norm_beta);
}

void BertModel::feed_forward_block(const LayerWeights& layer, Pass& pass, float* rows,
                                   std::size_t count) {
  const int hidden = config_.hidden_size;
  const int inter = config_.intermediate_size;
  const int m = static_cast<int>(count);
  linear(m, rows, hidden, layer.intermediate, layer.intermediate_bias, Epilogue::kBiasGelu,
         pass.intermediate, inter);
  linear(m, pass.intermediate, inter, layer.output, layer.output_bias, Epilogue::kBiasResidual,
         rows, hidden);
  layer_norm(rows, count, layer.output_norm_gamma, layer.output_norm_beta);
}

void BertModel::pool(const Pass& pass, Pooling pooling, float* out) {
  const auto H = static_cast<std::size_t>(config_.hidden_size);
  pool_.parallel_for(pass.sequences, [&](std::size_t s) {
    const float* rows = pass.x + pass.offsets[s] * H;
    float* pooled = out + s * H;
    if (pooling == Pooling::kCls) {
      std::copy_n(rows, H, pooled);
      return;
    }
    // Summed in double: a long sequence's fp32 sum would drift from PyTorch's.
    const std::size_t count = pass.offsets[s + 1] - pass.offsets[s];
    std::vector<double> sum(H, 0.0);
    for (std::size_t t = 0; t < count; ++t) {
      for (std::size_t j = 0; j < H; ++j) sum[j] += rows[t * H + j];
    }
    for (std::size_t j = 0; j < H; ++j) {
      pooled[j] = static_cast<float>(sum[j] / static_cast<double>(count));
    }
  });
}

void BertModel::head(Pass& pass, const Target& target) {
  // A dense layer and tanh (ELECTRA: GELU) on each first row, then the
  // output layer.
  const int hidden = config_.hidden_size;
  const int n = static_cast<int>(pass.sequences);
  const std::size_t pooled_floats = pass.sequences * static_cast<std::size_t>(hidden);
  linear(n, pass.first, hidden, weights_.head_dense, weights_.head_dense_bias,
         weights_.head_gelu ? Epilogue::kBiasGelu : Epilogue::kBias, pass.pooled, hidden);
  if (!weights_.head_gelu) table_.tanh(pass.pooled, pooled_floats);
  if (target.kind == Target::Kind::kPooler) {
    std::copy_n(pass.pooled, pooled_floats, target.out);
    return;
  }
  linear(n, pass.pooled, hidden, weights_.head_output, weights_.head_output_bias, Epilogue::kBias,
         target.out, config_.num_labels);
}

void BertModel::forward(const BatchInput& input, const Target& target) {
  Pass pass = begin_pass(input);
  embed(pass);
  if (config_.family == Family::kModernBert) {
    forward_modernbert(pass, target);
    return;
  }

  // Only first ([CLS]) rows leave the last layer for the head, and for
  // [CLS] pooling after the last layer; every other output needs every row.
  const bool hidden_out = target.kind == Target::Kind::kHidden;
  const auto num_layers = static_cast<int>(weights_.layers.size());
  const bool first_rows_last =
      !hidden_out || (target.layer == num_layers && target.pooling == Pooling::kCls);
  const int full_layers = first_rows_last ? num_layers - 1 : target.layer;

  for (int l = 0; l < full_layers; ++l) {
    const LayerWeights& layer = weights_.layers[static_cast<std::size_t>(l)];
    attention_block(layer, pass, Rows::kAll);
    feed_forward_block(layer, pass, pass.x, pass.tokens);
  }
  if (!first_rows_last) {
    pool(pass, target.pooling, target.out);
    return;
  }
  const LayerWeights& last = weights_.layers[static_cast<std::size_t>(num_layers - 1)];
  attention_block(last, pass, Rows::kFirst);
  feed_forward_block(last, pass, pass.first, pass.sequences);
  if (hidden_out) {
    std::copy_n(pass.first, pass.sequences * static_cast<std::size_t>(config_.hidden_size),
                target.out);
    return;
  }
  head(pass, target);
}

// --- ModernBERT ------------------------------------------------------------
// transformers' ModernBertForSequenceClassification, eager attention:
//   x = norm(tok_embeddings[id])
//   per layer l: x += Wo(attention(rotate(Wqkv(attn_norm(x)))))  (attn_norm: identity in layer 0)
//                x += Wo(gelu(input) * gate), [input | gate] = Wi(mlp_norm(x))
//   x = final_norm(x); pooled = x's first row, or the mean of its rows
//   logits = classifier(norm(gelu(dense(pooled))))
// Local layers (l % global_attn_every_n_layers != 0) attend within
// +-local_attention / 2 and rotate with local_rope_theta.

void BertModel::grow_rotary_tables(int positions) {
  if (positions <= rotary_positions_) return;
  const int dim = config_.head_dim();
  const int half = dim / 2;
  const double thetas[2] = {config_.global_rope_theta, config_.local_rope_theta};
  for (int which = 0; which < 2; ++which) {
    // As transformers computes them in fp32: inv_freq = 1 / theta^(2i / dim),
    // angle = inv_freq * position, then cos and sin of the fp32 angle.
    std::vector<float> inv_freq(static_cast<std::size_t>(half));
    for (int i = 0; i < half; ++i) {
      const float exponent = static_cast<float>(2 * i) / static_cast<float>(dim);
      const auto power = static_cast<float>(std::pow(thetas[which], static_cast<double>(exponent)));
      inv_freq[static_cast<std::size_t>(i)] = 1.0f / power;
    }
    std::vector<float>& cos_table = rotary_cos_[which];
    std::vector<float>& sin_table = rotary_sin_[which];
    cos_table.resize(static_cast<std::size_t>(positions) * half);
    sin_table.resize(static_cast<std::size_t>(positions) * half);
    for (int p = rotary_positions_; p < positions; ++p) {
      for (int i = 0; i < half; ++i) {
        const float angle = inv_freq[static_cast<std::size_t>(i)] * static_cast<float>(p);
        const std::size_t at = static_cast<std::size_t>(p) * half + i;
        cos_table[at] = static_cast<float>(std::cos(static_cast<double>(angle)));
        sin_table[at] = static_cast<float>(std::sin(static_cast<double>(angle)));
      }
    }
  }
  rotary_positions_ = positions;
}

void BertModel::rotate(int l, Pass& pass, Rows rows) {
  const int heads = config_.num_attention_heads;
  const int dim = config_.head_dim();
  const int half = dim / 2;
  const auto H = static_cast<std::size_t>(config_.hidden_size);
  const int which = config_.local_layer(l) ? 1 : 0;
  const float* cos_table = rotary_cos_[which].data();
  const float* sin_table = rotary_sin_[which].data();
  // qkv rows are [query | key | value]; the queries of Rows::kFirst are
  // position 0's, whose rotation is the identity.
  const std::size_t first_part = rows == Rows::kAll ? 0 : 1;
  pool_.parallel_for(pass.sequences, [&](std::size_t s) {
    for (std::size_t t = pass.offsets[s]; t < pass.offsets[s + 1]; ++t) {
      const std::size_t position = t - pass.offsets[s];
      const float* c = cos_table + position * half;
      const float* sn = sin_table + position * half;
      for (std::size_t part = first_part; part < 2; ++part) {
        float* row = pass.qkv + t * 3 * H + part * H;
        for (int h = 0; h < heads; ++h) {
          float* x = row + static_cast<std::size_t>(h) * dim;
          // x * cos + rotate_half(x) * sin, rotate_half(x) = [-x2 | x1].
          for (int i = 0; i < half; ++i) {
            const float x1 = x[i];
            const float x2 = x[i + half];
            const float first = x1 * c[i];
            const float second = -x2 * sn[i];
            const float third = x2 * c[i];
            const float fourth = x1 * sn[i];
            x[i] = first + second;
            x[i + half] = third + fourth;
          }
        }
      }
    }
  });
}

void BertModel::layer_norm_into(const float* rows, std::size_t count,
                                const std::vector<float>& gamma, const std::vector<float>& beta,
                                float* out) {
  const int hidden = config_.hidden_size;
  const auto eps = static_cast<float>(config_.layer_norm_eps);
  parallel_rows(pool_, count, [&](std::size_t begin, std::size_t end) {
    const std::size_t at = begin * static_cast<std::size_t>(hidden);
    table_.add_layernorm(rows + at, nullptr, gamma.data(), beta.data(), eps,
                         static_cast<int>(end - begin), hidden, hidden, out + at);
  });
}

void BertModel::modernbert_layer(int l, Pass& pass, Rows rows) {
  const LayerWeights& layer = weights_.layers[static_cast<std::size_t>(l)];
  const int hidden = config_.hidden_size;
  const int inter = config_.intermediate_size;
  const auto H = static_cast<std::size_t>(hidden);
  const int m = static_cast<int>(pass.tokens);
  // Attention: every token's keys and values are needed even when only the
  // first rows go on (Rows::kFirst, the last layer before [CLS] pooling).
  const float* attn_in = pass.x;
  if (l > 0) {
    layer_norm_into(pass.x, pass.tokens, layer.attention_norm_gamma, layer.attention_norm_beta,
                    pass.normed);
    attn_in = pass.normed;
  }
  pass.first_queries = nullptr;
  linear(m, attn_in, hidden, layer.qkv, layer.qkv_bias, Epilogue::kBias, pass.qkv, 3 * hidden);
  rotate(l, pass, rows);
  attend(pass, rows, config_.local_layer(l) ? config_.local_attention : 0);
  float* out = pass.x;
  std::size_t count = pass.tokens;
  if (rows == Rows::kFirst) {
    for (std::size_t s = 0; s < pass.sequences; ++s) {
      std::copy_n(pass.x + pass.offsets[s] * H, H, pass.first + s * H);
    }
    out = pass.first;
    count = pass.sequences;
  }
  const int n = static_cast<int>(count);
  linear(n, pass.context, hidden, layer.attention_output, layer.attention_output_bias,
         Epilogue::kBiasResidual, out, hidden);
  // Gated feed-forward: [input | gate] = Wi(mlp_norm(x)), x += Wo(gelu(input) * gate).
  layer_norm_into(out, count, layer.output_norm_gamma, layer.output_norm_beta, pass.normed);
  const int width = 2 * inter;
  linear(n, pass.normed, hidden, layer.intermediate, layer.intermediate_bias, Epilogue::kBias,
         pass.intermediate, width);
  parallel_rows(pool_, count, [&](std::size_t begin, std::size_t end) {
    for (std::size_t r = begin; r < end; ++r) {
      float* input = pass.intermediate + r * static_cast<std::size_t>(width);
      const float* gate = input + inter;
      table_.gelu_erf(input, static_cast<std::size_t>(inter));
      for (int j = 0; j < inter; ++j) input[j] *= gate[j];
    }
  });
  linear(n, pass.intermediate, width, layer.output, layer.output_bias, Epilogue::kBiasResidual,
         out, hidden);
}

void BertModel::modernbert_head(Pass& pass, const Target& target) {
  // pass.first holds each sequence's pooled row.
  const int hidden = config_.hidden_size;
  const int n = static_cast<int>(pass.sequences);
  const std::size_t pooled_floats = pass.sequences * static_cast<std::size_t>(hidden);
  linear(n, pass.first, hidden, weights_.head_dense, weights_.head_dense_bias,
         Epilogue::kBiasGelu, pass.pooled, hidden);
  layer_norm(pass.pooled, pass.sequences, weights_.head_norm_gamma, weights_.head_norm_beta);
  if (target.kind == Target::Kind::kPooler) {
    std::copy_n(pass.pooled, pooled_floats, target.out);
    return;
  }
  linear(n, pass.pooled, hidden, weights_.head_output, weights_.head_output_bias, Epilogue::kBias,
         target.out, config_.num_labels);
}

void BertModel::forward_modernbert(Pass& pass, const Target& target) {
  const bool hidden_out = target.kind == Target::Kind::kHidden;
  const auto num_layers = static_cast<int>(weights_.layers.size());
  // hidden_states[l] for l < num_layers; after the last layer, final_norm's
  // output (transformers' last_hidden_state, what pooling reads).
  const Pooling pooling = hidden_out ? target.pooling
                          : config_.mean_pooling ? Pooling::kMean
                                                 : Pooling::kCls;
  const int layers = hidden_out ? target.layer : num_layers;
  // Only the first rows leave the last layer when it is pooled by [CLS].
  const bool first_rows_last = layers == num_layers && pooling == Pooling::kCls;
  const int full_layers = first_rows_last ? num_layers - 1 : layers;
  for (int l = 0; l < full_layers; ++l) modernbert_layer(l, pass, Rows::kAll);
  float* pooled = hidden_out ? target.out : pass.first;
  if (first_rows_last) {
    modernbert_layer(num_layers - 1, pass, Rows::kFirst);
    layer_norm(pass.first, pass.sequences, weights_.final_norm_gamma, weights_.final_norm_beta);
    if (hidden_out) {
      std::copy_n(pass.first, pass.sequences * static_cast<std::size_t>(config_.hidden_size),
                  pooled);
    }
  } else {
    if (layers == num_layers) {
      layer_norm(pass.x, pass.tokens, weights_.final_norm_gamma, weights_.final_norm_beta);
    }
    pool(pass, pooling, pooled);
  }
  if (!hidden_out) modernbert_head(pass, target);
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
