// bf16 (bfloat16: fp32's sign and 8-bit exponent, 7 stored mantissa bits)
// rounding shared by every bf16 path, compiled for the baseline. The bf16
// GEMMs round both operands with this and accumulate in fp32, so a kernel
// and the reference see the same inputs bit for bit.
#pragma once

#include <cstdint>
#include <cstring>

namespace crossrank::kernels {

// fp32 -> bf16, round to nearest even, as vcvtne2ps2bf16 does it: fp32
// subnormals become a zero of the same sign (the instruction treats
// denormal inputs as zero), NaN stays a quiet NaN, values past bf16's range
// round to infinity.
inline std::uint16_t f32_to_bf16(float x) {
  std::uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  if ((bits & 0x7F800000u) == 0) return static_cast<std::uint16_t>((bits >> 16) & 0x8000u);
  if ((bits & 0x7FFFFFFFu) > 0x7F800000u)
    return static_cast<std::uint16_t>((bits >> 16) | 0x0040u);
  bits += 0x7FFFu + ((bits >> 16) & 1u);
  return static_cast<std::uint16_t>(bits >> 16);
}

// bf16 -> fp32, exact.
inline float bf16_to_f32_bits(std::uint16_t h) {
  const std::uint32_t bits = static_cast<std::uint32_t>(h) << 16;
  float out;
  std::memcpy(&out, &bits, sizeof out);
  return out;
}

// x rounded to bf16 and back (what a bf16 GEMM multiplies).
inline float round_to_bf16(float x) { return bf16_to_f32_bits(f32_to_bf16(x)); }

}  // namespace crossrank::kernels
