// MeasurementJob is the one way the studio runs a job that measures memory — a training, a bench
// sweep, Find max batch. Those count memory with the one process-wide CPU allocator, set its budget
// and time steps on the same cores, so they take turns (StudioSession::claimMeasurement):
// - start() claims the session's measurement under the job's name and runs the work on a thread of
//   its own; while another job holds the claim it returns false and runs nothing;
// - cancel() asks the work to end early, with the function start() was given (a worker's cancel(),
//   a training's stop);
// - the claim is released however the work ends: it returned (finished, failed or cancelled), or
//   the job is destroyed (its page was), which cancels and waits for the thread first.
// The work reports through its own signals, which Qt queues to their receivers' (GUI) thread; ended()
// comes after them, on the GUI thread, once the thread has ended and the claim is released. The work
// must not throw (the workers catch and emit their failed()). A job may run again once ended.
#pragma once

#include <QObject>
#include <QPointer>
#include <QString>

#include <functional>
#include <memory>

class QThread;
class StudioSession;

class MeasurementJob : public QObject {
    Q_OBJECT

public:
    // `name` is what the claim says to the other jobs ("a training": "Not now: a training is running").
    MeasurementJob(StudioSession *session, const QString &name, QObject *parent = nullptr);
    ~MeasurementJob() override;

    bool start(std::function<void()> work, std::function<void()> cancel);
    void cancel();
    // From a start() that returned true until ended().
    bool isRunning() const { return m_running; }

signals:
    void ended();

private:
    void end();

    QPointer<StudioSession> m_session; // gone first when the main window closes: nothing to release
    QString m_name;
    std::unique_ptr<QThread> m_thread;
    std::function<void()> m_cancel;
    bool m_running = false;
};
