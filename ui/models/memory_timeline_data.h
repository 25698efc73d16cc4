// The memory timeline of one training step as the studio holds it: what the trainer puts in the
// step's event (training.memory_timeline_step) and writes to OUTPUT_DIR/memory_timeline.json, in
// Qt types and without LibTorch, so TrainingController can pass it across threads and the Train
// page can read a finished run's file. See docs/memory.md, "The memory timeline of one step".
#pragma once

#include <QMetaType>
#include <QString>
#include <QVector>

#include <array>

struct MemoryTimelinePointData {
    QString event; // "forward layer 3", "backward reached layer 3 output", ...
    qint64 allocated = 0; // bytes in use at that point
    qint64 peak = 0; // the step's peak so far
};

struct MemoryTimelineData {
    qint64 step = 0;
    std::array<qint64, 4> fixed{}; // weights, adapters, gradients, optimizer (bytes)
    qint64 peakBytes = 0;
    QString peakAfter; // the peak fell between this point ("" = the step's start)...
    QString peakReachedBy; // ...and this one
    QVector<MemoryTimelinePointData> points;

    qint64 fixedBytes() const { return fixed[0] + fixed[1] + fixed[2] + fixed[3]; }
    // Reads a memory_timeline.json; throws headroom::Error naming the file and field when it is not one.
    static MemoryTimelineData fromFile(const QString &path);
};
Q_DECLARE_METATYPE(MemoryTimelineData)
