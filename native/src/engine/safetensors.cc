#include "engine/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/errors.h"
#include "engine/files.h"
#include "engine/json.h"

namespace crossrank::engine {
namespace {

struct TensorDtypeInfo {
  const char* name;
  TensorDtype dtype;
  std::size_t size;
};

constexpr TensorDtypeInfo kTensorDtypes[] = {
    {"F64", TensorDtype::kF64, 8},          {"F32", TensorDtype::kF32, 4},
    {"F16", TensorDtype::kF16, 2},          {"BF16", TensorDtype::kBF16, 2},
    {"I64", TensorDtype::kI64, 8},          {"I32", TensorDtype::kI32, 4},
    {"I16", TensorDtype::kI16, 2},          {"I8", TensorDtype::kI8, 1},
    {"U64", TensorDtype::kU64, 8},          {"U32", TensorDtype::kU32, 4},
    {"U16", TensorDtype::kU16, 2},          {"U8", TensorDtype::kU8, 1},
    {"BOOL", TensorDtype::kBool, 1},        {"F8_E4M3", TensorDtype::kF8E4M3, 1},
    {"F8_E5M2", TensorDtype::kF8E5M2, 1},   {"F8_E8M0", TensorDtype::kF8E8M0, 1},
};

const TensorDtypeInfo& info(TensorDtype dtype) {
  for (const TensorDtypeInfo& entry : kTensorDtypes) {
    if (entry.dtype == dtype) return entry;
  }
  return kTensorDtypes[1];
}

std::uint64_t read_u64_le(const unsigned char* p) {
  std::uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | p[i];
  return value;
}

std::string quoted(const std::string& name) { return "tensor '" + name + "'"; }

}  // namespace

const char* dtype_name(TensorDtype dtype) { return info(dtype).name; }
std::size_t dtype_size(TensorDtype dtype) { return info(dtype).size; }

std::string TensorView::shape_string() const {
  std::string out = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

void SafetensorsFile::fail(const std::string& what) const { throw ModelError(path_ + ": " + what); }

SafetensorsFile::SafetensorsFile(std::string path) : path_(std::move(path)) {
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("not a regular file");
  }
  const std::uint64_t file_size = static_cast<std::uint64_t>(st.st_size);
  if (file_size < 8) {
    ::close(fd);
    fail("file is " + std::to_string(file_size) +
         " bytes, too short for a safetensors header (at least 8)");
  }
  void* mapping = ::mmap(nullptr, file_size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int map_errno = errno;
  ::close(fd);  // the mapping keeps the file open
  if (mapping == MAP_FAILED) fail(std::string("mmap failed: ") + std::strerror(map_errno));
  mapping_ = mapping;
  mapping_size_ = file_size;

  try {
    const auto* bytes = static_cast<const unsigned char*>(mapping_);
    const std::uint64_t header_size = read_u64_le(bytes);
    if (header_size > file_size - 8) {
      fail("header length " + std::to_string(header_size) + " runs past the end of the file (" +
           std::to_string(file_size) + " bytes); the file is truncated or not safetensors");
    }
    if (header_size > kMaxHeaderBytes) {
      fail("header length " + std::to_string(header_size) + " exceeds the limit of " +
           std::to_string(kMaxHeaderBytes) + " bytes");
    }
    parse_header(bytes + 8, header_size, bytes + 8 + header_size,
                 file_size - 8 - header_size);
  } catch (...) {
    ::munmap(mapping_, mapping_size_);
    mapping_ = nullptr;
    throw;
  }
}

SafetensorsFile::~SafetensorsFile() {
  if (mapping_ != nullptr) ::munmap(mapping_, mapping_size_);
}

std::unique_ptr<SafetensorsFile> SafetensorsFile::open_model_weights(const std::string& model_dir) {
  const std::string single = join_path(model_dir, "model.safetensors");
  const std::string index_path = join_path(model_dir, "model.safetensors.index.json");
  struct stat st {};
  if (::stat(single.c_str(), &st) == 0 || ::stat(index_path.c_str(), &st) != 0) {
    // One file (also when neither exists: the error then names model.safetensors).
    return std::unique_ptr<SafetensorsFile>(new SafetensorsFile(single));
  }

  std::unique_ptr<SafetensorsFile> merged(new SafetensorsFile());
  merged->path_ = index_path;
  json::Value index;
  try {
    index = json::parse(read_file(index_path));
  } catch (const json::ParseError& error) {
    merged->fail(error.what());
  }
  const json::Value* weight_map = index.is_object() ? index.find("weight_map") : nullptr;
  if (weight_map == nullptr || !weight_map->is_object() || weight_map->as_object().empty()) {
    merged->fail("weight_map must be a non-empty object of tensor name to shard file");
  }
  // Shards in the order the index first names them; each opened once.
  std::map<std::string, SafetensorsFile*> shard_by_name;
  for (const json::Value::Member& entry : weight_map->as_object()) {
    if (!entry.second.is_string()) {
      merged->fail("weight_map: the shard of '" + entry.first + "' is not a string");
    }
    const std::string& shard_name = entry.second.as_string();
    // A shard is a plain file name beside the index, never a path out of the folder.
    if (shard_name.empty() || shard_name == "." || shard_name == ".." ||
        shard_name.find('/') != std::string::npos || shard_name.find('\\') != std::string::npos) {
      merged->fail("weight_map: shard '" + shard_name + "' of '" + entry.first +
                   "' is not a file name in the model folder");
    }
    SafetensorsFile*& shard = shard_by_name[shard_name];
    if (shard == nullptr) {
      merged->shards_.emplace_back(new SafetensorsFile(join_path(model_dir, shard_name)));
      shard = merged->shards_.back().get();
    }
    if (shard->find(entry.first) == nullptr) {
      merged->fail("weight_map names tensor '" + entry.first + "' in " + shard_name +
                   ", which does not hold it");
    }
  }
  // Every tensor of every shard, each from exactly one shard.
  for (const auto& [shard_name, shard] : shard_by_name) {
    for (const auto& [name, view] : shard->tensors()) {
      if (!merged->tensors_.emplace(name, view).second) {
        merged->fail("tensor '" + name + "' is stored in more than one shard (again in " +
                     shard_name + ")");
      }
    }
    // The shards' own __metadata__ (transformers writes {"format": "pt"} in each).
    merged->metadata_.insert(shard->metadata().begin(), shard->metadata().end());
  }
  return merged;
}

const TensorView* SafetensorsFile::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

void SafetensorsFile::parse_header(const unsigned char* header, std::size_t header_size,
                                   const unsigned char* data, std::size_t data_size) {
  json::Value root;
  try {
    root = json::parse(
        std::string_view(reinterpret_cast<const char*>(header), header_size));
  } catch (const json::ParseError& error) {
    fail(std::string("header: ") + error.what());
  }
  if (!root.is_object()) {
    fail(std::string("header: expected a JSON object, found ") +
         json::Value::type_name(root.type()));
  }

  struct Extent {
    std::uint64_t begin, end;
    const std::string* name;
  };
  std::vector<Extent> extents;

  for (const json::Value::Member& member : root.as_object()) {
    const std::string& name = member.first;
    const json::Value& entry = member.second;
    if (name == "__metadata__") {
      if (!entry.is_object()) fail("header: __metadata__ is not an object");
      for (const json::Value::Member& item : entry.as_object()) {
        if (!item.second.is_string()) {
          fail("header: __metadata__ value of '" + item.first + "' is not a string");
        }
        metadata_[item.first] = item.second.as_string();
      }
      continue;
    }
    const std::string where = quoted(name);
    if (!entry.is_object()) fail(where + ": entry is not an object");

    TensorView view;
    view.name = name;

    const json::Value* dtype = entry.find("dtype");
    if (dtype == nullptr || !dtype->is_string()) fail(where + ": missing dtype");
    const TensorDtypeInfo* dtype_info = nullptr;
    for (const TensorDtypeInfo& candidate : kTensorDtypes) {
      if (dtype->as_string() == candidate.name) dtype_info = &candidate;
    }
    if (dtype_info == nullptr) fail(where + ": unknown dtype '" + dtype->as_string() + "'");
    view.dtype = dtype_info->dtype;

    const json::Value* shape = entry.find("shape");
    if (shape == nullptr || !shape->is_array()) fail(where + ": missing shape");
    std::uint64_t numel = 1;
    bool overflow = false;
    bool has_zero = false;
    for (const json::Value& dim : shape->as_array()) {
      std::int64_t extent = 0;
      if (!dim.get_int64(&extent) || extent < 0) {
        fail(where + ": shape entries must be non-negative integers");
      }
      view.shape.push_back(extent);
      const auto u = static_cast<std::uint64_t>(extent);
      if (u == 0) has_zero = true;
      if (u != 0 && numel > UINT64_MAX / u) overflow = true;
      numel *= u;
    }
    // A zero dimension makes any overflow of the other dims harmless.
    if (has_zero) numel = 0;
    if (!has_zero && overflow) fail(where + ": shape " + view.shape_string() + " overflows");
    if (numel != 0 && numel > UINT64_MAX / dtype_info->size) {
      fail(where + ": shape " + view.shape_string() + " overflows");
    }
    view.numel = numel;

    const json::Value* offsets = entry.find("data_offsets");
    std::uint64_t begin = 0, end = 0;
    if (offsets == nullptr || !offsets->is_array() || offsets->as_array().size() != 2 ||
        !offsets->as_array()[0].get_uint64(&begin) || !offsets->as_array()[1].get_uint64(&end)) {
      fail(where + ": data_offsets must be two non-negative integers [begin, end]");
    }
    const std::string range =
        "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) + "]";
    if (begin > end) fail(where + ": " + range + " has begin after end");
    if (end > data_size) {
      fail(where + ": " + range + " lie outside the data section (" + std::to_string(data_size) +
           " bytes)");
    }
    const std::uint64_t expected_bytes = numel * dtype_info->size;
    if (end - begin != expected_bytes) {
      fail(where + ": " + range + " span " + std::to_string(end - begin) + " bytes but " +
           dtype_info->name + " " + view.shape_string() + " needs " +
           std::to_string(expected_bytes));
    }
    view.data = data + begin;
    view.nbytes = static_cast<std::size_t>(end - begin);
    auto [it, inserted] = tensors_.emplace(name, std::move(view));
    (void)inserted;  // the JSON parser refuses duplicate keys
    extents.push_back({begin, end, &it->first});
  }

  // Tensors must not share bytes (empty tensors take no room).
  std::sort(extents.begin(), extents.end(), [](const Extent& a, const Extent& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  const Extent* previous = nullptr;
  for (const Extent& extent : extents) {
    if (extent.begin == extent.end) continue;
    if (previous != nullptr && extent.begin < previous->end) {
      fail(quoted(*extent.name) + ": data_offsets [" + std::to_string(extent.begin) + ", " +
           std::to_string(extent.end) + "] overlap " + quoted(*previous->name) + " [" +
           std::to_string(previous->begin) + ", " + std::to_string(previous->end) + "]");
    }
    previous = &extent;
  }
}

float f16_to_f32(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exponent = (h >> 10) & 0x1Fu;
  std::uint32_t mantissa = h & 0x3FFu;
  std::uint32_t bits;
  if (exponent == 0x1F) {  // inf / nan (keep the payload)
    bits = sign | 0x7F800000u | (mantissa << 13);
  } else if (exponent != 0) {  // normal
    bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {  // signed zero
    bits = sign;
  } else {  // subnormal: normalise, every f16 subnormal is an f32 normal
    int shift = 0;
    while ((mantissa & 0x400u) == 0) {
      mantissa <<= 1;
      ++shift;
    }
    mantissa &= 0x3FFu;
    bits = sign | (static_cast<std::uint32_t>(127 - 15 + 1 - shift) << 23) | (mantissa << 13);
  }
  float out;
  std::memcpy(&out, &bits, sizeof out);
  return out;
}

float bf16_to_f32(std::uint16_t h) {
  const std::uint32_t bits = static_cast<std::uint32_t>(h) << 16;
  float out;
  std::memcpy(&out, &bits, sizeof out);
  return out;
}

bool tensor_to_f32(const TensorView& view, std::vector<float>* out) {
  out->resize(static_cast<std::size_t>(view.numel));
  const unsigned char* src = view.data;
  switch (view.dtype) {
    case TensorDtype::kF32:
      std::memcpy(out->data(), src, view.nbytes);  // the mapping need not be aligned
      return true;
    case TensorDtype::kF16:
    case TensorDtype::kBF16: {
      const bool f16 = view.dtype == TensorDtype::kF16;
      for (std::size_t i = 0; i < out->size(); ++i) {
        const auto bits = static_cast<std::uint16_t>(src[2 * i] | (src[2 * i + 1] << 8));
        (*out)[i] = f16 ? f16_to_f32(bits) : bf16_to_f32(bits);
      }
      return true;
    }
    default:
      return false;
  }
}

}  // namespace crossrank::engine
