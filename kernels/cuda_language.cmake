# Enables CUDA for the kernels, with default target architectures: Ampere (sm_80) and Hopper
# (sm_90, which H200 runs too). Two targets keep CI's compile time small; pass
# -DCMAKE_CUDA_ARCHITECTURES=... (e.g. native) for another card.
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES 80 90)
endif()
enable_language(CUDA)
