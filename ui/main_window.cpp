#include "main_window.h"

#include "models/hf_cache.h"
#include "models/studio_session.h"
#include "pages/config_page.h"
#include "pages/data_page.h"
#include "pages/export_page.h"
#include "pages/lab_page.h"
#include "pages/model_page.h"
#include "pages/train_page.h"

#include "headroom/error.h"
#include "headroom/train_config.h"

#include <QAction>
#include <QCloseEvent>
#include <QMessageBox>
#include <QSaveFile>
#include <QSettings>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QMenu>
#include <QMenuBar>
#include <QStyle>
#include <QStatusBar>
#include <QTabWidget>
#include <QToolBar>

MainWindow::MainWindow(const QString &demoDir, const QString &hubCacheDir, QWidget *parent)
    : QMainWindow(parent), m_session(new StudioSession(this)), m_tabs(new QTabWidget) {
    setWindowTitle(tr("Headroom"));
    resize(1200, 780);
    m_modelPage = new ModelPage(m_session, demoDir, hubCacheDir.isEmpty() ? defaultHfHubCache() : hubCacheDir);
    m_modelPage->setObjectName("modelPage");
    m_tabs->setObjectName("pageTabs");
    m_tabs->setDocumentMode(true);
    m_tabs->addTab(m_modelPage, tr("&Model"));
    auto *dataPage = new DataPage(m_session);
    dataPage->setObjectName("dataPage");
    m_tabs->addTab(dataPage, tr("&Data"));
    auto *configPage = new ConfigPage(m_session);
    configPage->setObjectName("configPage");
    m_tabs->addTab(configPage, tr("&Configure"));
    m_trainPage = new TrainPage(m_session);
    m_trainPage->setObjectName("trainPage");
    m_tabs->addTab(m_trainPage, tr("&Train"));
    auto *labPage = new LabPage(m_session);
    labPage->setObjectName("labPage");
    m_tabs->addTab(labPage, tr("Trade-off &lab"));
    auto *exportPage = new ExportPage(m_session);
    exportPage->setObjectName("exportPage");
    m_tabs->addTab(exportPage, tr("&Export"));
    connect(m_trainPage, &TrainPage::runEnded, this, [this] {
        if (m_closeWhenStopped)
            close();
    });
    setCentralWidget(m_tabs);
    createActions();
    connect(m_session, &StudioSession::modelChanged, this, &MainWindow::rememberModel);
    connect(m_modelPage, &ModelPage::demoCreationChanged, this,
            [this](bool running) { m_openDemoAction->setEnabled(!running); });
}

MainWindow::~MainWindow() = default;

void MainWindow::open(const QString &path) {
    showTab(m_modelPage);
    if (QFileInfo(path).isDir())
        m_modelPage->openModel(path);
    else
        openConfig(path);
}

void MainWindow::openDemo() {
    showTab(m_modelPage);
    m_modelPage->openDemo();
}

// A training configuration: it becomes the session's, and the model it names is opened.
void MainWindow::openConfig(const QString &path) {
    const std::string file = QDir::toNativeSeparators(path).toStdString();
    try {
        const headroom::TrainConfig config = headroom::TrainConfig::fromFile(file);
        if (config.model.empty())
            throw headroom::invalidInput(file + ": field 'model' is empty (the HF model folder to fine-tune)");
        m_session->setConfig(config);
        m_modelPage->openModel(QString::fromStdString(config.model));
    } catch (const std::exception &error) {
        m_modelPage->showError(QString::fromStdString(error.what()));
    }
}

namespace {

constexpr int kRecentModels = 8;
const char *const kRecentModelsKey = "recentModels";
const char *const kLastConfigKey = "lastConfig";

} // namespace

bool MainWindow::restoreLastConfig() {
    const QString json = QSettings().value(kLastConfigKey).toString();
    if (json.isEmpty())
        return false;
    try {
        const auto config =
            headroom::TrainConfig::fromJson(nlohmann::json::parse(json.toStdString()), "last configuration");
        if (config.model.empty() || !QFileInfo::exists(QString::fromStdString(config.model)))
            return false;
        m_session->setConfig(config);
        m_modelPage->openModel(QString::fromStdString(config.model));
        return true;
    } catch (const std::exception &) {
        return false; // an old or damaged entry: start as without one
    }
}

void MainWindow::saveConfig(const QString &path) const {
    QSaveFile file(path); // written under a temporary name, renamed when complete
    if (!file.open(QIODevice::WriteOnly | QIODevice::Text))
        throw headroom::runtimeFailure(path.toStdString() + ": " + file.errorString().toStdString());
    file.write(QByteArray::fromStdString(m_session->config().toJson().dump(2) + "\n"));
    if (!file.commit())
        throw headroom::runtimeFailure(path.toStdString() + ": " + file.errorString().toStdString());
}

void MainWindow::chooseConfigToOpen() {
    const QString path = QFileDialog::getOpenFileName(this, tr("Open training configuration"), {}, tr("JSON (*.json)"));
    if (!path.isEmpty())
        open(path);
}

void MainWindow::chooseConfigToSave() {
    const QString path =
        QFileDialog::getSaveFileName(this, tr("Save training configuration"), "train.json", tr("JSON (*.json)"));
    if (path.isEmpty())
        return;
    try {
        saveConfig(path);
        statusBar()->showMessage(tr("Saved %1").arg(QDir::toNativeSeparators(path)), 5000);
    } catch (const std::exception &error) {
        QMessageBox::warning(this, tr("Could not save"), QString::fromStdString(error.what()));
    }
}

void MainWindow::rememberModel() {
    QSettings settings;
    QStringList recent = settings.value(kRecentModelsKey).toStringList();
    recent.removeAll(m_session->modelDir());
    recent.prepend(m_session->modelDir());
    settings.setValue(kRecentModelsKey, recent.mid(0, kRecentModels));
    fillRecentMenu();
}

void MainWindow::fillRecentMenu() {
    m_recentMenu->clear();
    for (const QString &dir : QSettings().value(kRecentModelsKey).toStringList())
        m_recentMenu->addAction(QDir::toNativeSeparators(dir), this, [this, dir] { open(dir); });
    m_recentMenu->setEnabled(!m_recentMenu->isEmpty());
}

void MainWindow::createActions() {
    auto *openAction = new QAction(style()->standardIcon(QStyle::SP_DirOpenIcon), tr("&Open model folder…"), this);
    openAction->setShortcut(QKeySequence::Open);
    connect(openAction, &QAction::triggered, m_modelPage, &ModelPage::chooseModelFolder);

    m_openDemoAction = new QAction(style()->standardIcon(QStyle::SP_ComputerIcon), tr("Open &demo"), this);
    m_openDemoAction->setObjectName("openDemoAction");
    m_openDemoAction->setShortcut(QKeySequence(tr("Ctrl+D")));
    connect(m_openDemoAction, &QAction::triggered, this, &MainWindow::openDemo);

    auto *quitAction = new QAction(tr("&Quit"), this);
    quitAction->setShortcut(QKeySequence::Quit);
    quitAction->setMenuRole(QAction::QuitRole);
    connect(quitAction, &QAction::triggered, this, &QWidget::close);

    auto *openConfigAction = new QAction(tr("Open &configuration…"), this);
    openConfigAction->setShortcut(QKeySequence(tr("Ctrl+Shift+O")));
    connect(openConfigAction, &QAction::triggered, this, &MainWindow::chooseConfigToOpen);
    auto *saveConfigAction =
        new QAction(style()->standardIcon(QStyle::SP_DialogSaveButton), tr("&Save configuration…"), this);
    saveConfigAction->setShortcut(QKeySequence::Save);
    connect(saveConfigAction, &QAction::triggered, this, &MainWindow::chooseConfigToSave);

    QMenu *fileMenu = menuBar()->addMenu(tr("&File"));
    fileMenu->addAction(openAction);
    fileMenu->addAction(m_openDemoAction);
    m_recentMenu = fileMenu->addMenu(tr("&Recent models"));
    fillRecentMenu();
    fileMenu->addSeparator();
    fileMenu->addAction(openConfigAction);
    fileMenu->addAction(saveConfigAction);
    fileMenu->addSeparator();
    fileMenu->addAction(quitAction);

    QToolBar *toolBar = addToolBar(tr("Model"));
    toolBar->setObjectName("modelToolBar");
    toolBar->setMovable(false);
    toolBar->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    toolBar->addAction(openAction);
    toolBar->addAction(m_openDemoAction);
    toolBar->addAction(saveConfigAction);

    // Alt+1..7 switch pages (the tab titles' mnemonics work too).
    for (int i = 0; i < m_tabs->count(); ++i) {
        auto *goTo = new QAction(this);
        goTo->setShortcut(QKeySequence(Qt::ALT | Qt::Key(Qt::Key_1 + i)));
        connect(goTo, &QAction::triggered, this, [this, i] { m_tabs->setCurrentIndex(i); });
        addAction(goTo);
    }
}

// Closing mid-run asks first; yes stops the run, which writes a checkpoint, and the window closes
// when the run has ended (the event loop keeps running meanwhile).
void MainWindow::closeEvent(QCloseEvent *event) {
    if (!m_trainPage->isTraining()) {
        QSettings().setValue(kLastConfigKey, QString::fromStdString(m_session->config().toJson().dump()));
        event->accept();
        return;
    }
    event->ignore();
    if (m_closeWhenStopped)
        return;
    const auto answer = QMessageBox::question(this, tr("Training is running"),
                                              tr("Stop training and close? A checkpoint is written first, so the run "
                                                 "can be resumed later from its output folder."));
    if (answer != QMessageBox::Yes)
        return;
    m_closeWhenStopped = true;
    m_trainPage->stopTraining();
}

void MainWindow::showTab(QWidget *page) { m_tabs->setCurrentWidget(page); }
