# End-to-end tests of headroom-cli: runs the built binary on good and bad input and checks exit codes
# and the "error: " line (docs/contracts.md).
headroom_add_test(cli_test unit cli_test.cpp)
add_dependencies(cli_test headroom-cli)
