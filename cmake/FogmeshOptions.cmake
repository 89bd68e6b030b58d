# Warnings, sanitizers and the helper that declares a unit-test executable.
add_library(fogmesh_warnings INTERFACE)
target_compile_options(fogmesh_warnings INTERFACE -Wall -Wextra -Wpedantic
  $<$<BOOL:${FOGMESH_WERROR}>:-Werror>)

if(FOGMESH_BUILD_FUZZERS)
  # Everything linked into a fuzz target carries coverage instrumentation.
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
  # Executables that are not fuzz targets (if someone builds them here) still link.
  add_link_options(-fsanitize=address,undefined)
elseif(FOGMESH_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# fogmesh_add_test(NAME name SOURCES ... LIBS ... LABELS ...)
# One executable per test file keeps a broken test from hiding the others.
function(fogmesh_add_test)
  cmake_parse_arguments(T "" "NAME" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} GTest::gtest_main GTest::gmock fogmesh_warnings)
  gtest_discover_tests(${T_NAME} DISCOVERY_TIMEOUT 60 PROPERTIES LABELS "${T_LABELS}")
endfunction()
