// DatasetPreview is what the Data page shows about a dataset for the open model, computed by core
// calls alone (readDatasetRecords, chatTemplateFor, RecordTokenizer, truncateExample): the detected
// format and template, every malformed record's line, the first examples as runs of trained and
// masked text, and each example's token count. Reading uses on_bad_line "skip" so that all bad
// lines are listed rather than the first. Plain data; build() may run on any thread.
#pragma once

#include <QList>
#include <QString>
#include <QStringList>

struct DatasetPreview {
    struct Run {
        QString text;
        bool trained = false;
    };
    QString format, chatTemplate;
    qint64 records = 0, skipped = 0;
    QStringList problems; // skipped lines and other warnings, one line each
    QList<QList<Run>> examples; // the first few, untruncated
    QList<qint64> tokenCounts; // one per record, untruncated
    qint64 maxSeqLength = 0;
    qint64 longer = 0; // examples longer than max_seq_length (they are cut)

    // Throws headroom::Error (unreadable file, no valid record, a tokenizer problem).
    static DatasetPreview build(const QString &configJson, int exampleCount);
};
