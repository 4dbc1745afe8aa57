# Cross build for arm64 (Debian's name; GNU triplet aarch64-linux-gnu) with
# Debian's cross compiler (gcc-aarch64-linux-gnu) and the arm64 libraries
# of multiarch (libbpf-dev:arm64 ...), as scripts/deps.sh cross installs:
#   cmake -S . -B build-static-arm64 -DNM_STATIC=ON \
#         -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-arm64.cmake
# CMAKE_SYSTEM_PROCESSOR is what CMakeLists.txt derives the BPF target
# arch from; nothing else here knows about BPF.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(NM_TRIPLET aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${NM_TRIPLET}-gcc)
# The target's .pc files only: the host's would hand out x86-64 libraries.
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/${NM_TRIPLET}/pkgconfig:/usr/share/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "")
# Build tools (clang -target bpf, bpftool) run on the host.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
