#include "memory_categories.h"

#include <QLocale>

const std::array<MemoryCategory, 6> &memoryCategories() {
    static const std::array<MemoryCategory, 6> kCategories = {{
        {"weights", QColor(0x4c, 0x72, 0xb0)},
        {"adapters", QColor(0xdd, 0x84, 0x52)},
        {"gradients", QColor(0x55, 0xa8, 0x68)},
        {"optimizer", QColor(0xc4, 0x4e, 0x52)},
        {"activations", QColor(0x81, 0x72, 0xb3)},
        {"other", QColor(0x93, 0x93, 0x93)},
    }};
    return kCategories;
}

QString formatBytes(int64_t bytes) {
    return QLocale::c().formattedDataSize(bytes, bytes < 1024 * 1024 ? 1 : 2, QLocale::DataSizeIecFormat);
}
