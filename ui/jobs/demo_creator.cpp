#include "demo_creator.h"

#include "headroom/demo.h"

#include <exception>

void DemoCreator::create(const QString &dir) {
    try {
        const headroom::DemoPaths paths = headroom::makeDemo(dir.toStdString());
        emit finished(QString::fromStdString(paths.modelDir));
    } catch (const std::exception &error) {
        emit failed(QString::fromStdString(error.what()));
    }
}
