#include "background_task.h"

#include <QCoreApplication>
#include <QPointer>
#include <QThread>

#include <exception>

void runInBackground(QObject *receiver, std::function<void()> work, std::function<void(const QString &error)> done) {
    QPointer<QObject> target(receiver);
    QThread *thread = QThread::create([target, work = std::move(work), done = std::move(done)] {
        QString error;
        try {
            work();
        } catch (const std::exception &e) {
            error = QString::fromStdString(e.what());
        }
        // The application as context: the receiver may be gone by now, which the GUI thread checks.
        QMetaObject::invokeMethod(QCoreApplication::instance(), [target, done, error] {
            if (target)
                done(error);
        });
    });
    QObject::connect(thread, &QThread::finished, thread, &QObject::deleteLater);
    thread->start();
}
