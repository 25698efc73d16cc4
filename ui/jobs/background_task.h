// runInBackground: one job on its own thread, the outcome back on the GUI thread. `work` runs on a
// new QThread; an exception it throws becomes the error message. `done` then runs on the GUI
// thread with that message ("" on success) — unless `receiver` was deleted meanwhile. Results go
// through state the two functions share (e.g. a std::shared_ptr both capture).
#pragma once

#include <QString>

#include <functional>

class QObject;

void runInBackground(QObject *receiver, std::function<void()> work, std::function<void(const QString &error)> done);
