// A read-only, memory-mapped safetensors file. Every entry of the header is
// checked against the file before any tensor byte is exposed: known dtype,
// shape product without overflow, offsets inside the data section, byte
// size equal to numel * dtype size, no two tensors overlapping.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace crossrank::engine {

// A stored tensor's element type (the header's "dtype"); the compute dtype
// the model runs in is engine::Dtype (weights.h).
enum class TensorDtype { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU64, kU32, kU16, kU8,
                         kBool, kF8E4M3, kF8E5M2, kF8E8M0 };

const char* dtype_name(TensorDtype dtype);
std::size_t dtype_size(TensorDtype dtype);

struct TensorView {
  std::string name;
  TensorDtype dtype = TensorDtype::kF32;
  std::vector<std::int64_t> shape;
  std::uint64_t numel = 0;
  const unsigned char* data = nullptr;  // inside the mapping; any alignment
  std::size_t nbytes = 0;

  std::string shape_string() const;  // "[384, 1536]"
};

class SafetensorsFile {
 public:
  static constexpr std::uint64_t kMaxHeaderBytes = 100u << 20;

  // Maps and validates path; throws ModelError naming path (and the tensor).
  explicit SafetensorsFile(std::string path);
  // The weights of a model folder, looked up as transformers does:
  // <dir>/model.safetensors, else the shards <dir>/model.safetensors.index.json
  // names, each validated as above and seen as one file whose path() is the
  // index. Throws ModelError naming the index (and the shard or tensor).
  static std::unique_ptr<SafetensorsFile> open_model_weights(const std::string& model_dir);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  // The tensor named name, or null.
  const TensorView* find(const std::string& name) const;
  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  SafetensorsFile() = default;
  void parse_header(const unsigned char* header, std::size_t header_size,
                    const unsigned char* data, std::size_t data_size);
  [[noreturn]] void fail(const std::string& what) const;

  std::string path_;
  void* mapping_ = nullptr;
  std::size_t mapping_size_ = 0;
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
  // A sharded checkpoint's files; tensors_ points into their mappings.
  std::vector<std::unique_ptr<SafetensorsFile>> shards_;
};

// Exact conversions to fp32.
float f16_to_f32(std::uint16_t bits);
float bf16_to_f32(std::uint16_t bits);

// Converts an F32, F16 or BF16 tensor to fp32 into out; false for other dtypes.
bool tensor_to_f32(const TensorView& view, std::vector<float>* out);

}  // namespace crossrank::engine
