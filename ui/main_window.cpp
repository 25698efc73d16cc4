#include "main_window.h"

#include "demo_creator.h"
#include "model_summary_view.h"

#include "headroom/error.h"
#include "headroom/model_summary.h"
#include "headroom/train_config.h"

#include <QAction>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QLabel>
#include <QMenu>
#include <QMenuBar>
#include <QProgressBar>
#include <QStyle>
#include <QToolBar>
#include <QVBoxLayout>

#include <utility>

namespace {

const char *const kErrorStyle = "QLabel#errorLabel { color: #7a1c16; background: #fdecea;"
                                " border: 1px solid #e6a8a3; border-radius: 4px; padding: 12px; }";

// The model folder that a training configuration names. Throws headroom::Error.
QString modelDirFromConfig(const QString &configPath)
{
    const std::string path = QDir::toNativeSeparators(configPath).toStdString();
    const std::string model = headroom::TrainConfig::fromFile(path).model;
    if (model.empty())
        throw headroom::invalidInput(path + ": field 'model' is empty (the HF model folder to fine-tune)");
    return QString::fromStdString(model);
}

} // namespace

MainWindow::MainWindow(const QString &demoDir, QWidget *parent)
    : QMainWindow(parent), m_demoDir(demoDir), m_demoCreator(new DemoCreator),
      m_busyPage(new QWidget), m_busyLabel(new QLabel), m_errorLabel(new QLabel),
      m_summaryView(new ModelSummaryView)
{
    setWindowTitle(tr("Headroom"));
    resize(1000, 700);
    createActions();

    m_busyLabel->setObjectName("busyLabel");
    auto *progress = new QProgressBar;
    progress->setRange(0, 0);
    progress->setMaximumWidth(320);
    auto *busyLayout = new QVBoxLayout(m_busyPage);
    busyLayout->setContentsMargins(0, 0, 0, 0);
    busyLayout->addWidget(m_busyLabel);
    busyLayout->addWidget(progress);

    m_errorLabel->setObjectName("errorLabel");
    m_errorLabel->setStyleSheet(kErrorStyle);
    m_errorLabel->setTextFormat(Qt::PlainText);
    m_errorLabel->setWordWrap(true);
    m_errorLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_summaryView->setObjectName("modelSummaryView");

    auto *central = new QWidget;
    auto *layout = new QVBoxLayout(central);
    layout->setContentsMargins(24, 24, 24, 24);
    m_pages = {m_busyPage, m_errorLabel, m_summaryView};
    for (QWidget *page : std::as_const(m_pages)) {
        page->hide();
        layout->addWidget(page);
    }
    layout->addStretch();
    setCentralWidget(central);

    m_demoCreator->moveToThread(&m_demoThread);
    connect(&m_demoThread, &QThread::finished, m_demoCreator, &QObject::deleteLater);
    connect(m_demoCreator, &DemoCreator::finished, this, [this](const QString &modelDir) {
        m_openDemoAction->setEnabled(true);
        if (m_waitingForDemo)
            open(modelDir);
    });
    connect(m_demoCreator, &DemoCreator::failed, this, [this](const QString &message) {
        m_openDemoAction->setEnabled(true);
        if (m_waitingForDemo)
            showError(tr("Could not create the demo: %1").arg(message));
    });
    m_demoThread.start();
}

MainWindow::~MainWindow()
{
    // A demo being written is finished first: makeDemo has no stop point.
    m_demoThread.quit();
    m_demoThread.wait();
}

void MainWindow::open(const QString &path)
{
    m_waitingForDemo = false;
    try {
        showModel(QFileInfo(path).isDir() ? path : modelDirFromConfig(path));
    } catch (const std::exception &error) {
        showError(QString::fromStdString(error.what()));
    }
}

void MainWindow::openDemo()
{
    m_waitingForDemo = false;
    try {
        showModel(demoModelDir());
    } catch (const std::exception &) {
        createDemo();   // first use, or a demo left half-written (makeDemo replaces only a demo)
    }
}

void MainWindow::createActions()
{
    auto *openAction = new QAction(style()->standardIcon(QStyle::SP_DirOpenIcon), tr("&Open model folder…"), this);
    openAction->setShortcut(QKeySequence::Open);
    connect(openAction, &QAction::triggered, this, &MainWindow::chooseModelFolder);

    m_openDemoAction = new QAction(style()->standardIcon(QStyle::SP_ComputerIcon), tr("Open &demo"), this);
    m_openDemoAction->setObjectName("openDemoAction");
    connect(m_openDemoAction, &QAction::triggered, this, &MainWindow::openDemo);

    auto *quitAction = new QAction(tr("&Quit"), this);
    quitAction->setShortcut(QKeySequence::Quit);
    quitAction->setMenuRole(QAction::QuitRole);
    connect(quitAction, &QAction::triggered, this, &QWidget::close);

    QMenu *fileMenu = menuBar()->addMenu(tr("&File"));
    fileMenu->addAction(openAction);
    fileMenu->addAction(m_openDemoAction);
    fileMenu->addSeparator();
    fileMenu->addAction(quitAction);

    QToolBar *toolBar = addToolBar(tr("Model"));
    toolBar->setObjectName("modelToolBar");
    toolBar->setMovable(false);
    toolBar->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    toolBar->addAction(openAction);
    toolBar->addAction(m_openDemoAction);
}

void MainWindow::chooseModelFolder()
{
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Open model folder"));
    if (!dir.isEmpty())
        open(dir);
}

void MainWindow::createDemo()
{
    m_waitingForDemo = true;
    m_openDemoAction->setEnabled(false);
    m_busyLabel->setText(tr("Creating the demo…\nA small Llama-architecture model and a dataset, in %1")
                             .arg(QDir::toNativeSeparators(m_demoDir)));
    showPage(m_busyPage);
    QMetaObject::invokeMethod(m_demoCreator, [creator = m_demoCreator, dir = m_demoDir] { creator->create(dir); });
}

// Throws what ModelSummary::inspect throws; the caller shows it.
void MainWindow::showModel(const QString &modelDir)
{
    const headroom::ModelSummary summary = headroom::ModelSummary::inspect(modelDir.toStdString());
    const bool isDemo = QFileInfo(modelDir) == QFileInfo(demoModelDir());
    m_summaryView->setSummary(isDemo ? tr("Demo model") : QDir(modelDir).dirName(), modelDir, summary);
    showPage(m_summaryView);
}

QString MainWindow::demoModelDir() const
{
    return m_demoDir + "/model";   // headroom::makeDemo's layout
}

void MainWindow::showError(const QString &message)
{
    m_errorLabel->setText(message);
    showPage(m_errorLabel);
}

void MainWindow::showPage(QWidget *page)
{
    for (QWidget *candidate : std::as_const(m_pages))
        candidate->setVisible(candidate == page);
}
