# Fails when engine, CLI, studio or test code uses std::filesystem's recursive removal or iteration,
# which pip torch's libtorch.so replaces with a copy that crashes (core/src/io/file_tree.h: use
# detail::removeTree / detail::treeBytes; tests may use QDirIterator).
# Usage: cmake -DROOT=<source dir> -P check_filesystem_calls.cmake
file(GLOB_RECURSE sources ${ROOT}/core/*.cpp ${ROOT}/core/*.h ${ROOT}/app/*.cpp ${ROOT}/app/*.h ${ROOT}/ui/*.cpp
     ${ROOT}/ui/*.h ${ROOT}/tests/*.cpp ${ROOT}/tests/*.h)
set(found "")
foreach(source ${sources})
  file(STRINGS ${source} hits REGEX "remove_all|recursive_directory_iterator")
  foreach(hit ${hits})
    string(STRIP "${hit}" hit)
    if(NOT hit MATCHES "^//")
      string(APPEND found "\n  ${source}: ${hit}")
    endif()
  endforeach()
endforeach()
if(found)
  message(FATAL_ERROR "std::filesystem::remove_all / recursive_directory_iterator in the project's code "
                      "(use detail::removeTree / detail::treeBytes, core/src/io/file_tree.h):${found}")
endif()
message(STATUS "no std::filesystem::remove_all or recursive_directory_iterator in ${ROOT}/{core,app,ui,tests}")
