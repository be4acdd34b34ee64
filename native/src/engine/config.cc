#include "engine/config.h"

#include <cmath>
#include <sstream>

#include "engine/errors.h"
#include "engine/files.h"
#include "engine/json.h"

namespace crossrank::engine {
namespace {


// Each supported model_type, its family and the architectures transformers
// writes for its classifier and for its bare encoder.
struct FamilyNames {
  const char* model_type;
  Family family;
  const char* classifier;
  const char* bare;
};
constexpr FamilyNames kFamilies[] = {
    {"bert", Family::kBert, "BertForSequenceClassification", "BertModel"},
    {"roberta", Family::kRoberta, "RobertaForSequenceClassification", "RobertaModel"},
    {"xlm-roberta", Family::kRoberta, "XLMRobertaForSequenceClassification", "XLMRobertaModel"},
    {"electra", Family::kElectra, "ElectraForSequenceClassification", "ElectraModel"},
    {"modernbert", Family::kModernBert, "ModernBertForSequenceClassification", "ModernBertModel"},
};
constexpr const char* kSupported =
    "bert (BertForSequenceClassification), roberta (RobertaForSequenceClassification), "
    "xlm-roberta (XLMRobertaForSequenceClassification), electra (ElectraForSequenceClassification), "
    "modernbert (ModernBertForSequenceClassification)";

class ConfigReader {
 public:
  ConfigReader(const json::Value& root, const std::string& path) : root_(root), path_(path) {}

  [[noreturn]] void fail(std::string_view field, const std::string& what) const {
    throw ModelError(path_ + ": " + std::string(field) + ": " + what);
  }

  const json::Value* get(std::string_view field) const {
    const json::Value* value = root_.find(field);
    return value != nullptr && !value->is_null() ? value : nullptr;
  }

  std::string string_field(std::string_view field, const char* default_value) const {
    const json::Value* value = get(field);
    if (value == nullptr) {
      if (default_value == nullptr) fail(field, "missing; supported: " + std::string(kSupported));
      return default_value;
    }
    if (!value->is_string()) fail(field, "expected a string, found " + describe(*value));
    return value->as_string();
  }

  // A whole number in [min, max]; a missing field takes default_value, or
  // is an error when there is none (default_value < 0).
  int int_field(std::string_view field, int min, int max, int default_value = -1) const {
    const json::Value* value = get(field);
    if (value == nullptr) {
      if (default_value < 0) fail(field, "missing");
      return default_value;
    }
    if (!value->is_number()) fail(field, "expected an integer, found " + describe(*value));
    const double number = value->as_double();
    if (number != std::floor(number)) fail(field, "expected an integer, found " + describe(*value));
    if (number < min || number > max) {
      fail(field, describe(*value) + " is outside the supported range [" + std::to_string(min) +
                      ", " + std::to_string(max) + "]");
    }
    return static_cast<int>(number);
  }

  bool bool_field(std::string_view field, bool default_value) const {
    const json::Value* value = get(field);
    if (value == nullptr) return default_value;
    if (!value->is_bool()) fail(field, "expected true or false, found " + describe(*value));
    return value->as_bool();
  }

  // A number in (min, max); a missing field takes default_value.
  double number_field(std::string_view field, double min, double max, double default_value) const {
    const json::Value* value = get(field);
    if (value == nullptr) return default_value;
    if (!value->is_number() || !(value->as_double() > min) || !(value->as_double() < max)) {
      std::ostringstream range;
      range << "expected a number in (" << min << ", " << max << "), found " << describe(*value);
      fail(field, range.str());
    }
    return value->as_double();
  }

  static std::string describe(const json::Value& value) {
    if (value.is_string()) return "\"" + value.as_string() + "\"";
    if (value.is_number()) {
      std::ostringstream out;
      out.precision(17);
      out << value.as_double();
      return out.str();
    }
    if (value.is_bool()) return value.as_bool() ? "true" : "false";
    return json::Value::type_name(value.type());
  }

 private:
  const json::Value& root_;
  const std::string& path_;
};

// RoBERTa and XLM-R: positions numbered from pad_token_id + 1, and no token
// types from the tokenizer.
void read_roberta_fields(const ConfigReader& reader, ModelConfig& config) {
  const int pad = reader.int_field("pad_token_id", 0, 1 << 24, 1);
  if (pad + 1 >= config.max_position_embeddings) {
    reader.fail("pad_token_id", std::to_string(pad) + " leaves no position below "
                                "max_position_embeddings " +
                                    std::to_string(config.max_position_embeddings) +
                                    " (positions start at pad_token_id + 1)");
  }
  config.position_offset = pad + 1;
  config.token_types_from_input = false;
}

// ELECTRA: embedding tables embedding_size wide (transformers' default 128).
void read_electra_fields(const ConfigReader& reader, ModelConfig& config) {
  config.embedding_size = reader.int_field("embedding_size", 1, 1 << 16, 128);
}

// ModernBERT: its own names for the norms' epsilon and the activations,
// rotary positions with one theta for global and one for local layers, the
// local layers' window, which linears have biases, and the pooling.
void read_modernbert_fields(const ConfigReader& reader, ModelConfig& config) {
  config.token_types_from_input = false;
  config.position_offset = 0;
  config.layer_norm_eps = reader.number_field("norm_eps", 0.0, 1.0, 1e-5);
  for (const char* field : {"hidden_activation", "classifier_activation"}) {
    const std::string act = reader.string_field(field, "gelu");
    if (act != "gelu") {
      reader.fail(field, "\"" + act + "\" is not supported; supported: \"gelu\" (exact erf GELU)");
    }
  }
  const std::string pooling = reader.string_field("classifier_pooling", "cls");
  if (pooling != "cls" && pooling != "mean") {
    reader.fail("classifier_pooling",
                "\"" + pooling + "\" is not supported; supported: \"cls\", \"mean\"");
  }
  config.mean_pooling = pooling == "mean";
  if (reader.get("rope_scaling") != nullptr) {
    reader.fail("rope_scaling", "is not supported (only unscaled rotary embeddings); remove it or "
                                "set it to null");
  }
  if (config.head_dim() % 2 != 0) {
    reader.fail("num_attention_heads",
                std::to_string(config.num_attention_heads) + " gives an odd head size (" +
                    std::to_string(config.head_dim()) + "); rotary embeddings need an even one");
  }
  config.global_rope_theta = reader.number_field("global_rope_theta", 0.0, 1e12, 160000.0);
  config.local_rope_theta =
      reader.number_field("local_rope_theta", 0.0, 1e12, config.global_rope_theta);
  config.local_attention = reader.int_field("local_attention", 2, 1 << 20, 128);
  config.global_attn_every_n_layers = reader.int_field("global_attn_every_n_layers", 1, 1024, 3);
  config.norm_bias = reader.bool_field("norm_bias", false);
  config.attention_bias = reader.bool_field("attention_bias", false);
  config.mlp_bias = reader.bool_field("mlp_bias", false);
  config.classifier_bias = reader.bool_field("classifier_bias", false);
}

}  // namespace

ModelConfig parse_config(std::string_view text, const std::string& path, Head head) {
  json::Value root;
  try {
    root = json::parse(text);
  } catch (const json::ParseError& error) {
    throw ModelError(path + ": " + error.what());
  }
  if (!root.is_object()) {
    throw ModelError(path + ": expected a JSON object, found " +
                     json::Value::type_name(root.type()));
  }
  ConfigReader reader(root, path);
  ModelConfig config;

  config.model_type = reader.string_field("model_type", nullptr);
  const FamilyNames* names = nullptr;
  for (const FamilyNames& entry : kFamilies) {
    if (config.model_type == entry.model_type) names = &entry;
  }
  if (names == nullptr) {
    reader.fail("model_type", "\"" + config.model_type + "\" is not supported; supported: " +
                                  kSupported);
  }
  config.family = names->family;

  if (const json::Value* archs = reader.get("architectures")) {
    if (!archs->is_array()) {
      reader.fail("architectures",
                  "expected an array of strings, found " + ConfigReader::describe(*archs));
    }
    for (const json::Value& arch : archs->as_array()) {
      if (!arch.is_string()) {
        reader.fail("architectures",
                    "expected an array of strings, found " + ConfigReader::describe(arch));
      }
      config.architectures.push_back(arch.as_string());
    }
    bool found = false;
    bool bare = false;
    std::string listed;
    for (const std::string& arch : config.architectures) {
      found = found || arch == names->classifier;
      bare = bare || arch == names->bare;
      listed += (listed.empty() ? "" : ", ") + arch;
    }
    if (!found && head == Head::kClassifier) {
      reader.fail("architectures",
                  (listed.empty() ? std::string("empty") : "[" + listed + "]") +
                      " is not a sequence-classification head; supported: " + kSupported +
                      (bare ? std::string(" (a bare ") + names->bare +
                                  " encoder has no classifier: load it as a sentence encoder, "
                                  "SentenceEncoder.load)"
                            : std::string()));
    }
  }

  config.hidden_size = reader.int_field("hidden_size", 1, 1 << 16);
  config.num_hidden_layers = reader.int_field("num_hidden_layers", 1, 1024);
  config.num_attention_heads = reader.int_field("num_attention_heads", 1, 1 << 12);
  if (config.hidden_size % config.num_attention_heads != 0) {
    reader.fail("num_attention_heads",
                std::to_string(config.num_attention_heads) + " does not divide hidden_size " +
                    std::to_string(config.hidden_size));
  }
  config.intermediate_size = reader.int_field("intermediate_size", 1, 1 << 18);
  config.vocab_size = reader.int_field("vocab_size", 1, 1 << 24);
  config.type_vocab_size = reader.int_field("type_vocab_size", 1, 256, 2);
  config.max_position_embeddings = reader.int_field("max_position_embeddings", 1, 1 << 20, 512);

  if (const json::Value* eps = reader.get("layer_norm_eps")) {
    if (!eps->is_number() || !(eps->as_double() > 0.0) || !(eps->as_double() < 1.0)) {
      reader.fail("layer_norm_eps",
                  "expected a number in (0, 1), found " + ConfigReader::describe(*eps));
    }
    config.layer_norm_eps = eps->as_double();
  }

  config.hidden_act = reader.string_field("hidden_act", "gelu");
  if (config.hidden_act != "gelu") {
    reader.fail("hidden_act", "\"" + config.hidden_act +
                                  "\" is not supported; supported: \"gelu\" (exact erf GELU)");
  }

  const std::string position_type = reader.string_field("position_embedding_type", "absolute");
  if (position_type != "absolute") {
    reader.fail("position_embedding_type",
                "\"" + position_type + "\" is not supported; supported: \"absolute\"");
  }

  // Hugging Face derives num_labels from id2label when present, else from
  // num_labels, else 2.
  if (const json::Value* id2label = reader.get("id2label")) {
    if (!id2label->is_object()) {
      reader.fail("id2label", "expected an object, found " + ConfigReader::describe(*id2label));
    }
    const std::size_t count = id2label->as_object().size();
    if (count == 0) reader.fail("id2label", "is empty; a classifier needs at least one label");
    if (count > (1 << 16)) reader.fail("id2label", "has more than 65536 labels");
    config.num_labels = static_cast<int>(count);
  } else {
    config.num_labels = reader.int_field("num_labels", 1, 1 << 16, 2);
  }
  config.embedding_size = config.hidden_size;
  if (config.family == Family::kRoberta) read_roberta_fields(reader, config);
  if (config.family == Family::kElectra) read_electra_fields(reader, config);
  if (config.family == Family::kModernBert) read_modernbert_fields(reader, config);
  return config;
}

ModelConfig load_config(const std::string& model_dir, Head head) {
  const std::string path = join_path(model_dir, "config.json");
  return parse_config(read_file(path), path, head);
}

}  // namespace crossrank::engine
