// ModelPage picks the model to fine-tune and shows its summary: the bundled demo (created on first
// use in a worker thread, DemoCreator, while the window stays responsive), the model folders found
// in the Hugging Face cache (hf_cache.h), or any folder chosen in a file dialog. A model that opens
// is put into the StudioSession (with the demo, its training configuration too). Problems (a bad
// folder, a failed demo) are shown on the page, never thrown.
#pragma once

#include <QList>
#include <QThread>
#include <QWidget>

class DemoCreator;
class ModelSummaryView;
class QLabel;
class QListWidget;
class QListWidgetItem;
class QPushButton;
class StudioSession;

class ModelPage : public QWidget {
    Q_OBJECT

public:
    // `demoDir` is where the bundled demo lives; `hubCacheDir` the HF cache to list models from.
    ModelPage(StudioSession *session, const QString &demoDir, const QString &hubCacheDir, QWidget *parent = nullptr);
    ~ModelPage() override;

    void openModel(const QString &modelDir);
    void openDemo();
    void chooseModelFolder();
    void showError(const QString &message);
    bool creatingDemo() const { return m_waitingForDemo; }

signals:
    void demoCreationChanged(bool running);

private:
    void createDemo();
    void fillModelList(const QString &hubCacheDir);
    void openListItem(QListWidgetItem *item);
    QString demoModelDir() const;
    void showPage(QWidget *page);

    StudioSession *m_session;
    QString m_demoDir;
    QThread m_demoThread;
    DemoCreator *m_demoCreator;
    bool m_waitingForDemo = false; // an openModel() while the demo is being created wins over it
    QListWidget *m_modelList;
    QWidget *m_busyPage;
    QLabel *m_busyLabel;
    QLabel *m_errorLabel;
    ModelSummaryView *m_summaryView;
    QList<QWidget *> m_pages; // one of them is visible at a time
};
