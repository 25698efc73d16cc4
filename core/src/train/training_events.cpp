#include "headroom/training_events.h"

#include "headroom/byte_size.h"

namespace headroom {

nlohmann::json StepEvent::toJson() const {
    nlohmann::json json = {{"step", step},
                           {"epoch", epoch},
                           {"loss", loss},
                           {"lr", learningRate},
                           {"grad_norm", gradNorm},
                           {"tokens", tokens},
                           {"tokens_per_s", tokensPerSecond},
                           {"loss_scale", lossScale},
                           {"elapsed_s", elapsedSeconds},
                           {"memory", memory.toJson()}};
    if (!runId.empty())
        json["run_id"] = runId;
    return json;
}

std::string OutOfMemoryEvent::describe() const {
    std::string text = (step > 0 ? "in step " + std::to_string(step) : std::string("while loading the model")) + ": " +
                       category + " crossed the budget of " + formatBytes(budgetBytes) +
                       " (weights, adapters, gradients and optimizer take " + formatBytes(fixedBytes) + ")";
    if (change.empty())
        return text + "; no change of micro-batch, sequence length, checkpointing or quantization fits";
    text += "; " +
            std::string(applied        ? "continuing with "
                        : needsRestart ? "a fresh run fits with "
                                       : "fits with ") +
            change;
    if (!applied) {
        std::string sets;
        for (const auto &[key, value] : overrides.items())
            sets += " --set " + key + "=" + (value.is_string() ? value.get<std::string>() : value.dump());
        text += needsRestart ? " (train again with" + sets + ")" : " (continue: train --resume" + sets + ")";
    }
    return text;
}

nlohmann::json EvalEvent::toJson() const {
    nlohmann::json json = {{"step", step}, {"eval_loss", evalLoss}};
    if (!runId.empty())
        json["run_id"] = runId;
    return json;
}

std::string DivergenceEvent::describe() const {
    const std::string steps = firstStep == step ? "step " + std::to_string(step)
                                                : "steps " + std::to_string(firstStep) + "-" + std::to_string(step);
    std::string text = "at step " + std::to_string(step) + ": ";
    if (what == "adapter weights")
        text += "the adapter weights were NaN or infinite after step " + std::to_string(step);
    else
        text += "the " + what + (what == "loss" ? " was" : " were") + " NaN or infinite in " + steps +
                (weightsFinite ? "" : ", and the adapter weights are no longer finite");
    text += "; " + hint + "; no adapter was written";
    text += lastCheckpoint.empty() ? ", and no checkpoint of this run was written before it"
                                   : "; the last finite checkpoint is " + lastCheckpoint + " (train --resume " +
                                         lastCheckpoint + " with that change)";
    return text;
}

void TrainingControl::requestPause() { m_paused = true; }

void TrainingControl::requestResume() {
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_paused = false;
    }
    m_wake.notify_all();
}

void TrainingControl::requestStop() {
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_stop = true;
    }
    m_wake.notify_all();
}

bool TrainingControl::waitWhilePaused() {
    std::unique_lock<std::mutex> lock(m_mutex);
    m_wake.wait(lock, [this] { return !m_paused.load() || m_stop.load(); });
    return !m_stop.load();
}

} // namespace headroom
