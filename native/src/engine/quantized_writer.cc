#include "engine/quantized_writer.h"

#include <fstream>
#include <sstream>

#include "engine/config.h"
#include "engine/errors.h"
#include "engine/files.h"
#include "engine/quantize.h"
#include "engine/safetensors.h"
#include "engine/weights.h"
#include "kernels/bf16.h"
#include "kernels/kernels.h"

namespace crossrank::engine {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// One tensor of the output file: header entry and bytes.
struct OutTensor {
  std::string name;
  const char* dtype;
  std::vector<std::int64_t> shape;
  std::string bytes;
};

template <typename T>
std::string as_bytes(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

}  // namespace

void write_quantized_model(const std::string& model_dir, const std::string& out_path,
                           StoredDtype dtype) {
  // Loading the model first checks every name, shape and dtype against
  // config.json, so only a usable fp32 model is written out quantised.
  const ModelConfig config = load_config(model_dir);
  const std::unique_ptr<SafetensorsFile> weights_file = SafetensorsFile::open_model_weights(model_dir);
  const SafetensorsFile& file = *weights_file;
  load_weights(config, file, kernels::ref_kernels(), Dtype::kFloat32);
  const bool bf16 = dtype == StoredDtype::kBfloat16;

  std::vector<OutTensor> tensors;
  for (const auto& [name, view] : file.tensors()) {
    // bf16 files round the encoder's linear weights only: the word
    // embeddings stay as they are (the engine reads them in fp32).
    const bool bf16_tensor = bf16 && is_quantized_tensor_name(name) &&
                             name.find("word_embeddings") == std::string::npos &&
                             name.find("tok_embeddings") == std::string::npos;
    if (bf16 ? !bf16_tensor : (ends_with(name, kScaleSuffix) || !is_quantized_tensor_name(name))) {
      tensors.push_back({name, dtype_name(view.dtype), view.shape,
                         std::string(reinterpret_cast<const char*>(view.data), view.nbytes)});
      continue;
    }
    // load_weights checked the tensors the model uses; this one may be an
    // extra layer beyond config.json.
    std::vector<float> w;
    if (view.shape.size() != 2 || !tensor_to_f32(view, &w)) {
      throw ModelError(file.path() + ": tensor '" + name + "' (" + dtype_name(view.dtype) + " " +
                       view.shape_string() + ") is not an F32, F16 or BF16 matrix");
    }
    if (bf16) {
      std::vector<std::uint16_t> rounded(w.size());
      for (std::size_t i = 0; i < w.size(); ++i) rounded[i] = kernels::f32_to_bf16(w[i]);
      tensors.push_back({name, "BF16", view.shape, as_bytes(rounded)});
      continue;
    }
    const auto rows = static_cast<int>(view.shape[0]);
    const auto cols = static_cast<int>(view.shape[1]);
    const QuantizedMatrix m = quantize_rows(w.data(), rows, cols);
    tensors.push_back({name, "I8", view.shape, as_bytes(m.values)});
    tensors.push_back({name + kScaleSuffix, "F32", {view.shape[0]}, as_bytes(m.scales)});
  }

  std::ostringstream header;
  header << "{\"__metadata__\":{\"format\":\"pt\",\"quantization\":"
         << json_string(bf16 ? kBf16Quantization
                             : "crossrank int8: symmetric, per output channel")
         << "}";
  std::size_t offset = 0;
  for (const OutTensor& t : tensors) {
    header << "," << json_string(t.name) << ":{\"dtype\":\"" << t.dtype << "\",\"shape\":[";
    for (std::size_t i = 0; i < t.shape.size(); ++i) header << (i ? "," : "") << t.shape[i];
    header << "],\"data_offsets\":[" << offset << "," << offset + t.bytes.size() << "]}";
    offset += t.bytes.size();
  }
  header << "}";
  std::string header_text = header.str();
  header_text.append((8 - header_text.size() % 8) % 8, ' ');  // data starts 8-byte aligned

  std::ofstream out(out_path, std::ios::binary | std::ios::trunc);
  if (!out) throw ModelError(out_path + ": cannot open for writing");
  const std::uint64_t header_size = header_text.size();
  unsigned char size_le[8];
  for (int i = 0; i < 8; ++i) size_le[i] = static_cast<unsigned char>(header_size >> (8 * i));
  out.write(reinterpret_cast<const char*>(size_le), 8);
  out << header_text;
  for (const OutTensor& t : tensors) out.write(t.bytes.data(), static_cast<std::streamsize>(t.bytes.size()));
  out.close();
  if (!out) throw ModelError(out_path + ": writing failed");
}

}  // namespace crossrank::engine
