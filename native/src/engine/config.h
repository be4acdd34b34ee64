// The config.json of a Hugging Face BERT folder (BertForSequenceClassification
// for a cross-encoder, or any BERT checkpoint when only the encoder is used),
// checked field by field against what the engine supports.
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

struct ModelConfig {
  std::string model_type;                  // "bert"
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

  int head_dim() const { return hidden_size / num_attention_heads; }
};

// Parses config.json text; `path` is used in error messages only. With
// Head::kClassifier, architectures (when given) must list
// BertForSequenceClassification; with Head::kNone any BERT architecture does.
ModelConfig parse_config(std::string_view text, const std::string& path,
                         Head head = Head::kClassifier);

// Reads and parses <model_dir>/config.json.
ModelConfig load_config(const std::string& model_dir, Head head = Head::kClassifier);

}  // namespace crossrank::engine
