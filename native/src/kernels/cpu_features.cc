// CPU feature detection, done once per process. An ISA counts only if both
// the CPU has it and the OS saves its registers on a context switch (XCR0).
#include <cstring>

#include "kernels/kernels.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#endif
#if defined(__linux__) && (defined(__x86_64__) || defined(_M_X64))
#include <sys/syscall.h>
#include <unistd.h>
#endif
#if defined(__linux__) && defined(__aarch64__)
#include <sys/auxv.h>
#endif

namespace crossrank::kernels {
namespace {

#if defined(__x86_64__) || defined(_M_X64)

struct Regs {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
};

Regs cpuid(unsigned leaf, unsigned subleaf = 0) {
  Regs r;
  __cpuid_count(leaf, subleaf, r.eax, r.ebx, r.ecx, r.edx);
  return r;
}

// xgetbv by hand: the intrinsic needs -mxsave, and this file is built for the
// baseline. Only called once OSXSAVE says the instruction exists.
unsigned long long xcr0() {
  unsigned eax = 0, edx = 0;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<unsigned long long>(edx) << 32) | eax;
}

// Linux hands out the AMX tile data state (8 KB per thread) only to
// processes that ask for it: without the permission the first tile
// instruction faults. Asking is what oneDNN does too, once per process.
bool request_amx_permission(std::string* why) {
#if defined(__linux__)
  constexpr long kArchGetXcompPerm = 0x1022;
  constexpr long kArchReqXcompPerm = 0x1023;
  constexpr unsigned long kXfeatureXtiledata = 18;
  if (syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) != 0) {
    *why = "the kernel refused arch_prctl(ARCH_REQ_XCOMP_PERM, XTILEDATA) (Linux before 5.16?)";
    return false;
  }
  unsigned long granted = 0;
  if (syscall(SYS_arch_prctl, kArchGetXcompPerm, &granted) != 0 ||
      ((granted >> kXfeatureXtiledata) & 1) == 0) {
    *why = "arch_prctl(ARCH_GET_XCOMP_PERM) does not list XTILEDATA";
    return false;
  }
  return true;
#else
  *why = "AMX permission is requested on Linux only";
  return false;
#endif
}

CpuFeatures detect() {
  CpuFeatures f;
  f.amx_status = "not an AMX CPU (CPUID.7.0:EDX has no AMX-TILE)";
  const unsigned max_leaf = cpuid(0).eax;
  if (max_leaf < 1) return f;
  const Regs l1 = cpuid(1);
  const bool osxsave = (l1.ecx >> 27) & 1;
  const unsigned long long xcr = osxsave ? xcr0() : 0;
  const bool os_ymm = (xcr & 0x6) == 0x6;     // XMM and YMM state
  const bool os_zmm = (xcr & 0xE6) == 0xE6;   // plus opmask and ZMM state
  const bool avx = ((l1.ecx >> 28) & 1) && os_ymm;
  f.fma = avx && ((l1.ecx >> 12) & 1);
  f.f16c = avx && ((l1.ecx >> 29) & 1);
  if (max_leaf >= 7) {
    const Regs l7 = cpuid(7, 0);
    f.avx2 = avx && ((l7.ebx >> 5) & 1);
    f.avx512f = os_zmm && ((l7.ebx >> 16) & 1);
    f.avx512bw = f.avx512f && ((l7.ebx >> 30) & 1);
    f.avx512vl = f.avx512f && ((l7.ebx >> 31) & 1);
    f.avx512_vnni = f.avx512f && ((l7.ecx >> 11) & 1);
    if (l7.eax >= 1) {
      const Regs l7s1 = cpuid(7, 1);
      f.avx_vnni = avx && ((l7s1.eax >> 4) & 1);
      f.avx512_bf16 = f.avx512f && ((l7s1.eax >> 5) & 1);
    }
    const bool amx_tile = (l7.edx >> 24) & 1;
    if (amx_tile) {
      // XCR0 bits 17 (XTILECFG) and 18 (XTILEDATA): the OS saves the tiles.
      if ((xcr & 0x60000) != 0x60000) {
        f.amx_status = "the OS does not enable the AMX tile state in XCR0";
      } else if (request_amx_permission(&f.amx_status)) {
        f.amx_bf16 = (l7.edx >> 22) & 1;
        f.amx_int8 = (l7.edx >> 25) & 1;
        f.amx_status = "usable";
      }
    }
  }
  if (cpuid(0x80000000).eax >= 0x80000004) {
    char brand[49] = {};
    for (unsigned i = 0; i < 3; ++i) {
      const Regs r = cpuid(0x80000002 + i);
      std::memcpy(brand + 16 * i, &r, 16);
    }
    std::string s(brand);
    const auto first = s.find_first_not_of(' ');
    const auto last = s.find_last_not_of(' ');
    f.brand = first == std::string::npos ? "" : s.substr(first, last - first + 1);
  }
  return f;
}

#else

CpuFeatures detect() {
  CpuFeatures f;
#if defined(__aarch64__) || defined(_M_ARM64)
  f.neon = true;  // Advanced SIMD is mandatory on AArch64.
#endif
#if defined(__linux__) && defined(__aarch64__)
  // The kernel reports what it lets user space run (the ID registers alone
  // do not say whether it traps the instructions). Bits from the Linux
  // uapi's asm/hwcap.h, spelled here for older headers.
  constexpr unsigned long kHwcap2I8mm = 1ul << 13;
  constexpr unsigned long kHwcap2Bf16 = 1ul << 14;
  const unsigned long hwcap2 = getauxval(AT_HWCAP2);
  f.arm_i8mm = (hwcap2 & kHwcap2I8mm) != 0;
  f.arm_bf16 = (hwcap2 & kHwcap2Bf16) != 0;
#endif
  return f;
}

#endif

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect();
  return features;
}

}  // namespace crossrank::kernels
