// DemoCreator writes the bundled demo (headroom::makeDemo) off the GUI thread, which takes a few
// seconds. It is a worker object: its owner moves it to a QThread it controls and calls create()
// there through a queued call; the outcome comes back as finished() or failed(), which Qt queues to
// the owner's thread. It never touches a widget.
#pragma once

#include <QObject>
#include <QString>

class DemoCreator : public QObject {
    Q_OBJECT

public:
    using QObject::QObject;

    // Writes the demo into `dir` (an existing demo there is replaced).
    void create(const QString &dir);

signals:
    void finished(const QString &modelDir);
    void failed(const QString &message);
};
