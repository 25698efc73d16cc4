headroom_add_test(model_parity_test model model_parity_test.cpp)
headroom_add_test(qlora_test model qlora_test.cpp)
