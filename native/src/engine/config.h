// The config.json of a Hugging Face encoder folder (a ...ForSequenceClassification
// cross-encoder, or any checkpoint of the family when only the encoder is used),
// checked field by field against what the engine supports. Each family's own
// fields are read in one place (config.cc).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace crossrank::engine {

// What a model is loaded for, which decides the weights it must have.
enum class Head {
  kClassifier,  // a cross-encoder: encoder, pooler and classifier (BertForSequenceClassification)
  kNone,        // the encoder alone (a bare BertModel is enough); pooler and classifier unused
};

// The encoder families the engine runs. They share the post-norm BERT layer;
// a family decides its embeddings, its weight names and its head.
enum class Family {
  kBert,     // bert: absolute positions from 0, token types from the input
  kRoberta,  // roberta, xlm-roberta: positions from pad_token_id + 1, token type row 0
  kElectra,  // electra: BERT's embeddings at embedding_size, projected to hidden_size
  // modernbert: pre-norm layers with rotary positions, gated GELU, alternating
  // global and sliding-window attention, final norm, its own pooling and head
  kModernBert,
};

struct ModelConfig {
  std::string model_type;                  // "bert", "roberta", "xlm-roberta", "electra"
  Family family = Family::kBert;
  std::vector<std::string> architectures;  // as written; may be empty
  int hidden_size = 0;
  int num_hidden_layers = 0;
  int num_attention_heads = 0;
  int intermediate_size = 0;
  int vocab_size = 0;
  int type_vocab_size = 2;
  int max_position_embeddings = 512;
  int num_labels = 2;
  double layer_norm_eps = 1e-12;
  std::string hidden_act = "gelu";
  // RoBERTa numbers positions from pad_token_id + 1 (the rows below are
  // never used); BERT from 0.
  int position_offset = 0;
  // The width of the embedding tables; ELECTRA's may differ from
  // hidden_size, and a linear layer then projects the embeddings.
  int embedding_size = 0;
  // False when the family's tokenizer gives the model no token type ids
  // (RoBERTa, XLM-R): transformers then uses row 0 for every token.
  bool token_types_from_input = true;

  // ModernBERT only (see read_modernbert_fields in config.cc).
  double global_rope_theta = 160000.0;
  double local_rope_theta = 10000.0;
  int local_attention = 128;           // a local layer's window: keys within +-window/2
  int global_attn_every_n_layers = 3;  // layer l is global when l % n == 0
  bool norm_bias = false;              // the LayerNorms have a bias
  bool attention_bias = false;         // Wqkv and Wo have biases
  bool mlp_bias = false;               // Wi and Wo have biases
  bool classifier_bias = false;        // the head's dense layer has a bias
  bool mean_pooling = false;           // classifier_pooling "mean" (else "cls")
  // True for ModernBERT's sliding-window layers.
  bool local_layer(int layer) const {
    return family == Family::kModernBert && layer % global_attn_every_n_layers != 0;
  }

  int head_dim() const { return hidden_size / num_attention_heads; }
  // The longest sequence the position table holds.
  int max_length() const { return max_position_embeddings - position_offset; }
};

// Parses config.json text; `path` is used in error messages only. With
// Head::kClassifier, architectures (when given) must list the family's
// ...ForSequenceClassification; with Head::kNone any architecture does.
ModelConfig parse_config(std::string_view text, const std::string& path,
                         Head head = Head::kClassifier);

// Reads and parses <model_dir>/config.json.
ModelConfig load_config(const std::string& model_dir, Head head = Head::kClassifier);

}  // namespace crossrank::engine
