#include "memory_timeline_data.h"

#include "headroom/error.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

namespace {

[[noreturn]] void fail(const QString &path, const QString &what) {
    throw headroom::invalidInput((path + ": " + what).toStdString());
}

qint64 bytesField(const QString &path, const QJsonObject &object, const QString &name) {
    const QJsonValue value = object.value(name);
    if (!value.isDouble() || value.toDouble() < 0)
        fail(path, QStringLiteral("\"%1\" must be a byte count").arg(name));
    return qint64(value.toDouble());
}

QString stringField(const QString &path, const QJsonObject &object, const QString &name) {
    const QJsonValue value = object.value(name);
    if (!value.isString())
        fail(path, QStringLiteral("\"%1\" must be a string").arg(name));
    return value.toString();
}

QJsonObject objectField(const QString &path, const QJsonObject &object, const QString &name) {
    const QJsonValue value = object.value(name);
    if (!value.isObject())
        fail(path, QStringLiteral("\"%1\" must be an object").arg(name));
    return value.toObject();
}

} // namespace

MemoryTimelineData MemoryTimelineData::fromFile(const QString &path) {
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        fail(path, QStringLiteral("cannot be read (%1)").arg(file.errorString()));
    QJsonParseError error;
    const QJsonDocument document = QJsonDocument::fromJson(file.readAll(), &error);
    if (error.error != QJsonParseError::NoError)
        fail(path, QStringLiteral("not JSON at offset %1 (%2)").arg(error.offset).arg(error.errorString()));
    if (!document.isObject())
        fail(path, QStringLiteral("not a memory timeline (expected an object with \"points\")"));
    const QJsonObject root = document.object();

    MemoryTimelineData timeline;
    timeline.step = bytesField(path, root, "step");
    const QJsonObject fixed = objectField(path, root, "fixed");
    const char *fixedNames[] = {"weights", "adapters", "gradients", "optimizer"};
    for (size_t i = 0; i < timeline.fixed.size(); ++i)
        timeline.fixed[i] = bytesField(path, fixed, fixedNames[i]);
    const QJsonObject peak = objectField(path, root, "peak");
    timeline.peakBytes = bytesField(path, peak, "bytes");
    timeline.peakAfter = stringField(path, peak, "after");
    timeline.peakReachedBy = stringField(path, peak, "reached_by");
    const QJsonValue points = root.value("points");
    if (!points.isArray() || points.toArray().isEmpty())
        fail(path, QStringLiteral("\"points\" must be a non-empty array"));
    for (const QJsonValue &value : points.toArray()) {
        if (!value.isObject())
            fail(path, QStringLiteral("every entry of \"points\" must be an object"));
        const QJsonObject point = value.toObject();
        timeline.points.push_back(
            {stringField(path, point, "event"), bytesField(path, point, "allocated"), bytesField(path, point, "peak")});
    }
    return timeline;
}
