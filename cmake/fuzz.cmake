# libFuzzer targets (see cmake/sanitizers.cmake for the flags they share).
# Each links the instrumented engine; native/fuzz/corpus/<target>/ holds its
# seed inputs and scripts/fuzz.sh runs them.
if(CROSSRANK_BUILD_FUZZERS)
  foreach(fuzz_target safetensors_fuzz config_fuzz engine_batch_fuzz)
    add_executable(${fuzz_target} native/fuzz/${fuzz_target}.cc)
    target_link_libraries(${fuzz_target} PRIVATE crossrank_core)
    target_link_options(${fuzz_target} PRIVATE -fsanitize=fuzzer)
    target_compile_definitions(${fuzz_target} PRIVATE CROSSRANK_SOURCE_DIR="${CMAKE_CURRENT_SOURCE_DIR}")
  endforeach()
endif()
