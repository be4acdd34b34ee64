// A growing per-thread buffer of bf16 values for the kernels that round
// rows of A before their inner loop (the x86 and Arm bf16 GEMMs). Plain
// 64-byte-aligned memory rather than a std::vector: a library template
// instantiated in a file built with ISA flags may be the copy the linker
// keeps for every caller, baseline code included (see
// avx512vnni/qgemm_avx512vnni.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace crossrank::kernels {
// Internal linkage: each including file keeps its own copy, built with its
// own flags.
namespace {

struct RowBuffer {
  std::uint16_t* data = nullptr;
  std::size_t capacity = 0;  // in bf16 values
  ~RowBuffer() { std::free(data); }
  std::uint16_t* get(std::size_t values) {
    if (values > capacity) {
      std::free(data);
      const std::size_t bytes = (values * sizeof(std::uint16_t) + 63) / 64 * 64;
      data = static_cast<std::uint16_t*>(std::aligned_alloc(64, bytes));
      capacity = data == nullptr ? 0 : values;
      if (data == nullptr) throw std::bad_alloc();
    }
    return data;
  }
};

}  // namespace
}  // namespace crossrank::kernels
