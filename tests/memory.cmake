# The memory estimator: formulas against hand-computed numbers and the real optimizer/model
# (unit), and the estimate against the counting allocator over real training steps (model).
headroom_add_test(memory_estimate_test unit memory_estimate_test.cpp)
headroom_add_test(memory_agreement_test model memory_agreement_test.cpp)
# The newer families' rows (HEADROOM_MEMORY_SWEEP=families) in a process of their own: the
# resident memory outside the allocator grows with the shapes a process has seen.
add_test(NAME memory_agreement_families_test COMMAND memory_agreement_test)
get_test_property(memory_agreement_test ENVIRONMENT agreement_environment)
set_tests_properties(memory_agreement_families_test PROPERTIES LABELS model
                     ENVIRONMENT "${agreement_environment};HEADROOM_MEMORY_SWEEP=families")
add_dependencies(memory_estimate_test headroom-cli)
# Budgets met on purpose: find-batch, out-of-memory recovery while training, the step's timeline.
headroom_add_test(memory_limits_test model memory_limits_test.cpp)
