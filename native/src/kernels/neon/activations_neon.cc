// Element-wise activations, NEON: GELU (erf form). tanh runs on the
// pooler's one row per sequence only, so the NEON table keeps the
// reference's (kernels/ops.h).
#include <arm_neon.h>

#include <cstring>

#include "kernels/neon/vmath.h"
#include "kernels/ops.h"

namespace crossrank::kernels::neon {

void gelu_erf(float* x, std::size_t count) {
  std::size_t i = 0;
  for (; i + 4 <= count; i += 4) vst1q_f32(x + i, gelu_ps(vld1q_f32(x + i)));
  if (i < count) {
    // The tail goes through a staging vector, so it is computed exactly as
    // a full vector would be.
    float stage[4] = {0.f, 0.f, 0.f, 0.f};
    const std::size_t rest = count - i;
    std::memcpy(stage, x + i, rest * sizeof(float));
    vst1q_f32(stage, gelu_ps(vld1q_f32(stage)));
    std::memcpy(x + i, stage, rest * sizeof(float));
  }
}

}  // namespace crossrank::kernels::neon
