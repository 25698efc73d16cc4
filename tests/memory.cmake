# The memory estimator: formulas against hand-computed numbers and the real optimizer/model
# (unit), and the estimate against the counting allocator over real training steps (model).
headroom_add_test(memory_estimate_test unit memory_estimate_test.cpp)
headroom_add_test(memory_agreement_test model memory_agreement_test.cpp)
add_dependencies(memory_estimate_test headroom-cli)
# Budgets met on purpose: find-batch, out-of-memory recovery while training, the step's timeline.
headroom_add_test(memory_limits_test model memory_limits_test.cpp)
