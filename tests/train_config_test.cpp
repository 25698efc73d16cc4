// Tests of TrainConfig: the field table drives parsing, writing, `--set` and validation, so each is
// checked against the spec's example and against one bad value per rule.
#include "headroom/error.h"
#include "headroom/model_config.h"
#include "headroom/train_config.h"

#include <QTemporaryDir>
#include <QtTest/QtTest>

#include <fstream>

using namespace headroom;

namespace {

// docs/contracts.md's example, verbatim.
const char *kSpecExample = R"({
  "model": "path/to/hf-model-dir",
  "device": "auto",
  "dataset": {"path": "data.jsonl", "format": "auto", "max_seq_length": 512, "packing": false,
              "train_on_prompt": false, "validation_split": 0.05, "chat_template": "auto"},
  "quantization": {"load_in_4bit": true, "bnb_4bit_quant_type": "nf4",
                   "bnb_4bit_compute_dtype": "bfloat16", "bnb_4bit_use_double_quant": true},
  "lora": {"r": 16, "lora_alpha": 32, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"],
           "lora_dropout": 0.05, "bias": "none", "use_rslora": false},
  "training": {"output_dir": "runs/demo", "per_device_train_batch_size": 2,
               "gradient_accumulation_steps": 16, "gradient_checkpointing": true,
               "bf16": true, "fp16": false, "optim": "paged_adamw_8bit", "learning_rate": 2e-4,
               "num_train_epochs": 3, "max_steps": -1, "warmup_ratio": 0.03,
               "lr_scheduler_type": "cosine", "weight_decay": 0.0, "max_grad_norm": 1.0,
               "logging_steps": 10, "eval_steps": 0, "save_strategy": "epoch", "save_steps": 500,
               "save_total_limit": 3, "seed": 42}
})";

TrainConfig validConfig() {
    TrainConfig config;
    config.model = "model";
    config.dataset.path = "data.jsonl";
    return config;
}

// The message of the invalidInput error `action` throws (fails the test if it throws nothing).
template <typename Action>
QString errorOf(Action action) {
    try {
        action();
    } catch (const Error &error) {
        if (error.kind() != ErrorKind::InvalidInput)
            return "wrong error kind: " + QString::fromStdString(error.what());
        return QString::fromStdString(error.what());
    }
    return "no error";
}

void writeFile(const QString &path, const std::string &text) {
    std::ofstream(path.toStdString(), std::ios::binary) << text;
}

} // namespace

class TrainConfigTest : public QObject {
    Q_OBJECT

private slots:
    void defaultsEqualTheSpecExample() {
        const auto spec = nlohmann::json::parse(kSpecExample);
        const auto defaults = TrainConfig().toJson();
        for (const auto &[section, value] : spec.items()) {
            if (section == "model")
                continue; // a placeholder in the spec; no default model
            if (!value.is_object()) {
                QCOMPARE(defaults.at(section), value);
                continue;
            }
            for (const auto &[key, expected] : value.items()) {
                if (section == "dataset" && key == "path")
                    continue;
                QVERIFY2(defaults.at(section).at(key) == expected, (section + "." + key).c_str());
            }
        }
    }

    void specExampleParsesAndValidates() {
        const auto config = TrainConfig::fromJson(nlohmann::json::parse(kSpecExample), "example");
        config.validate();
        QCOMPARE(config.model, std::string("path/to/hf-model-dir"));
        QCOMPARE(config.training.learningRate, 2e-4);
        QCOMPARE(config.lora.targetModules.size(), size_t(4));
        QCOMPARE(config.effectiveBatch(), int64_t(32));
        QCOMPARE(config.effectiveBatch(4), int64_t(128));
    }

    void extensionsHaveTheirDefaults() {
        const TrainConfig config;
        QCOMPARE(config.threads, int64_t(0));
        QCOMPARE(config.dataset.onBadLine, std::string("stop"));
        QCOMPARE(config.quantization.blocksize, int64_t(64));
        QCOMPARE(config.training.warmupSteps, int64_t(0));
        QCOMPARE(config.training.adamBeta1, 0.9);
        QCOMPARE(config.training.adamBeta2, 0.999);
        QCOMPARE(config.training.adamEpsilon, 1e-8);
    }

    // Every field set to a non-default valid value survives toJson -> fromJson.
    void everyFieldRoundTrips() {
        TrainConfig changed = validConfig();
        for (const auto &field : TrainConfig::fields()) {
            nlohmann::json value;
            switch (field.type) {
            case FieldDescriptor::Type::Bool: value = !field.defaultValue().get<bool>(); break;
            case FieldDescriptor::Type::Integer:
                value = field.choices.empty() ? field.defaultValue().get<int64_t>() + 7 : int64_t(128);
                break;
            case FieldDescriptor::Type::Number: value = field.defaultValue().get<double>() / 2 + 0.125; break;
            case FieldDescriptor::Type::String:
                value = "changed/" + field.path;
                for (const auto &choice : field.choices)
                    if (choice != field.defaultValue())
                        value = choice;
                break;
            case FieldDescriptor::Type::StringList: value = {"gate_proj", "down_proj"}; break;
            }
            field.set(changed, value);
            QVERIFY2(field.get(changed) != field.defaultValue() || field.path == "lora.bias", field.path.c_str());
        }
        const auto json = changed.toJson();
        const auto reread = TrainConfig::fromJson(json, "round trip");
        QCOMPARE(reread.toJson(), json);
        for (const auto &field : TrainConfig::fields())
            QVERIFY2(field.get(reread) == field.get(changed), field.path.c_str());
    }

    void allLinearIsWrittenAsTheString() {
        auto config = TrainConfig::fromJson({{"lora", {{"target_modules", "all-linear"}}}}, "test");
        QCOMPARE(config.lora.targetModules, std::vector<std::string>{"all-linear"});
        QCOMPARE(config.toJson()["lora"]["target_modules"], nlohmann::json("all-linear"));
    }

    void everyFieldIsDescribed() {
        for (const auto &field : TrainConfig::fields()) {
            QVERIFY2(field.help.size() > 20 && field.help.back() == '.', field.path.c_str());
            QVERIFY2(field.get && field.set, field.path.c_str());
            QVERIFY(TrainConfig::field(field.path) == &field);
        }
        QVERIFY(!TrainConfig::field("training.nonexistent"));
    }

    void unknownFieldSuggestsTheNearest_data() {
        QTest::addColumn<QString>("json");
        QTest::addColumn<QString>("expected");
        QTest::newRow("typo") << R"({"training": {"learning_rat": 1e-4}})"
                              << "training.learning_rat: unknown field; did you mean training.learning_rate?";
        QTest::newRow("wrong section") << R"({"training": {"lora_alpha": 8}})"
                                       << "training.lora_alpha: unknown field; did you mean lora.lora_alpha?";
        QTest::newRow("section typo") << R"({"trainng": {}})"
                                      << "trainng: unknown field; did you mean training?";
        QTest::newRow("top level") << R"({"modle": "x"})"
                                   << "modle: unknown field; did you mean model?";
        QTest::newRow("in section") << R"({"lora": {"rank": 8}})"
                                    << "lora.rank: unknown field; did you mean lora.r?";
    }

    void unknownFieldSuggestsTheNearest() {
        QFETCH(QString, json);
        QFETCH(QString, expected);
        const QString message =
            errorOf([&] { TrainConfig::fromJson(nlohmann::json::parse(json.toStdString()), "run.json"); });
        QCOMPARE(message, "run.json: " + expected);
    }

    void wrongTypeNamesFieldAndType_data() {
        QTest::addColumn<QString>("json");
        QTest::addColumn<QString>("expected");
        QTest::newRow("string for number") << R"({"training": {"learning_rate": "2e-4"}})"
                                           << "training.learning_rate: expected a number, got \"2e-4\"";
        QTest::newRow("float for integer") << R"({"lora": {"r": 8.5}})"
                                           << "lora.r: expected an integer, got 8.5";
        QTest::newRow("number for bool") << R"({"dataset": {"packing": 1}})"
                                         << "dataset.packing: expected true or false, got 1";
        QTest::newRow("number in list") << R"({"lora": {"target_modules": ["q_proj", 3]}})"
                                        << "lora.target_modules: expected a list of strings or \"all-linear\", "
                                           "got [\"q_proj\",3]";
        QTest::newRow("section not object") << R"({"lora": 3})"
                                            << "lora must be a JSON object, got 3";
    }

    void wrongTypeNamesFieldAndType() {
        QFETCH(QString, json);
        QFETCH(QString, expected);
        const QString message =
            errorOf([&] { TrainConfig::fromJson(nlohmann::json::parse(json.toStdString()), "run.json"); });
        QCOMPARE(message, "run.json: " + expected);
    }

    void eachInvalidSettingNamesItsField_data() {
        QTest::addColumn<QString>("assignment");
        QTest::addColumn<QString>("field");
        QTest::newRow("rank 0") << "lora.r=0"
                                << "lora.r: ";
        QTest::newRow("alpha 0") << "lora.lora_alpha=0"
                                 << "lora.lora_alpha: ";
        QTest::newRow("accumulation 0") << "training.gradient_accumulation_steps=0"
                                        << "training.gradient_accumulation_steps: ";
        QTest::newRow("micro-batch 0") << "training.per_device_train_batch_size=0"
                                       << "training.per_device_train_batch_size: ";
        QTest::newRow("lr 0") << "training.learning_rate=0"
                              << "training.learning_rate: ";
        QTest::newRow("dropout 1") << "lora.lora_dropout=1"
                                   << "lora.lora_dropout: ";
        QTest::newRow("dropout negative") << "lora.lora_dropout=-0.1"
                                          << "lora.lora_dropout: ";
        QTest::newRow("optimizer") << "training.optim=adam"
                                   << "training.optim: ";
        QTest::newRow("scheduler") << "training.lr_scheduler_type=polynomial"
                                   << "training.lr_scheduler_type: ";
        QTest::newRow("fp16 with bf16") << "training.fp16=true"
                                        << "training.fp16 and training.bf16";
        QTest::newRow("quant type") << "quantization.bnb_4bit_quant_type=int4"
                                    << "quantization.bnb_4bit_quant_type: ";
        QTest::newRow("compute dtype") << "quantization.bnb_4bit_compute_dtype=float8"
                                       << "quantization.bnb_4bit_compute_dtype: ";
        QTest::newRow("blocksize") << "quantization.bnb_4bit_blocksize=100"
                                   << "quantization.bnb_4bit_blocksize: ";
        QTest::newRow("sequence 4") << "dataset.max_seq_length=4"
                                    << "dataset.max_seq_length: ";
        QTest::newRow("split 1") << "dataset.validation_split=1"
                                 << "dataset.validation_split: ";
        QTest::newRow("save strategy") << "training.save_strategy=best"
                                       << "training.save_strategy: ";
        QTest::newRow("target module") << "lora.target_modules=q_proj,c_attn"
                                       << "lora.target_modules: ";
        QTest::newRow("all-linear mixed") << "lora.target_modules=all-linear,q_proj"
                                          << "lora.target_modules: ";
        QTest::newRow("no target") << "lora.target_modules=[]"
                                   << "lora.target_modules: ";
        QTest::newRow("warmup 1") << "training.warmup_ratio=1"
                                  << "training.warmup_ratio: ";
        QTest::newRow("nothing to train") << "training.num_train_epochs=0"
                                          << "training.num_train_epochs: ";
        QTest::newRow("format") << "dataset.format=csv"
                                << "dataset.format: ";
        QTest::newRow("bad line") << "dataset.on_bad_line=ignore"
                                  << "dataset.on_bad_line: ";
        QTest::newRow("chat template") << "dataset.chat_template=vicuna"
                                       << "dataset.chat_template: ";
        QTest::newRow("device") << "device=gpu"
                                << "device: ";
        QTest::newRow("no model") << "model="
                                  << "model: ";
        QTest::newRow("threads") << "threads=-1"
                                 << "threads: ";
        QTest::newRow("attention") << "attn_implementation=flash"
                                   << "attn_implementation: ";
        QTest::newRow("bias") << "lora.bias=all"
                              << "lora.bias: ";
    }

    void eachInvalidSettingNamesItsField() {
        QFETCH(QString, assignment);
        QFETCH(QString, field);
        TrainConfig config = validConfig();
        config.validate();
        // A typed choice (choices.h) is refused as it is set; every other value when validated.
        const QString setError = errorOf([&] { config.applyOverride(assignment.toStdString()); });
        if (setError != "no error") {
            QVERIFY2(setError.startsWith("--set " + assignment + ": " + field), qPrintable(setError));
            return;
        }
        const QString message = errorOf([&] { config.validate("run.json"); });
        QVERIFY2(message.startsWith("run.json: " + field), qPrintable(message));
    }

    void aValueOutsideTheChoicesListsThem() {
        auto json = validConfig().toJson();
        json["attn_implementation"] = "flash_attention_2";
        QCOMPARE(errorOf([&] { TrainConfig::fromJson(json, "run.json"); }),
                 QString("run.json: attn_implementation: must be one of: eager, sdpa, got \"flash_attention_2\""));
        json["attn_implementation"] = "sdpa";
        json["training"]["optim"] = "adam";
        QCOMPARE(errorOf([&] { TrainConfig::fromJson(json, "run.json"); }),
                 QString("run.json: training.optim: must be one of: adamw_torch, adamw_8bit, paged_adamw_8bit, sgd, "
                         "got \"adam\""));
    }

    void epochsMayBeZeroWithMaxSteps() {
        TrainConfig config = validConfig();
        config.training.numTrainEpochs = 0;
        config.training.maxSteps = 100;
        config.validate();
        config.device = "cuda:1";
        config.validate();
    }

    void overrideParsesByFieldType() {
        TrainConfig config = validConfig();
        config.applyOverride("training.learning_rate=1e-4");
        config.applyOverride("lora.r=64");
        config.applyOverride("dataset.packing=yes");
        config.applyOverride("training.gradient_checkpointing=off");
        config.applyOverride("training.output_dir=runs/x=y");
        config.applyOverride("lora.target_modules=q_proj, v_proj");
        QCOMPARE(config.training.learningRate, 1e-4);
        QCOMPARE(config.lora.r, int64_t(64));
        QVERIFY(config.dataset.packing);
        QVERIFY(!config.training.gradientCheckpointing);
        QCOMPARE(config.training.outputDir, std::string("runs/x=y"));
        QCOMPARE(config.lora.targetModules, (std::vector<std::string>{"q_proj", "v_proj"}));
        config.applyOverride(R"(lora.target_modules=["gate_proj","up_proj"])");
        QCOMPARE(config.lora.targetModules, (std::vector<std::string>{"gate_proj", "up_proj"}));
        config.applyOverride("lora.target_modules=all-linear");
        QCOMPARE(config.lora.targetModules, std::vector<std::string>{"all-linear"});
        config.validate();
    }

    void overrideReportsTypeErrors_data() {
        QTest::addColumn<QString>("assignment");
        QTest::addColumn<QString>("expected");
        QTest::newRow("number") << "training.learning_rate=fast"
                                << "--set training.learning_rate=fast: training.learning_rate expects a number, "
                                   "got 'fast'";
        QTest::newRow("integer") << "lora.r=8.5"
                                 << "--set lora.r=8.5: lora.r expects an integer, got '8.5'";
        QTest::newRow("bool") << "dataset.packing=maybe"
                              << "--set dataset.packing=maybe: dataset.packing expects true or false, got 'maybe'";
        QTest::newRow("unknown") << "training.lr=1"
                                 << "--set training.lr=1: training.lr: unknown field; did you mean "
                                    "training.learning_rate?";
        QTest::newRow("no equals") << "training.seed"
                                   << "--set training.seed: expected KEY=VALUE with a dotted key, e.g. "
                                      "training.learning_rate=1e-4";
    }

    void overrideReportsTypeErrors() {
        QFETCH(QString, assignment);
        QFETCH(QString, expected);
        TrainConfig config = validConfig();
        QCOMPARE(errorOf([&] { config.applyOverride(assignment.toStdString()); }), expected);
    }

    void fileResolvesRelativePathsAgainstItsFolder() {
        QTemporaryDir dir;
        const QString path = dir.filePath("configs/run.json");
        QDir().mkpath(dir.filePath("configs"));
        writeFile(path, R"({"model": "../models/tiny", "dataset": {"path": "data/train.jsonl"}})");
        const auto config = TrainConfig::fromFile(path.toStdString());
        QCOMPARE(QString::fromStdString(config.model), dir.filePath("models/tiny"));
        QCOMPARE(QString::fromStdString(config.dataset.path), dir.filePath("configs/data/train.jsonl"));

        writeFile(path, R"({"model": "/abs/model"})");
        QCOMPARE(TrainConfig::fromFile(path.toStdString()).model, std::string("/abs/model"));
    }

    void malformedFileNamesLineAndColumn() {
        QTemporaryDir dir;
        const QString path = dir.filePath("run.json");
        writeFile(path, "{\n  \"model\": \"m\",\n  \"lora\": {\"r\": 8,}\n}\n");
        const QString message = errorOf([&] { TrainConfig::fromFile(path.toStdString()); });
        QVERIFY2(message.startsWith(path + ":3:19: malformed JSON ("), qPrintable(message));

        QCOMPARE(errorOf([&] { TrainConfig::fromFile(dir.filePath("missing.json").toStdString()); }),
                 dir.filePath("missing.json") + ": cannot read (a training configuration is a JSON file)");
        QCOMPARE(errorOf([&] { TrainConfig::fromFile(dir.path().toStdString()); }),
                 dir.path() + ": cannot read (a training configuration is a JSON file)");

        // A model's config.json is read the same way.
        const QString model = dir.filePath("config.json");
        writeFile(model, "{\"architectures\": [\"Llama");
        const QString modelMessage = errorOf([&] { ModelConfig::fromFile(model.toStdString()); });
        QVERIFY2(modelMessage.startsWith(model + ":1:26: malformed JSON (") &&
                     modelMessage.contains("missing closing quote"),
                 qPrintable(modelMessage));
        QCOMPARE(errorOf([&] { ModelConfig::fromFile(dir.filePath("none.json").toStdString()); }),
                 dir.filePath("none.json") + ": cannot read (an HF model folder needs a config.json)");
    }

    void descriptorsDescribeRanges() {
        const auto *split = TrainConfig::field("dataset.validation_split");
        QVERIFY(split);
        QCOMPARE(split->constraintText(), std::string(">= 0 and < 1"));
        QCOMPARE(split->typeName(), std::string("a number"));
        const auto *optim = TrainConfig::field("training.optim");
        QCOMPARE(optim->constraintText(), std::string("one of: adamw_torch, adamw_8bit, paged_adamw_8bit, sgd"));
        QCOMPARE(optim->defaultValue(), nlohmann::json("paged_adamw_8bit"));
    }
};

QTEST_APPLESS_MAIN(TrainConfigTest)
#include "train_config_test.moc"
