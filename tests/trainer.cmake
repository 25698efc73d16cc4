headroom_add_test(trainer_test model trainer_test.cpp)
