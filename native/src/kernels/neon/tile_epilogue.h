// The epilogue of the NEON fp32-output GEMMs (the fp32 NEON GEMM and the
// BF16 one): bias, GELU (neon/vmath.h's) or residual on a tile of finished
// dot products kept on the stack, and the store of its valid columns.
// In an unnamed namespace: each kernel file gets its own copy, built with
// its own flags.
#pragma once

#include <arm_neon.h>

#include <cstddef>
#include <cstring>

#include "kernels/gemm_driver.h"
#include "kernels/neon/vmath.h"

namespace crossrank::kernels::neon {
namespace {

// Applies the epilogue to an MR x kNr tile of dot products and stores the
// first nv columns of each row. A partial tile reads bias and residual
// through a zero-padded row of kNr floats (NEON has no masked loads).
template <int MR, bool kFull, int kNr>
inline void finish_tile(const float (&tile)[MR][kNr], float* c, std::size_t ldc, const GemmTile& t,
                     int nv) {
  constexpr int kNv = kNr / 4;
  float stage[kNr];
  auto load_row = [&](const float* src, float32x4_t* v) {
    if (!kFull) {
      std::memset(stage, 0, sizeof stage);
      std::memcpy(stage, src, static_cast<std::size_t>(nv) * sizeof(float));
      src = stage;
    }
    for (int i = 0; i < kNv; ++i) v[i] = vld1q_f32(src + 4 * i);
  };
  float32x4_t bias[kNv];
  for (int i = 0; i < kNv; ++i) bias[i] = vdupq_n_f32(0.f);
  if (t.epilogue != Epilogue::kNone) load_row(t.bias, bias);
  for (int r = 0; r < MR; ++r) {
    float32x4_t v[kNv];
    for (int i = 0; i < kNv; ++i) v[i] = vld1q_f32(tile[r] + 4 * i);
    if (t.epilogue != Epilogue::kNone) {
      for (int i = 0; i < kNv; ++i) v[i] = vaddq_f32(v[i], bias[i]);
    }
    if (t.epilogue == Epilogue::kBiasGelu) {
      for (int i = 0; i < kNv; ++i) v[i] = gelu_ps(v[i]);
    } else if (t.epilogue == Epilogue::kBiasResidual) {
      // Loaded just before the store of the same elements: c may alias it.
      float32x4_t res[kNv];
      load_row(t.residual + r * t.ldr, res);
      for (int i = 0; i < kNv; ++i) v[i] = vaddq_f32(v[i], res[i]);
    }
    float* out = kFull ? c + r * ldc : stage;
    for (int i = 0; i < kNv; ++i) vst1q_f32(out + 4 * i, v[i]);
    if (!kFull) std::memcpy(c + r * ldc, stage, static_cast<std::size_t>(nv) * sizeof(float));
  }
}

}  // namespace
}  // namespace crossrank::kernels::neon
