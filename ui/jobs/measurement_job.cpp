#include "measurement_job.h"

#include "models/studio_session.h"

#include <QThread>

MeasurementJob::MeasurementJob(StudioSession *session, const QString &name, QObject *parent)
    : QObject(parent), m_session(session), m_name(name) {}

MeasurementJob::~MeasurementJob() {
    if (!m_running)
        return;
    cancel();
    m_thread->wait();
    if (m_session)
        m_session->releaseMeasurement(m_name);
}

bool MeasurementJob::start(std::function<void()> work, std::function<void()> cancel) {
    if (m_running || !m_session || !m_session->claimMeasurement(m_name))
        return false;
    m_running = true;
    m_cancel = std::move(cancel);
    m_thread.reset(QThread::create(std::move(work)));
    m_thread->setObjectName(m_name);
    // Emitted on the job's thread as it ends: queued behind the signals the work emitted.
    connect(m_thread.get(), &QThread::finished, this, &MeasurementJob::end, Qt::QueuedConnection);
    m_thread->start();
    return true;
}

void MeasurementJob::cancel() {
    if (m_running && m_cancel)
        m_cancel();
}

void MeasurementJob::end() {
    m_thread->wait(); // finished() comes from the thread just before it ends
    m_running = false;
    m_cancel = nullptr;
    if (m_session)
        m_session->releaseMeasurement(m_name);
    emit ended();
}
