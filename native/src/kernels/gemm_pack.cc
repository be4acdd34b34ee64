#include "kernels/gemm_pack.h"

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

}  // namespace crossrank::kernels
