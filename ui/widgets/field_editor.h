// FieldEditor is one TrainConfig setting as a form widget, built from its FieldDescriptor (the one
// table in train_config_fields.cpp): a check box for a bool, a spin box with the field's range for a
// number, a combo box for a choice, a line edit for a list. Its tooltip is the field's help sentence
// (what the setting does to memory and speed). It reads and writes the setting as JSON, so the
// Configure page needs no code per setting.
#pragma once

#include <QObject>

#include <nlohmann/json.hpp>

namespace headroom {
struct FieldDescriptor;
struct TrainConfig;
} // namespace headroom

class QWidget;

class FieldEditor : public QObject {
    Q_OBJECT

public:
    // `path` must name a field of TrainConfig::fields(). The widget gets objectName = path.
    explicit FieldEditor(const std::string &path, QObject *parent = nullptr);

    QWidget *widget() const { return m_widget; }
    const headroom::FieldDescriptor &field() const { return *m_field; }
    // Shows the value the configuration holds (without emitting edited()).
    void load(const headroom::TrainConfig &config);
    // Puts the widget's value into `config`. Throws headroom::Error for text that does not parse.
    void store(headroom::TrainConfig &config) const;

signals:
    void edited();

private:
    nlohmann::json value() const;

    const headroom::FieldDescriptor *m_field;
    QWidget *m_widget = nullptr;
};
