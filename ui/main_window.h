// MainWindow is the studio's top-level window: it only assembles the pages (one class each) as tabs
// over one StudioSession, and holds the actions (open a model folder, the demo or a training
// configuration; save the configuration; quit). It remembers recent models and the last
// configuration (QSettings). Problems are shown in the window, never thrown.
#pragma once

#include <QMainWindow>

class ModelPage;
class QAction;
class QMenu;
class QTabWidget;
class StudioSession;
class TrainPage;

class MainWindow : public QMainWindow {
    Q_OBJECT

public:
    // `demoDir` is where the bundled demo lives (created there on first use); `hubCacheDir` the
    // Hugging Face cache whose models the Model page lists (empty: defaultHfHubCache()).
    explicit MainWindow(const QString &demoDir, const QString &hubCacheDir = {}, QWidget *parent = nullptr);
    ~MainWindow() override;

    // A model folder, or a training configuration (.json) whose "model" field names one.
    void open(const QString &path);
    void openDemo();
    // Opens the configuration used when the window last closed (QSettings); false when there is
    // none or it no longer loads.
    bool restoreLastConfig();
    // Writes the session's configuration as the CLI's JSON. Throws headroom::Error.
    void saveConfig(const QString &path) const;
    StudioSession *session() const { return m_session; }

protected:
    void closeEvent(QCloseEvent *event) override;

private:
    void createActions();
    void openConfig(const QString &path);
    void chooseConfigToOpen();
    void chooseConfigToSave();
    void rememberModel();
    void fillRecentMenu();
    void showTab(QWidget *page);

    StudioSession *m_session;
    QTabWidget *m_tabs;
    ModelPage *m_modelPage;
    TrainPage *m_trainPage;
    bool m_closeWhenStopped = false;
    QAction *m_openDemoAction = nullptr;
    QMenu *m_recentMenu = nullptr;
};
