# Sanitizer and fuzzing builds (npm run test:sanitize, npm run fuzz:short).
#
# CROSSRANK_SANITIZE=ON compiles everything - the engine, the kernels, the
# addon and the C++ tests - with AddressSanitizer and UndefinedBehaviorSanitizer.
# UBSan halts on the first error (-fno-sanitize-recover) so a finding fails
# the run instead of scrolling past. The test executables link the runtime
# statically; the addon links none (clang never puts the ASan runtime in a
# shared library), so Node must preload the runtime: scripts/test-sanitize.sh.
#
# CROSSRANK_BUILD_FUZZERS=ON (clang only, implies the sanitizers) also adds
# libFuzzer's coverage instrumentation to the engine and builds native/fuzz/.
option(CROSSRANK_SANITIZE "Build with AddressSanitizer and UndefinedBehaviorSanitizer" OFF)
option(CROSSRANK_BUILD_FUZZERS "Build the libFuzzer targets in native/fuzz (needs clang)" OFF)

if(CROSSRANK_BUILD_FUZZERS)
  set(CROSSRANK_SANITIZE ON)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "CROSSRANK_BUILD_FUZZERS needs clang (libFuzzer); "
                        "configure with -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_C_COMPILER=clang-14")
  endif()
endif()

if(CROSSRANK_SANITIZE)
  set(CROSSRANK_SANITIZER_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=all)
  # -O2 keeps the ava suite (MiniLM parity included) within its timeouts;
  # frame pointers and -g keep the reports readable.
  add_compile_options(${CROSSRANK_SANITIZER_FLAGS} -fno-omit-frame-pointer -g -O2)
  add_link_options(${CROSSRANK_SANITIZER_FLAGS})
  if(CROSSRANK_BUILD_FUZZERS)
    add_compile_options(-fsanitize=fuzzer-no-link)
  endif()
endif()
