# The CUDA kernels' parity test: plain C++ (no Qt Test, no LibTorch) so it also builds and runs on
# GPU servers without them, through kernels/CMakeLists.txt's standalone project. Exit code 77 (no
# CUDA device) is reported as skipped. Included from tests/CMakeLists.txt (with the rest of the
# suite) and from kernels/CMakeLists.txt (standalone); a no-op where the kernels are not built.
if(NOT TARGET headroom_kernels)
  return()
endif()
add_executable(kernels_test ${CMAKE_CURRENT_LIST_DIR}/kernels_test.cpp ${CMAKE_CURRENT_LIST_DIR}/kernels_test_reference.cpp)
target_link_libraries(kernels_test PRIVATE headroom_kernels)
# No FMA contraction on the host either: the references round every operation as written.
target_compile_options(kernels_test PRIVATE -Wall -Wextra -ffp-contract=off)
add_test(NAME kernels_test COMMAND kernels_test)
set_tests_properties(kernels_test PROPERTIES LABELS gpu SKIP_RETURN_CODE 77)
