# Builds the prebuilt addon with zig's clang against an old glibc, so one
# binary loads on every Linux from glibc 2.28 on (RHEL 8, Debian 10+, Ubuntu
# 20.04+); building on an old distribution is not possible on the build
# machines. zig links its own libc++ statically, so the addon needs no
# libstdc++ (no GLIBCXX_ symbols) either. scripts/prebuild.sh passes:
#   -DCROSSRANK_ZIG=/path/to/zig -DCROSSRANK_ZIG_TARGET=x86_64-linux-gnu.2.28
# (or aarch64-linux-gnu.2.28).
set(CMAKE_TRY_COMPILE_PLATFORM_VARIABLES CROSSRANK_ZIG CROSSRANK_ZIG_TARGET)
if(NOT CROSSRANK_ZIG OR NOT CROSSRANK_ZIG_TARGET)
  message(FATAL_ERROR "cmake/zig-linux-gnu.cmake needs -DCROSSRANK_ZIG=<zig executable> "
                      "and -DCROSSRANK_ZIG_TARGET=<arch>-linux-gnu.<glibc version>")
endif()

set(CMAKE_SYSTEM_NAME Linux)
string(REGEX MATCH "^[^-]+" CMAKE_SYSTEM_PROCESSOR "${CROSSRANK_ZIG_TARGET}")

set(CMAKE_C_COMPILER "${CROSSRANK_ZIG}" cc -target ${CROSSRANK_ZIG_TARGET})
set(CMAKE_CXX_COMPILER "${CROSSRANK_ZIG}" c++ -target ${CROSSRANK_ZIG_TARGET})
# A shipped binary carries no debug symbols.
set(CMAKE_SHARED_LINKER_FLAGS_INIT "-s")

# Nothing of the build machine's own libraries may be linked in.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
