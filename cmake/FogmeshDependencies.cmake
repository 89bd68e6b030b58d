# All third-party dependencies, found once. Debian 12 packages only (scripts/install-deps.sh).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(spdlog REQUIRED CONFIG)
find_package(fmt REQUIRED CONFIG)
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

# Logging for every component. With FOGMESH_STATIC_ROUTER, spdlog's implementation is compiled
# into fogmesh_common (common/src/spdlog_compiled.cpp) and fmt is header-only, so fogmesh-router
# and fogmesh-proxy need no shared C++ library and link libstdc++, OpenSSL, libsodium and liburing
# statically (fogmesh_link_static_runtime). A shared library costs its relocation and symbol
# tables in resident memory whether or not its code runs (about 3.6 MiB for these seven), and an
# edge router is meant to idle in a few MiB. The price: OpenSSL security updates reach these
# binaries by rebuilding them, not through Debian's libssl3 alone.
option(FOGMESH_STATIC_ROUTER "Link fogmesh-router and fogmesh-proxy without shared C++ libraries" OFF)
add_library(fogmesh_logging INTERFACE)
if(FOGMESH_STATIC_ROUTER)
  target_compile_definitions(fogmesh_logging INTERFACE SPDLOG_COMPILED_LIB SPDLOG_FMT_EXTERNAL)
  target_link_libraries(fogmesh_logging INTERFACE fmt::fmt-header-only Threads::Threads)
else()
  target_link_libraries(fogmesh_logging INTERFACE spdlog::spdlog)
endif()

# fogmesh_link_static_runtime(TARGET): with FOGMESH_STATIC_ROUTER, resolves TARGET's C and C++
# runtime dependencies from static archives. The linker takes each symbol from the first library
# on the line that defines it, so the archives go right after our own static libraries (named
# again here: CMake lists a target's transitive libraries after its direct ones) and before the
# shared libraries those name, which --as-needed then leaves out.
function(fogmesh_link_static_runtime target)
  if(NOT FOGMESH_STATIC_ROUTER)
    return()
  endif()
  set(archives)
  foreach(lib uring sodium ssl crypto)
    find_library(FOGMESH_STATIC_${lib} NAMES lib${lib}.a REQUIRED)
    list(APPEND archives ${FOGMESH_STATIC_${lib}})
  endforeach()
  target_link_libraries(${target} PRIVATE fogmesh_router fogmesh_common ${archives})
  # RELR packs the relocations of a static OpenSSL's function tables (576 KiB of RELA, read at
  # every start) into 7 KiB; --gc-sections drops the archives' unreferenced sections (-1 MiB of
  # text, -150 KiB idle RSS).
  target_link_options(${target} PRIVATE -static-libstdc++ -static-libgcc -Wl,--as-needed
                      -Wl,-z,pack-relative-relocs -Wl,--gc-sections)
endfunction()

if(FOGMESH_BUILD_TESTS)
  find_package(GTest REQUIRED CONFIG)
endif()
if(FOGMESH_BUILD_BENCHMARKS)
  find_package(benchmark REQUIRED CONFIG)
endif()
