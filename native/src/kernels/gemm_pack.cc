#include "kernels/gemm_pack.h"

#include "kernels/bf16.h"
#include "kernels/ops.h"

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

std::size_t int8_panel_bytes(int n, int k, int nr) {
  const std::size_t kp = static_cast<std::size_t>(k + kQuantBlock - 1) / kQuantBlock * kQuantBlock;
  return static_cast<std::size_t>((n + nr - 1) / nr) * nr * kp;
}

void pack_int8_panels(const std::int8_t* q, const float* scales, int n, int k, int nr, int group,
                      const char* packed_for, PackedWeights* out) {
  const std::size_t kp = static_cast<std::size_t>(k + kQuantBlock - 1) / kQuantBlock * kQuantBlock;
  out->n = n;
  out->k = k;
  out->data.clear();
  out->packed_for = packed_for;
  out->scales.assign(scales, scales + n);
  out->qdata.assign(int8_panel_bytes(n, k, nr), 0);
  for (int j = 0; j < n; ++j) {
    std::int8_t* panel = out->qdata.data() + static_cast<std::size_t>(j / nr) * nr * kp;
    const std::int8_t* row = q + static_cast<std::size_t>(j) * k;
    for (int p = 0; p < k; ++p) {
      panel[static_cast<std::size_t>(p / group) * group * nr + (j % nr) * group + p % group] =
          row[p];
    }
  }
}

void pack_bf16_pair_panels(const float* w, int n, int k, int nr, const char* packed_for,
                           PackedWeights* out) {
  pack_bf16_group_panels(w, n, k, nr, 2, packed_for, out);
}

void pack_bf16_group_panels(const float* w, int n, int k, int nr, int group,
                            const char* packed_for, PackedWeights* out) {
  pack_bf16_group_panels_padded(w, n, k, nr, group, group, packed_for, out);
}

void pack_bf16_group_panels_padded(const float* w, int n, int k, int nr, int group,
                                   int k_multiple, const char* packed_for, PackedWeights* out) {
  const int panels = (n + nr - 1) / nr;
  const int k_padded = (k + k_multiple - 1) / k_multiple * k_multiple;
  out->n = n;
  out->k = k;
  out->packed_for = packed_for;
  out->bdata.assign(static_cast<std::size_t>(panels) * nr * k_padded, 0);
  for (int j = 0; j < n; ++j) {
    std::uint16_t* panel = out->bdata.data() + static_cast<std::size_t>(j / nr) * nr * k_padded;
    const float* row = w + static_cast<std::size_t>(j) * k;
    for (int p = 0; p < k; ++p) {
      panel[static_cast<std::size_t>(p / group) * group * nr + group * (j % nr) + p % group] =
          f32_to_bf16(row[p]);
    }
  }
}

}  // namespace crossrank::kernels
