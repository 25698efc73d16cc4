#include "field_editor.h"

#include "headroom/error.h"
#include "headroom/train_config.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QLineEdit>
#include <QSignalBlocker>
#include <QSpinBox>

#include <climits>
#include <cmath>

namespace {

using Type = headroom::FieldDescriptor::Type;

// The widget range of a numeric field; open bounds become the nearest valid value of `step`.
std::pair<double, double> rangeOf(const headroom::FieldDescriptor &field, double step, double fallbackMaximum) {
    double low = field.minimum.value_or(-fallbackMaximum);
    double high = field.maximum.value_or(fallbackMaximum);
    if (field.minimum && field.minimumExclusive)
        low += step;
    if (field.maximum && field.maximumExclusive)
        high -= step;
    return {low, high};
}

QString listText(const nlohmann::json &list) {
    QStringList items;
    for (const auto &item : list)
        items << QString::fromStdString(item.get<std::string>());
    return items.join(", ");
}

} // namespace

FieldEditor::FieldEditor(const std::string &path, QObject *parent)
    : QObject(parent), m_field(headroom::TrainConfig::field(path)) {
    if (!m_field)
        throw headroom::invalidInput("no training setting named '" + path + "'");
    const nlohmann::json defaultValue = m_field->defaultValue();
    switch (m_field->type) {
    case Type::Bool: {
        auto *box = new QCheckBox;
        connect(box, &QCheckBox::toggled, this, &FieldEditor::edited);
        m_widget = box;
        break;
    }
    case Type::Integer:
        if (m_field->choices.empty()) {
            auto *spin = new QSpinBox;
            const auto [low, high] = rangeOf(*m_field, 1, 1'000'000);
            spin->setRange(int(low), int(std::min<double>(high, INT_MAX)));
            connect(spin, &QSpinBox::valueChanged, this, &FieldEditor::edited);
            m_widget = spin;
            break;
        }
        [[fallthrough]];
    case Type::String:
        if (!m_field->choices.empty()) {
            auto *combo = new QComboBox;
            for (const std::string &choice : m_field->choices)
                combo->addItem(QString::fromStdString(choice));
            connect(combo, &QComboBox::currentIndexChanged, this, &FieldEditor::edited);
            m_widget = combo;
            break;
        }
        [[fallthrough]];
    case Type::StringList: {
        auto *edit = new QLineEdit;
        if (m_field->type == Type::StringList)
            edit->setPlaceholderText(QString::fromStdString(m_field->listKeyword));
        connect(edit, &QLineEdit::editingFinished, this, &FieldEditor::edited);
        m_widget = edit;
        break;
    }
    case Type::Number: {
        auto *spin = new QDoubleSpinBox;
        // Small defaults (learning rates) need more places than ratios and counts.
        const double magnitude = std::abs(defaultValue.get<double>());
        const int decimals = magnitude > 0 && magnitude < 0.01 ? 6 : 3;
        const double step = std::pow(10.0, -decimals);
        const auto [low, high] = rangeOf(*m_field, step, 1e6);
        spin->setDecimals(decimals);
        spin->setRange(low, high);
        spin->setSingleStep(magnitude > 0 && magnitude < 1 ? magnitude / 2 : 1);
        connect(spin, &QDoubleSpinBox::valueChanged, this, &FieldEditor::edited);
        m_widget = spin;
        break;
    }
    }
    m_widget->setObjectName(QString::fromStdString(path));
    QString tip = QString::fromStdString(m_field->help);
    if (const std::string constraint = m_field->constraintText(); !constraint.empty())
        tip += "\n" + tr("Valid: %1.").arg(QString::fromStdString(constraint));
    m_widget->setToolTip(tip);
}

void FieldEditor::load(const headroom::TrainConfig &config) {
    const nlohmann::json value = m_field->get(config);
    const QSignalBlocker blocker(m_widget);
    if (auto *box = qobject_cast<QCheckBox *>(m_widget))
        box->setChecked(value.get<bool>());
    else if (auto *spin = qobject_cast<QSpinBox *>(m_widget))
        spin->setValue(int(value.get<int64_t>()));
    else if (auto *spin = qobject_cast<QDoubleSpinBox *>(m_widget))
        spin->setValue(value.get<double>());
    else if (auto *combo = qobject_cast<QComboBox *>(m_widget))
        combo->setCurrentText(QString::fromStdString(value.is_string() ? value.get<std::string>() : value.dump()));
    else if (auto *edit = qobject_cast<QLineEdit *>(m_widget))
        edit->setText(value.is_array() ? listText(value) : QString::fromStdString(value.get<std::string>()));
}

nlohmann::json FieldEditor::value() const {
    if (auto *box = qobject_cast<QCheckBox *>(m_widget))
        return box->isChecked();
    if (auto *spin = qobject_cast<QSpinBox *>(m_widget))
        return int64_t(spin->value());
    if (auto *spin = qobject_cast<QDoubleSpinBox *>(m_widget))
        return spin->value();
    if (auto *combo = qobject_cast<QComboBox *>(m_widget))
        return m_field->parseText(combo->currentText().toStdString());
    return m_field->parseText(qobject_cast<QLineEdit *>(m_widget)->text().toStdString());
}

void FieldEditor::store(headroom::TrainConfig &config) const { m_field->set(config, value()); }
