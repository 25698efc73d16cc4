# Data-parallel training through the built headroom-cli (Gloo on CPU): 2 processes against 1 with
# double accumulation, resume across world sizes, a killed rank, a rank left alone.
headroom_add_test(distributed_test model distributed_test.cpp)
add_dependencies(distributed_test headroom-cli)
set_tests_properties(distributed_test PROPERTIES TIMEOUT 300)
if(NOT HEADROOM_DISTRIBUTED)
  target_compile_definitions(distributed_test PRIVATE HEADROOM_DISTRIBUTED_OFF=1)
endif()
