// A fatal signal (a fault in LibTorch, CUDA, NCCL or our own code) ends a process without a word,
// and output still buffered for a pipe is lost with it. installCrashReport() makes such an end say
// what happened: one "error: " line on stderr naming the command and the signal, then a backtrace;
// the signal then ends the process as it would have (same exit status).
#pragma once

namespace headroom::cli {

void installCrashReport(int argc, char **argv);

} // namespace headroom::cli
