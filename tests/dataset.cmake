headroom_add_test(train_config_test unit train_config_test.cpp BASE_ONLY)
headroom_add_test(dataset_test unit dataset_test.cpp BASE_ONLY)
