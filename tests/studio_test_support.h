// Helpers shared by the studio's tests (no LibTorch: those tests build without its headers).
#pragma once

#include <QLabel>
#include <QString>

#include "main_window.h"

namespace headroom::test {

// The text of the window's label `name`, or a marker that says it is missing.
inline QString text(const MainWindow &window, const QString &name) {
    const auto *label = window.findChild<QLabel *>(name);
    return label ? label->text() : "<no label " + name + ">";
}

} // namespace headroom::test
