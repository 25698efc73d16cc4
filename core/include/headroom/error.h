// Errors that cross the core's API.
//
// Every failure the user can act on is thrown as headroom::Error. Its kind decides the exit code
// of the CLI (docs/contracts.md): InvalidInput -> 2 (bad flag, config, model or dataset),
// RuntimeFailure -> 1 (out of memory, disk full, interrupted). The message names the file, field
// or line and says what would be valid; front ends print it as "error: <message>".
#pragma once

#include <stdexcept>
#include <string>

namespace headroom {

enum class ErrorKind { InvalidInput, RuntimeFailure };

class Error : public std::runtime_error {
public:
    Error(ErrorKind kind, const std::string &message) : std::runtime_error(message), m_kind(kind) {}
    ErrorKind kind() const { return m_kind; }
    int exitCode() const { return m_kind == ErrorKind::InvalidInput ? 2 : 1; }

private:
    ErrorKind m_kind;
};

inline Error invalidInput(const std::string &message) { return Error(ErrorKind::InvalidInput, message); }
inline Error runtimeFailure(const std::string &message) { return Error(ErrorKind::RuntimeFailure, message); }

} // namespace headroom
