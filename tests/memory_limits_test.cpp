// Running into the memory budget on purpose: find-batch's search against budgets placed between
// independently measured peaks, out-of-memory recovery during training (adapt, and stop with the
// change to resume with), and the memory timeline of one step.
#include <QtTest/QtTest>

#include "headroom/bench.h"
#include "headroom/demo.h"
#include "headroom/error.h"
#include "headroom/find_batch.h"
#include "headroom/runtime.h"
#include "headroom/trainer.h"
#include "json_file.h"
#include "test_support.h"

using namespace headroom;

namespace {

using Recorder = test::RecordingObserver;

} // namespace

class MemoryLimitsTest : public QObject {
    Q_OBJECT

    QTemporaryDir m_dir;
    DemoPaths m_demo;
    std::map<int64_t, int64_t> m_peaks; // micro-batch -> measured peak of one step, no budget

    TrainConfig baseConfig(const QString &runName) const {
        TrainConfig c = test::demoTrainConfig(m_demo, (m_dir.path() + "/" + runName).toStdString());
        c.dataset.maxSeqLength = 96;
        c.training.perDeviceTrainBatchSize = 4;
        c.training.gradientAccumulationSteps = 1;
        c.training.maxSteps = 2;
        return c;
    }

    // Peak of each step of a run on the demo data, no budget.
    std::vector<int64_t> stepPeaks(int64_t microBatch, int64_t accumulation, int64_t steps) {
        auto c = baseConfig(QString("peaks-%1x%2").arg(microBatch).arg(accumulation));
        c.training.perDeviceTrainBatchSize = microBatch;
        c.training.gradientAccumulationSteps = accumulation;
        c.training.maxSteps = steps;
        c.training.overwriteOutputDir = true; // two tests measure the same shape in one folder
        Recorder r;
        runTraining(c, r, nullptr, {});
        std::vector<int64_t> peaks;
        for (const auto &e : r.steps)
            peaks.push_back(e.memory.peak);
        return peaks;
    }

    int64_t measuredPeak(int64_t microBatch) {
        if (!m_peaks.count(microBatch)) {
            auto c = baseConfig("peak");
            c.training.perDeviceTrainBatchSize = microBatch;
            const auto row = benchTraining(c, c.dataset.maxSeqLength, 1, 0, {});
            m_peaks[microBatch] = row.peakBytes;
        }
        return m_peaks[microBatch];
    }

private slots:
    void initTestCase() {
        QVERIFY(m_dir.isValid());
        initRuntime({});
        m_demo = makeDemo((m_dir.path() + "/demo").toStdString());
    }

    void accumulationReachesTheTargetEffectiveBatch() {
        QCOMPARE(accumulationForTarget(6, 1, 32), int64_t(6)); // 6 x 6 = 36 >= 32 > 6 x 5
        QCOMPARE(accumulationForTarget(4, 2, 32), int64_t(4)); // 4 x 4 x 2 = 32
        QCOMPARE(accumulationForTarget(64, 1, 32), int64_t(1));
        QCOMPARE(accumulationForTarget(1, 1, 1), int64_t(1));
    }

    void findBatchStopsBetweenTheMeasuredPeaks() {
        // Peaks measured without a budget; a budget half-way between those of 5 and 6 rows must
        // make 5 the answer, found through real out-of-memory errors.
        const int64_t p5 = measuredPeak(5), p6 = measuredPeak(6);
        QVERIFY2(p6 > p5, "activations grow with the micro-batch");
        FindBatchOptions options;
        options.budgetBytes = (p5 + p6) / 2;
        options.maxMicroBatch = 12;
        options.targetEffectiveBatch = 32;
        std::vector<FindBatchTry> progress;
        options.onTry = [&](const FindBatchTry &t) { progress.push_back(t); };
        const auto result = findMaxMicroBatch(baseConfig("find"), options);
        QCOMPARE(result.maxMicroBatch, int64_t(5));
        QCOMPARE(result.gradientAccumulationSteps, int64_t(7)); // ceil(32 / 5)
        QCOMPARE(result.effectiveBatch, int64_t(35));
        QCOMPARE(progress.size(), result.tried.size());
        bool sawFailure = false;
        for (const auto &t : result.tried) {
            QCOMPARE(t.fits, t.microBatch <= 5);
            sawFailure |= !t.fits;
            if (!t.fits)
                QVERIFY(t.error.find("out of memory") != std::string::npos);
        }
        QVERIFY(sawFailure);
        const auto json = result.toJson();
        QCOMPARE(json.at("max_micro_batch").get<int64_t>(), int64_t(5));
        QVERIFY(json.at("tried").is_array());
    }

    void findBatchReportsZeroWhenNothingFits() {
        FindBatchOptions options;
        options.budgetBytes = measuredPeak(1) / 4;
        options.maxMicroBatch = 4;
        const auto result = findMaxMicroBatch(baseConfig("find-none"), options);
        QCOMPARE(result.maxMicroBatch, int64_t(0));
        QVERIFY(!result.tried.empty());
    }

    void adaptHalvesTheMicroBatchAndKeepsTheSteps() {
        // Micro-batch 4 does not fit a budget between the peaks of 2 and 4 rows; with on_oom adapt
        // the run goes on at micro-batch 2 x accumulation 2 and its losses equal a run started so.
        const auto peaks4 = stepPeaks(4, 1, 2), peaks2x2 = stepPeaks(2, 2, 2);
        const int64_t fits = *std::max_element(peaks2x2.begin(), peaks2x2.end());
        QVERIFY2(peaks4[0] > fits, "4 rows at once need more than 2 + 2");
        auto c = baseConfig("adapt");
        c.training.memoryBudget = std::to_string((fits + peaks4[0]) / 2);
        c.training.onOom = "adapt";
        c.lora.loraDropout = 0.1; // the retried step draws the dropout masks the failed one drew
        Recorder adapted;
        const auto summary = runTraining(c, adapted, nullptr, {});
        QCOMPARE(summary.steps, int64_t(2));
        QCOMPARE(adapted.outOfMemory.size(), size_t(1));
        const auto &oom = adapted.outOfMemory[0];
        QCOMPARE(oom.step, int64_t(1));
        QCOMPARE(QString::fromStdString(oom.category), QString("activations"));
        QVERIFY(oom.applied);
        QCOMPARE(oom.overrides.at("training.per_device_train_batch_size").get<int64_t>(), int64_t(2));
        QCOMPARE(oom.overrides.at("training.gradient_accumulation_steps").get<int64_t>(), int64_t(2));
        QVERIFY2(oom.change.find("keeps effective batch 4") != std::string::npos, oom.change.c_str());
        const auto written = test::readJsonFile(c.training.outputDir + "/config.json");
        QCOMPARE(written.at("training").at("per_device_train_batch_size").get<int64_t>(), int64_t(2));

        auto reference = baseConfig("reference-2x2");
        reference.lora.loraDropout = 0.1;
        reference.training.perDeviceTrainBatchSize = 2;
        reference.training.gradientAccumulationSteps = 2;
        Recorder plain;
        runTraining(reference, plain, nullptr, {});
        QCOMPARE(adapted.steps.size(), plain.steps.size());
        for (size_t i = 0; i < plain.steps.size(); ++i) {
            QVERIFY(std::abs(adapted.steps[i].loss - plain.steps[i].loss) < 1e-5);
            QCOMPARE(adapted.steps[i].tokens, plain.steps[i].tokens);
        }
    }

    void stopNamesTheChangeAndTheRunResumesWithIt() {
        // A run that completed step 1 at micro-batch 4 is resumed under a budget that 4 rows no
        // longer fit: it stops with a checkpoint and the --set that fits; resuming with those
        // settings continues exactly like the uninterrupted run.
        auto c = baseConfig("stop");
        c.training.maxSteps = 3;
        c.training.saveStrategy = "steps";
        c.training.saveSteps = 1;
        Recorder full;
        runTraining(c, full, nullptr, {});
        QCOMPARE(full.steps.size(), size_t(3));

        const auto peaks2x2 = stepPeaks(2, 2, 3);
        const int64_t fits = std::max(peaks2x2[1], peaks2x2[2]);
        QVERIFY2(full.steps[1].memory.peak > fits, "4 rows at once need more than 2 + 2");
        auto limited = c;
        limited.training.outputDir = (m_dir.path() + "/stop-limited").toStdString();
        limited.training.memoryBudget = std::to_string((fits + full.steps[1].memory.peak) / 2);
        Recorder stopped;
        bool threw = false;
        try {
            runTraining(limited, stopped, nullptr, {true, c.training.outputDir + "/checkpoint-1"});
        } catch (const Error &e) {
            threw = true;
            QCOMPARE(e.kind(), ErrorKind::RuntimeFailure);
            const std::string what = e.what();
            QVERIFY2(what.find("out of memory in step 2") != std::string::npos, what.c_str());
            QVERIFY2(what.find("--set training.per_device_train_batch_size=2") != std::string::npos, what.c_str());
        }
        QVERIFY(threw);
        QCOMPARE(stopped.outOfMemory.size(), size_t(1));
        QVERIFY(!stopped.outOfMemory[0].applied);

        auto resumed = limited;
        resumed.applyOverrides(stopped.outOfMemory[0].overrides);
        Recorder continued;
        runTraining(resumed, continued, nullptr, {true, c.training.outputDir + "/checkpoint-1"});
        QCOMPARE(continued.steps.size(), size_t(2));
        for (size_t i = 0; i < 2; ++i)
            QVERIFY(std::abs(continued.steps[i].loss - full.steps[i + 1].loss) < 1e-5);
    }

    void timelineShowsEveryLayerAndThePeak() {
        auto c = baseConfig("timeline");
        c.training.memoryTimelineStep = 2;
        c.training.gradientAccumulationSteps = 2;
        c.training.perDeviceTrainBatchSize = 2;
        Recorder r;
        runTraining(c, r, nullptr, {});
        QVERIFY(r.steps.at(0).timeline.empty());
        const auto &points = r.steps.at(1).timeline;
        const auto json = test::readJsonFile(c.training.outputDir + "/memory_timeline.json");
        QCOMPARE(json.at("step").get<int64_t>(), int64_t(2));
        QCOMPARE(json.at("points").size(), points.size());
        const int64_t layers =
            test::readJsonFile(m_demo.modelDir + "/config.json").at("num_hidden_layers").get<int64_t>();
        int64_t forward = 0, backward = 0, optimizer = 0, maxAllocated = 0;
        for (const auto &p : points) {
            forward += p.event.rfind("forward layer ", 0) == 0;
            backward += p.event.rfind("backward reached layer ", 0) == 0;
            optimizer += p.event == "optimizer step";
            maxAllocated = std::max(maxAllocated, p.allocated);
        }
        QCOMPARE(forward, 2 * layers); // every layer in both micro-batches
        QCOMPARE(backward, 2 * layers);
        QCOMPARE(optimizer, int64_t(1));
        const int64_t peak = json.at("peak").at("bytes").get<int64_t>();
        QVERIFY(maxAllocated <= peak);
        QCOMPARE(points.back().peak, peak);
        QVERIFY(!json.at("peak").at("reached_by").get<std::string>().empty());
        // What the forward pass keeps for backward is released by it: more bytes are in use after
        // the last layer's forward than after the micro-batch's backward.
        QCOMPARE(QString::fromStdString(points.front().event), QString("step start"));
        auto at = [&](const std::string &event) {
            for (const auto &p : points)
                if (p.event == event)
                    return p.allocated;
            return int64_t(-1);
        };
        const int64_t afterForward = at("forward layer " + std::to_string(layers - 1));
        const int64_t afterBackward = at("backward of micro-batch 1 done");
        QVERIFY(afterForward > 0 && afterBackward > 0);
        QVERIFY(afterForward > afterBackward);
    }
};

QTEST_GUILESS_MAIN(MemoryLimitsTest)
#include "memory_limits_test.moc"
