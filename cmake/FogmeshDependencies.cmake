# All third-party dependencies, found once. Debian 12 packages only (scripts/install-deps.sh).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(spdlog REQUIRED CONFIG)
pkg_check_modules(URING REQUIRED IMPORTED_TARGET liburing)
pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium)

# Debian 12's Proton .pc files point at /usr/lib/include and it ships no CMake config:
# find the libraries by name instead.
# libqpid-proton.so is the C library with core + proactor (the split .so files have no dev links).
find_library(PROTON_C_LIB qpid-proton REQUIRED)
find_library(PROTON_CPP_LIB qpid-proton-cpp REQUIRED)
find_path(PROTON_INCLUDE_DIR proton/codec.h REQUIRED)
add_library(Proton::c UNKNOWN IMPORTED)
set_target_properties(Proton::c PROPERTIES IMPORTED_LOCATION ${PROTON_C_LIB}
  INTERFACE_INCLUDE_DIRECTORIES ${PROTON_INCLUDE_DIR})
add_library(Proton::cpp UNKNOWN IMPORTED)
set_target_properties(Proton::cpp PROPERTIES IMPORTED_LOCATION ${PROTON_CPP_LIB}
  INTERFACE_INCLUDE_DIRECTORIES ${PROTON_INCLUDE_DIR})

if(FOGMESH_BUILD_TESTS)
  find_package(GTest REQUIRED CONFIG)
endif()
if(FOGMESH_BUILD_BENCHMARKS)
  find_package(benchmark REQUIRED CONFIG)
endif()
