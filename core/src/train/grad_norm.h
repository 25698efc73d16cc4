// Gradient clipping as torch.nn.utils.clip_grad_norm_ does it: the global L2 norm is the norm of
// the per-tensor norms, and gradients above `maxNorm` are scaled by maxNorm / (norm + 1e-6). Both
// use LibTorch's multi-tensor (_foreach) operations: a handful of kernels on CUDA for any number of
// adapter tensors, and one read-back of the norm per step.
#pragma once

#include <vector>

#include <torch/torch.h>

#include "headroom/mixed_precision.h"

namespace headroom {

// The gradients' global L2 norm, accumulated in float64 over the per-tensor norms. Not finite when
// any gradient holds an inf or NaN: the trainer skips such a step (as the loss scaler's check would).
double globalGradNorm(const std::vector<torch::Tensor> &grads);

// Scales the gradients by maxNorm / (norm + 1e-6) when maxNorm > 0 and norm is above it.
void clipGradients(const std::vector<torch::Tensor> &grads, double norm, double maxNorm);

// A step's gradients made ready for the optimizer: unscaled (fp16's loss scaling), their global norm
// stored in `norm`, clipped to `maxNorm`. False, with nothing clipped, when they hold an inf or NaN:
// the trainer then skips the step and the scaler backs off.
bool prepareGradients(const std::vector<torch::Tensor> &grads, const LossScaler &scaler, double maxNorm, double &norm);

} // namespace headroom
