// A JSON file the code under test wrote, for assertions on it.
#pragma once

#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

namespace headroom::test {

inline nlohmann::json readJsonFile(const std::string &path) {
    std::ifstream in(path);
    return nlohmann::json::parse(in);
}

} // namespace headroom::test
