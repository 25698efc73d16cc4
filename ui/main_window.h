// MainWindow is the studio's top-level window. For now it opens one model and shows its summary:
// a model folder, the model named by a training configuration's "model" field, or the bundled demo,
// which it creates on first use in a worker thread (DemoCreator) while the window stays responsive.
// Problems (a bad folder, invalid JSON, a failed demo) are shown in the window, never thrown.
// It only assembles pages and actions; each page is its own class.
#pragma once

#include <QList>
#include <QMainWindow>
#include <QThread>

class DemoCreator;
class ModelSummaryView;
class QAction;
class QLabel;

class MainWindow : public QMainWindow
{
    Q_OBJECT

public:
    // `demoDir` is where the bundled demo lives (created there on first use).
    explicit MainWindow(const QString &demoDir, QWidget *parent = nullptr);
    ~MainWindow() override;

    // A model folder, or a training configuration (.json) whose "model" field names one.
    void open(const QString &path);
    void openDemo();

private:
    void createActions();
    void chooseModelFolder();
    void createDemo();
    void showModel(const QString &modelDir);
    QString demoModelDir() const;
    void showError(const QString &message);
    void showPage(QWidget *page);

    QString m_demoDir;
    QThread m_demoThread;
    DemoCreator *m_demoCreator;
    bool m_waitingForDemo = false;   // an open() while the demo is being created wins over it
    QAction *m_openDemoAction = nullptr;
    QWidget *m_busyPage;
    QLabel *m_busyLabel;
    QLabel *m_errorLabel;
    ModelSummaryView *m_summaryView;
    QList<QWidget *> m_pages;   // one of them is visible at a time
};
