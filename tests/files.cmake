# Folder trees (io/file_tree.h): removal and size, and no std::filesystem remove_all in the code.
headroom_add_test(file_tree_test unit file_tree_test.cpp BASE_ONLY)
add_test(NAME engine_avoids_std_filesystem_tree_calls
  COMMAND ${CMAKE_COMMAND} -DROOT=${PROJECT_SOURCE_DIR} -P ${CMAKE_CURRENT_SOURCE_DIR}/tools/check_filesystem_calls.cmake)
set_tests_properties(engine_avoids_std_filesystem_tree_calls PROPERTIES LABELS unit)
# The staged output (io/staged_output.h) behind checkpoints, adapters, exports and the demo.
headroom_add_test(io_test unit io_test.cpp BASE_ONLY)
