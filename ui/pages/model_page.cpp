#include "model_page.h"

#include "jobs/demo_creator.h"
#include "models/hf_cache.h"
#include "models/studio_session.h"
#include "widgets/model_summary_view.h"

#include "headroom/model_summary.h"
#include "headroom/train_config.h"

#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QProgressBar>
#include <QPushButton>
#include <QStyle>
#include <QVBoxLayout>

#include <utility>

namespace {

const char *const kErrorStyle = "QLabel#errorLabel { color: #7a1c16; background: #fdecea;"
                                " border: 1px solid #e6a8a3; border-radius: 4px; padding: 12px; }";
constexpr int kPathRole = Qt::UserRole;
constexpr int kIsDemoRole = Qt::UserRole + 1;

} // namespace

ModelPage::ModelPage(StudioSession *session, const QString &demoDir, const QString &hubCacheDir, QWidget *parent)
    : QWidget(parent), m_session(session), m_demoDir(demoDir), m_demoCreator(new DemoCreator),
      m_modelList(new QListWidget), m_busyPage(new QWidget), m_busyLabel(new QLabel), m_errorLabel(new QLabel),
      m_summaryView(new ModelSummaryView) {
    m_modelList->setObjectName("modelList");
    m_modelList->setToolTip(
        tr("The demo and the models found in the Hugging Face cache (%1)").arg(QDir::toNativeSeparators(hubCacheDir)));
    fillModelList(hubCacheDir);
    connect(m_modelList, &QListWidget::itemActivated, this, &ModelPage::openListItem);
    connect(m_modelList, &QListWidget::itemClicked, this, &ModelPage::openListItem);

    auto *browse = new QPushButton(style()->standardIcon(QStyle::SP_DirOpenIcon), tr("Open folder…"));
    browse->setObjectName("browseModelButton");
    connect(browse, &QPushButton::clicked, this, &ModelPage::chooseModelFolder);

    auto *side = new QVBoxLayout;
    side->addWidget(new QLabel(tr("<b>Models</b>")));
    side->addWidget(m_modelList, 1);
    side->addWidget(browse);

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

    auto *content = new QVBoxLayout;
    m_pages = {m_busyPage, m_errorLabel, m_summaryView};
    for (QWidget *page : std::as_const(m_pages)) {
        page->hide();
        content->addWidget(page);
    }
    content->addStretch();

    auto *layout = new QHBoxLayout(this);
    layout->addLayout(side, 1);
    layout->addSpacing(16);
    layout->addLayout(content, 3);

    m_demoCreator->moveToThread(&m_demoThread);
    connect(&m_demoThread, &QThread::finished, m_demoCreator, &QObject::deleteLater);
    connect(m_demoCreator, &DemoCreator::finished, this, [this](const QString &) {
        emit demoCreationChanged(false);
        if (std::exchange(m_waitingForDemo, false))
            openDemo();
    });
    connect(m_demoCreator, &DemoCreator::failed, this, [this](const QString &message) {
        emit demoCreationChanged(false);
        if (std::exchange(m_waitingForDemo, false))
            showError(tr("Could not create the demo: %1").arg(message));
    });
    m_demoThread.start();
}

ModelPage::~ModelPage() {
    // A demo being written is finished first: makeDemo has no stop point.
    m_demoThread.quit();
    m_demoThread.wait();
}

void ModelPage::fillModelList(const QString &hubCacheDir) {
    auto *demo = new QListWidgetItem(style()->standardIcon(QStyle::SP_ComputerIcon), tr("Demo model (bundled)"));
    demo->setData(kIsDemoRole, true);
    demo->setToolTip(tr("A small Llama-architecture model and a sentiment dataset, created in %1")
                         .arg(QDir::toNativeSeparators(m_demoDir)));
    m_modelList->addItem(demo);
    for (const HfCacheModel &model : findHfCacheModels(hubCacheDir)) {
        auto *item = new QListWidgetItem(style()->standardIcon(QStyle::SP_DirIcon),
                                         QStringLiteral("%1 (%2)").arg(model.repo, model.revision.left(7)));
        item->setData(kPathRole, model.path);
        item->setToolTip(QDir::toNativeSeparators(model.path));
        m_modelList->addItem(item);
    }
}

void ModelPage::openListItem(QListWidgetItem *item) {
    if (item->data(kIsDemoRole).toBool())
        openDemo();
    else
        openModel(item->data(kPathRole).toString());
}

void ModelPage::openModel(const QString &modelDir) {
    m_waitingForDemo = false;
    try {
        const headroom::ModelSummary summary = headroom::ModelSummary::inspect(modelDir.toStdString());
        const bool isDemo = QFileInfo(modelDir) == QFileInfo(demoModelDir());
        m_summaryView->setSummary(isDemo ? tr("Demo model") : QDir(modelDir).dirName(), modelDir, summary);
        showPage(m_summaryView);
        m_session->setModel(modelDir, summary.config);
    } catch (const std::exception &error) {
        showError(QString::fromStdString(error.what()));
    }
}

void ModelPage::openDemo() {
    m_waitingForDemo = false;
    const QString config = m_demoDir + "/train.json"; // headroom::makeDemo's layout
    try {
        headroom::ModelSummary::inspect(demoModelDir().toStdString());
        m_session->setConfig(headroom::TrainConfig::fromFile(config.toStdString()));
    } catch (const std::exception &) {
        createDemo(); // first use, or a demo left half-written (makeDemo replaces only a demo)
        return;
    }
    openModel(demoModelDir());
}

void ModelPage::chooseModelFolder() {
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Open model folder"));
    if (!dir.isEmpty())
        openModel(dir);
}

void ModelPage::createDemo() {
    m_waitingForDemo = true;
    emit demoCreationChanged(true);
    m_busyLabel->setText(tr("Creating the demo…\nA small Llama-architecture model and a dataset, in %1")
                             .arg(QDir::toNativeSeparators(m_demoDir)));
    showPage(m_busyPage);
    QMetaObject::invokeMethod(m_demoCreator, [creator = m_demoCreator, dir = m_demoDir] { creator->create(dir); });
}

QString ModelPage::demoModelDir() const {
    return m_demoDir + "/model"; // headroom::makeDemo's layout
}

void ModelPage::showError(const QString &message) {
    m_errorLabel->setText(message);
    showPage(m_errorLabel);
}

void ModelPage::showPage(QWidget *page) {
    for (QWidget *candidate : std::as_const(m_pages))
        candidate->setVisible(candidate == page);
}
