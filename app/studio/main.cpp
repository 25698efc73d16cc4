// headroom: the Qt desktop studio (docs/studio.md). It starts with
//   headroom                  the configuration open when the window last closed, else the bundled
//                             demo, created on first use in ~/.local/share/headroom/demo
//                             (or $HEADROOM_DEMO_DIR, as scripts/demo.sh)
//   headroom MODEL_DIR        that HF model folder
//   headroom CONFIG.json      the model that the training configuration's "model" field names

// LibTorch before Qt: Qt's `slots` macro breaks LibTorch's headers.
#include "headroom/runtime.h"

#include "main_window.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QStandardPaths>

#include <cstdio>

int main(int argc, char *argv[]) {
    headroom::initRuntime();
    QApplication app(argc, argv);
    QApplication::setApplicationName("headroom");
    QApplication::setOrganizationName("Headroom");

    QCommandLineParser parser;
    parser.setApplicationDescription("Headroom studio: fine-tune LLMs on your own machine.");
    const QCommandLineOption help = parser.addHelpOption();
    parser.addPositionalArgument("path", "an HF model folder or a training CONFIG.json (default: the bundled demo)",
                                 "[MODEL_DIR_OR_CONFIG.json]");
    const bool parsed = parser.parse(QApplication::arguments());
    if (parsed && parser.isSet(help))
        parser.showHelp(0);
    const QStringList paths = parser.positionalArguments();
    if (!parsed || paths.size() > 1) {
        const QString problem = parsed ? "expected at most one MODEL_DIR or CONFIG.json" : parser.errorText();
        std::fprintf(stderr, "error: %s (see headroom --help)\n", qUtf8Printable(problem));
        return 2;
    }

    // GenericDataLocation + the application name, not AppLocalDataLocation: the latter adds the
    // organisation (~/.local/share/Headroom/headroom), and scripts/demo.sh uses the same folder.
    const QString defaultDemoDir = QStandardPaths::writableLocation(QStandardPaths::GenericDataLocation) + "/" +
                                   QApplication::applicationName() + "/demo";
    MainWindow window(qEnvironmentVariable("HEADROOM_DEMO_DIR", defaultDemoDir));
    window.show();
    if (paths.isEmpty()) {
        if (!window.restoreLastConfig())
            window.openDemo();
    } else
        window.open(paths.first());
    return QApplication::exec();
}
