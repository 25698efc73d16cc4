// ModelConfig against the config.json forms of each supported family: the bundled hub configs
// (parameter counts against the published figures, the features each family's rules derive),
// transformers 5's spellings, and a clear refusal, naming the field and the supported values, of
// what the engine does not implement.
#include "config/model_layout.h"
#include "headroom/error.h"
#include "headroom/memory_estimate.h"
#include "headroom/model_config.h"
#include "headroom/safetensors.h"

#include <QtTest/QtTest>

#include <cmath>

#include <nlohmann/json.hpp>

using namespace headroom;

namespace {

QString errorOf(const nlohmann::json &config) {
    try {
        ModelConfig::fromJson(config, "config.json");
    } catch (const Error &error) {
        return QString::fromStdString(error.what());
    }
    return "no error";
}

// A small valid config of `architecture` (the family's own field names).
nlohmann::json smallConfig(const std::string &architecture, const std::string &modelType) {
    return {{"architectures", {architecture}}, {"model_type", modelType}, {"hidden_size", 64},
            {"intermediate_size", 128},        {"num_hidden_layers", 4},  {"num_attention_heads", 4},
            {"num_key_value_heads", 2},        {"vocab_size", 100},       {"head_dim", 16}};
}

std::vector<bool> slidingLayers(const ModelConfig &c) {
    std::vector<bool> out;
    for (int64_t i = 0; i < c.numLayers; ++i)
        out.push_back(c.slidingLayer(i));
    return out;
}

} // namespace

class ModelConfigTest : public QObject {
    Q_OBJECT

private slots:
    // Counts by the formula of resources/model-configs/README.md (computed there in Python) equal
    // the exact figures the model cards or KerasHub publish; Gemma 3 4B's is the text model's.
    void bundledConfigsCountThePublishedParameters_data() {
        QTest::addColumn<QString>("name");
        QTest::addColumn<qint64>("parameters");
        QTest::newRow("qwen3-0.6b") << "qwen3-0.6b" << qint64(596049920);
        QTest::newRow("qwen3-1.7b") << "qwen3-1.7b" << qint64(1720574976);
        QTest::newRow("qwen3-4b") << "qwen3-4b" << qint64(4022468096);
        QTest::newRow("qwen3-8b") << "qwen3-8b" << qint64(8190735360);
        QTest::newRow("gemma-3-270m") << "gemma-3-270m" << qint64(268098176);
        QTest::newRow("gemma-3-1b") << "gemma-3-1b" << qint64(999885952);
        QTest::newRow("gemma-3-4b") << "gemma-3-4b" << qint64(3880263168);
        QTest::newRow("gemma-2-2b") << "gemma-2-2b" << qint64(2614341888);
        QTest::newRow("smollm3-3b") << "smollm3-3b" << qint64(3075098624);
        QTest::newRow("phi-4-mini") << "phi-4-mini" << qint64(3836021760);
    }
    void bundledConfigsCountThePublishedParameters() {
        QFETCH(QString, name);
        QFETCH(qint64, parameters);
        QCOMPARE(qint64(bundledModelConfig(name.toStdString()).totalParameters()), parameters);
    }

    void qwen3HasQkNormAndItsOwnHeadDim() {
        const auto c = bundledModelConfig("qwen3-0.6b");
        QVERIFY(c.qkNorm);
        QCOMPARE(c.headDim, int64_t(128)); // hidden 1024 / 16 heads would be 64
        QVERIFY(c.tieWordEmbeddings);
        QVERIFY(!c.slidingWindow); // use_sliding_window false
        QCOMPARE(linearModules(c).size(), size_t(7));
    }

    // Gemma 3 1B: full attention on every 6th layer (5, 11, 17, 23), a 512 window elsewhere, the
    // local RoPE base on sliding layers.
    void gemma3LayerTypesFollowTheSlidingWindowPattern() {
        const auto c = bundledModelConfig("gemma-3-1b");
        QVERIFY(c.gemmaNorm && c.sandwichNorms && c.scaleEmbeddings && c.qkNorm);
        QCOMPARE(c.activation, Activation::GeluTanh);
        QCOMPARE(*c.slidingWindow, int64_t(512));
        for (int64_t i = 0; i < c.numLayers; ++i)
            QCOMPARE(c.slidingLayer(i), (i + 1) % 6 != 0);
        QCOMPARE(*c.ropeLocalTheta, 10000.0);
        QCOMPARE(c.attentionScale(), 1.0 / 16.0); // query_pre_attn_scalar 256
        QVERIFY(!c.attnLogitSoftcap && !c.finalLogitSoftcap);
    }

    // The hub's Gemma 3 4B file nests a text_config that leaves most fields to Gemma3TextConfig.
    void gemma3MultimodalReadsTheTextConfigOverItsDefaults() {
        const auto c = bundledModelConfig("gemma-3-4b");
        QCOMPARE(c.modelType, std::string("gemma3_text"));
        QCOMPARE(c.vocabSize, int64_t(262208)); // default
        QCOMPARE(c.numHeads, int64_t(8)); // default
        QCOMPARE(c.headDim, int64_t(256)); // default
        QCOMPARE(*c.slidingWindow, int64_t(1024));
        QCOMPARE(c.ropeScaling.type, RopeScaling::Type::Linear);
        QCOMPARE(c.ropeScaling.factor, 8.0);
        QCOMPARE(c.checkpointPrefix, std::string("language_model.model."));
        QCOMPARE(c.modulePrefix, std::string("model.language_model."));
        QCOMPARE(checkpointModulePath(c, 3, "q_proj"), std::string("language_model.model.layers.3.self_attn.q_proj"));
        QCOMPARE(peftModulePath(c, 3, "down_proj"), std::string("model.language_model.layers.3.mlp.down_proj"));
    }

    void gemma2AppliesItsDefaultSoftCapsAndAlternates() {
        const auto c = bundledModelConfig("gemma-2-2b");
        QCOMPARE(*c.attnLogitSoftcap, 50.0);
        QCOMPARE(*c.finalLogitSoftcap, 30.0);
        QVERIFY(!c.qkNorm);
        for (int64_t i = 0; i < c.numLayers; ++i)
            QCOMPARE(c.slidingLayer(i), i % 2 == 0);
    }

    // SmolLM3-3B's file has no no_rope_layers: every 4th layer skips RoPE (no_rope_layer_interval).
    void smolLm3SkipsRopeOnEveryFourthLayer() {
        const auto c = bundledModelConfig("smollm3-3b");
        int64_t without = 0;
        for (int64_t i = 0; i < c.numLayers; ++i) {
            QCOMPARE(c.usesRope(i), (i + 1) % 4 != 0);
            without += !c.usesRope(i);
        }
        QCOMPARE(without, int64_t(9));
        QCOMPARE(c.ropeTheta, 5000000.0); // the file's, not the class default 2e6
    }

    // Phi-4-mini: rotary over 96 of 128 dims; longrope with the factor from
    // max_position_embeddings / original_max_position_embeddings = 131072 / 4096 = 32 and the
    // attention factor sqrt(1 + ln 32 / ln 4096) (transformers' _compute_longrope_parameters).
    void phi4MiniHasFusedProjectionsPartialRopeAndLongrope() {
        const auto c = bundledModelConfig("phi-4-mini");
        QVERIFY(c.fusedProjections);
        QCOMPARE(c.rotaryDim(), int64_t(96));
        QCOMPARE(c.ropeScaling.type, RopeScaling::Type::LongRope);
        QCOMPARE(c.ropeScaling.shortFactor.size(), size_t(48));
        QCOMPARE(c.ropeScaling.originalMaxPositions, int64_t(4096));
        QVERIFY(std::abs(c.ropeScaling.attentionFactor - std::sqrt(1 + std::log(32.0) / std::log(4096.0))) < 1e-12);
        QCOMPARE(linearModules(c), (std::vector<std::string>{"qkv_proj", "o_proj", "gate_up_proj", "down_proj"}));
        QCOMPARE(moduleShape(c, "qkv_proj"), (std::pair<int64_t, int64_t>{3072, (24 + 2 * 8) * 128}));
    }

    // transformers 5 writes rope_parameters (rope_theta inside; for Gemma 3 one per layer type)
    // and dtype instead of torch_dtype.
    void readsTransformers5Spellings() {
        auto qwen = smallConfig("Qwen3ForCausalLM", "qwen3");
        qwen["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 1000000.0}};
        qwen["dtype"] = "bfloat16";
        const auto q = ModelConfig::fromJson(qwen, "config.json");
        QCOMPARE(q.ropeTheta, 1000000.0);
        QCOMPARE(q.torchDtype, std::string("bfloat16"));

        auto gemma = smallConfig("Gemma3ForCausalLM", "gemma3_text");
        gemma["layer_types"] = {"sliding_attention", "full_attention", "sliding_attention", "full_attention"};
        gemma["rope_parameters"] = {
            {"full_attention", {{"rope_type", "linear"}, {"factor", 8.0}, {"rope_theta", 1000000.0}}},
            {"sliding_attention", {{"rope_type", "default"}, {"rope_theta", 10000.0}}}};
        const auto g = ModelConfig::fromJson(gemma, "config.json");
        QCOMPARE(g.ropeTheta, 1000000.0);
        QCOMPARE(g.ropeScaling.type, RopeScaling::Type::Linear);
        QCOMPARE(*g.ropeLocalTheta, 10000.0);
        QCOMPARE(slidingLayers(g), (std::vector<bool>{true, false, true, false}));
    }

    void refusesWhatTheEngineDoesNotImplement_data() {
        QTest::addColumn<QString>("json");
        QTest::addColumn<QString>("message");
        auto row = [](const char *name, const nlohmann::json &config, const char *message) {
            QTest::newRow(name) << QString::fromStdString(config.dump()) << QString(message);
        };
        row("unknown architecture", smallConfig("FalconForCausalLM", "falcon"),
            "architecture 'FalconForCausalLM' is not supported (supported: LlamaForCausalLM,");
        row("model_type of another family", smallConfig("Qwen3ForCausalLM", "qwen2"),
            "model_type \"qwen2\" is not supported for Qwen3ForCausalLM (supported: \"qwen3\")");
        auto layerTypes = smallConfig("Gemma3ForCausalLM", "gemma3_text");
        layerTypes["layer_types"] = {"sliding_attention", "chunked_attention", "full_attention", "full_attention"};
        row("unknown layer type", layerTypes,
            "layer_types[1] 'chunked_attention' is not supported (supported: full_attention, sliding_attention)");
        auto shortTypes = smallConfig("Qwen3ForCausalLM", "qwen3");
        shortTypes["layer_types"] = {"full_attention"};
        row("layer_types too short", shortTypes, "'layer_types' must list one entry per layer (4)");
        auto yarn = smallConfig("Qwen3ForCausalLM", "qwen3");
        yarn["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
        row("yarn", yarn, "rope type 'yarn' is not supported (supported: default, linear, llama3, longrope)");
        auto longrope = smallConfig("Phi3ForCausalLM", "phi3");
        longrope["rope_scaling"] = {{"type", "longrope"}, {"short_factor", {1.0, 1.0}}, {"long_factor", {1.0, 1.0}}};
        row("longrope factors of the wrong length", longrope,
            "'short_factor' has 2 entries; the rotary width 16 needs 8");
        auto noRope = smallConfig("SmolLM3ForCausalLM", "smollm3");
        noRope["no_rope_layers"] = {1, 1, 2, 0};
        row("no_rope_layers entry", noRope, "no_rope_layers[2] must be 0 or 1, got 2");
        auto gelu = smallConfig("Gemma2ForCausalLM", "gemma2");
        gelu["hidden_activation"] = "relu";
        row("activation", gelu, "hidden_activation 'relu' is not supported (supported: silu, gelu_pytorch_tanh)");
        row("multimodal without text_config", {{"architectures", {"Gemma3ForConditionalGeneration"}}},
            "missing 'text_config'");
        auto partial = smallConfig("Phi3ForCausalLM", "phi3");
        partial["partial_rotary_factor"] = 0.2; // int(16 x 0.2) = 3
        row("odd rotary width", partial, "head_dim x partial_rotary_factor must be a positive even number");
    }
    void refusesWhatTheEngineDoesNotImplement() {
        QFETCH(QString, json);
        QFETCH(QString, message);
        const QString error = errorOf(nlohmann::json::parse(json.toStdString()));
        QVERIFY2(error.startsWith("config.json") && error.contains(message), qPrintable(error));
    }

    // The vision tower of a multimodal checkpoint is listed, not silently dropped; a 4-bit
    // checkpoint's companions of a weight (W.absmax, ...) and a tied model's stored lm_head count as read.
    void listsTheTensorsTheEngineDoesNotRead() {
        const auto dir = qEnvironmentVariable("HEADROOM_TEST_DATA").toStdString() + "/models/gemma3_conditional_bf16";
        const auto config = ModelConfig::fromFile(dir + "/config.json");
        const auto stored = SafetensorsCheckpoint::openDir(dir).names();
        auto unused = unusedTensors(config, stored);
        QCOMPARE(unused.size(), size_t(7));
        for (const auto &name : unused)
            QVERIFY2(name.rfind("vision_tower.", 0) == 0 || name.rfind("multi_modal_projector.", 0) == 0, name.c_str());
        const std::string q = "language_model.model.layers.0.self_attn.q_proj.weight";
        QVERIFY(unusedTensors(config, {q, q + ".absmax", "language_model.lm_head.weight"}).empty());
        QCOMPARE(unusedTensors(config, {"model.layers.0.self_attn.rotary_emb.inv_freq"}).size(), size_t(1));
    }
};

QTEST_APPLESS_MAIN(ModelConfigTest)
#include "model_config_test.moc"
