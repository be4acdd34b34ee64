# Cross build for 64-bit Arm Linux with Debian's cross toolchain
# (apt-get install g++-aarch64-linux-gnu qemu-user). Test binaries run
# under qemu-aarch64 (also through ctest, via CMAKE_CROSSCOMPILING_EMULATOR).
#   cmake -S . -B build/aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(CROSSRANK_CROSS_TRIPLE aarch64-linux-gnu)
set(CROSSRANK_CROSS_SYSROOT /usr/${CROSSRANK_CROSS_TRIPLE})

set(CMAKE_C_COMPILER ${CROSSRANK_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${CROSSRANK_CROSS_TRIPLE}-g++)

# Headers and libraries come from the target's tree only (the host's x86
# libgtest, for one, must not be picked up); programs from the host.
set(CMAKE_FIND_ROOT_PATH ${CROSSRANK_CROSS_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L ${CROSSRANK_CROSS_SYSROOT})
