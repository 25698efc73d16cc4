// Helpers shared by the tests: where the fixtures are, and reading fixture tensors into LibTorch.
#pragma once

#include <QElapsedTimer>
#include <QProcess>
#include <QString>
#include <QtTest/QtTest>

#include <torch/torch.h>

#include "headroom/demo.h"
#include "headroom/safetensors.h"
#include "headroom/train_config.h"
#include "headroom/training_events.h"

namespace headroom::test {

inline QString dataPath(const QString &relative) { return qEnvironmentVariable("HEADROOM_TEST_DATA") + "/" + relative; }

inline QString binPath(const QString &binary) { return qEnvironmentVariable("HEADROOM_BIN_DIR") + "/" + binary; }

// Reads a running process's stderr until it contains `needle`, the process ends, or `timeoutMs`
// passes; returns what it read (e.g. to act once a training run has logged its first step).
inline QString readStderrUntil(QProcess &process, const QString &needle, int timeoutMs) {
    QString err;
    QElapsedTimer clock;
    clock.start();
    while (clock.elapsed() < timeoutMs && !err.contains(needle) && process.state() != QProcess::NotRunning) {
        process.waitForReadyRead(200);
        err += QString::fromUtf8(process.readAllStandardError());
    }
    return err;
}

// A small, deterministic fp32 LoRA run on the demo: no validation split, no 4-bit, r 4 without
// dropout, no checkpointing, AdamW without warmup, no checkpoints; tests set what they vary.
inline TrainConfig demoTrainConfig(const DemoPaths &demo, const std::string &outputDir) {
    TrainConfig c;
    c.model = demo.modelDir;
    c.dataset.path = demo.dataset;
    c.dataset.validationSplit = 0;
    c.quantization.loadIn4bit = false;
    c.lora.r = 4;
    c.lora.loraDropout = 0;
    auto &t = c.training;
    t.outputDir = outputDir;
    t.gradientCheckpointing = false;
    t.bf16 = false;
    t.optim = OptimizerKind::AdamWTorch;
    t.warmupRatio = 0;
    t.saveStrategy = "no";
    return c;
}

// Copies tensor `name` out of a safetensors file (test fixtures are small).
inline torch::Tensor readTensor(const SafetensorsFile &file, const std::string &name) {
    const TensorInfo *info = file.find(name);
    if (!info)
        throw std::runtime_error(file.path() + ": no tensor " + name);
    torch::ScalarType type = torch::kFloat32;
    switch (info->dtype) {
    case Dtype::F32: type = torch::kFloat32; break;
    case Dtype::I64: type = torch::kInt64; break;
    case Dtype::I32: type = torch::kInt32; break;
    case Dtype::BF16: type = torch::kBFloat16; break;
    default: throw std::runtime_error("unsupported fixture dtype for " + name);
    }
    return torch::from_blob(const_cast<std::uint8_t *>(file.data(*info)), info->shape, type).clone();
}

// Keeps what a training run reported, for the assertions.
class RecordingObserver : public TrainingObserver {
public:
    std::vector<StepEvent> steps;
    std::vector<int64_t> checkpoints;
    std::vector<OutOfMemoryEvent> outOfMemory;
    void onStep(const StepEvent &e) override { steps.push_back(e); }
    void onCheckpoint(int64_t step, const std::string &) override { checkpoints.push_back(step); }
    void onOutOfMemory(const OutOfMemoryEvent &e) override { outOfMemory.push_back(e); }
};

} // namespace headroom::test
