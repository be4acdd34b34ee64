#include "kernels/gemm_pack.h"

#include "kernels/avx512bf16/avx512bf16_kernels.h"
#include "kernels/bf16.h"

namespace crossrank::kernels {

void pack_column_panels(const float* w, int n, int k, int nr, const char* packed_for,
                        PackedWeights* out) {
  const int panels = (n + nr - 1) / nr;
  out->n = n;
  out->k = k;
  out->packed_for = packed_for;
  out->data.assign(static_cast<std::size_t>(panels) * nr * k, 0.f);
  for (int j = 0; j < n; ++j) {
    float* panel = out->data.data() + static_cast<std::size_t>(j / nr) * nr * k;
    const float* row = w + static_cast<std::size_t>(j) * k;
    for (int p = 0; p < k; ++p) panel[static_cast<std::size_t>(p) * nr + j % nr] = row[p];
  }
}

void pack_bf16_pair_panels(const float* w, int n, int k, int nr, const char* packed_for,
                           PackedWeights* out) {
  const int panels = (n + nr - 1) / nr;
  const int k_even = k + k % 2;
  out->n = n;
  out->k = k;
  out->packed_for = packed_for;
  out->bdata.assign(static_cast<std::size_t>(panels) * nr * k_even, 0);
  for (int j = 0; j < n; ++j) {
    std::uint16_t* panel = out->bdata.data() + static_cast<std::size_t>(j / nr) * nr * k_even;
    const float* row = w + static_cast<std::size_t>(j) * k;
    for (int p = 0; p < k; ++p) {
      panel[static_cast<std::size_t>(p / 2) * 2 * nr + 2 * (j % nr) + p % 2] = f32_to_bf16(row[p]);
    }
  }
}

}  // namespace crossrank::kernels

namespace crossrank::kernels::avx512bf16 {

// Baseline code, so the packing grows its vector outside the AVX-512 file.
void bgemm_pack(const float* w, int n, int k, PackedWeights* out) {
  pack_bf16_pair_panels(w, n, k, kBGemmNr, kBGemmName, out);
}

}  // namespace crossrank::kernels::avx512bf16
