#include "bench_sweep.h"

#include "headroom/bench.h"

#include <exception>

namespace {

// "checkpointing on, micro-batch 2" from {"training.gradient_checkpointing": true, ...}
QString describe(const nlohmann::json &settings) {
    QStringList parts;
    for (const auto &[path, value] : settings.items()) {
        if (path == "training.gradient_checkpointing")
            parts << QString("checkpointing %1").arg(value.get<bool>() ? "on" : "off");
        else if (path == "training.per_device_train_batch_size")
            parts << QString("micro-batch %1").arg(value.get<int64_t>());
        else if (path == "attn_implementation")
            parts << QString("%1 attention").arg(QString::fromStdString(value.get<std::string>()));
        else if (path != "training.bf16" && path != "training.fp16" && path != "quantization.bnb_4bit_compute_dtype")
            parts << QString::fromStdString(path + " " + value.dump());
    }
    if (settings.contains("training.bf16") || settings.contains("training.fp16"))
        parts.prepend(settings.value("training.fp16", false)   ? "fp16"
                      : settings.value("training.bf16", false) ? "bf16"
                                                               : "fp32");
    return parts.join(", ");
}

} // namespace

QList<BenchSweep> BenchSweep::builtIn() {
    BenchSweep checkpointing{QObject::tr("Checkpointing on/off x micro-batch 1, 2, 4"), {}};
    for (const char *on : {"true", "false"})
        for (int micro : {1, 2, 4})
            checkpointing.settings
                << QString(R"({"training.gradient_checkpointing": %1, "training.per_device_train_batch_size": %2})")
                       .arg(on)
                       .arg(micro);
    // The compute dtype with the precision, as TrainConfig::setPrecision() sets them.
    BenchSweep precision{
        QObject::tr("Precision fp32 / bf16"),
        {R"({"training.bf16": false, "training.fp16": false, "quantization.bnb_4bit_compute_dtype": "float32"})",
         R"({"training.bf16": true, "training.fp16": false, "quantization.bnb_4bit_compute_dtype": "bfloat16"})"}};
    BenchSweep attention{QObject::tr("Attention eager / sdpa x checkpointing on/off"), {}};
    for (const char *implementation : {"eager", "sdpa"})
        for (const char *on : {"true", "false"})
            attention.settings << QString(R"({"attn_implementation": "%1", "training.gradient_checkpointing": %2})")
                                      .arg(implementation)
                                      .arg(on);
    return {checkpointing, precision, attention};
}

BenchSweepWorker::BenchSweepWorker(QObject *parent) : QObject(parent) { qRegisterMetaType<BenchPoint>(); }

void BenchSweepWorker::run(const headroom::TrainConfig &base, const BenchSweep &sweep, int steps, int warmupSteps) {
    m_cancelled = false;
    try {
        for (const QString &text : sweep.settings) {
            if (m_cancelled)
                break;
            const nlohmann::json settings = nlohmann::json::parse(text.toStdString());
            headroom::TrainConfig config = base;
            config.applyOverrides(settings);
            const headroom::BenchRow row =
                headroom::benchTraining(config, config.dataset.maxSeqLength, steps, warmupSteps, settings);
            emit rowDone({describe(settings), text, row.tokensPerSecond, row.stepSeconds, row.peakBytes,
                          QString::fromStdString(row.error)});
        }
        emit finished();
    } catch (const std::exception &error) {
        emit failed(QString::fromStdString(error.what()));
    }
}
