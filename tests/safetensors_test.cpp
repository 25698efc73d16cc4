// Tests of the safetensors reader, writer and checkpoint folders. Corrupt files are built byte by
// byte in a temporary folder; one golden file is built by hand, independent of our writer.
#include "headroom/error.h"
#include "headroom/safetensors.h"

#include <QTemporaryDir>
#include <QtTest/QtTest>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>

using namespace headroom;
namespace fs = std::filesystem;

namespace {

const std::vector<Dtype> kAllDtypes = {Dtype::BOOL, Dtype::U8,   Dtype::I8,  Dtype::I16, Dtype::U16,
                                       Dtype::F16,  Dtype::BF16, Dtype::I32, Dtype::U32, Dtype::F32,
                                       Dtype::F64,  Dtype::I64,  Dtype::U64};

std::string littleEndian64(uint64_t value) {
    std::string bytes(8, '\0');
    for (int i = 0; i < 8; ++i)
        bytes[i] = static_cast<char>(value >> (8 * i));
    return bytes;
}

// The bytes of a safetensors file: u64 LE header length, header, data.
std::string fileBytes(const std::string &header, const std::string &data = {}) {
    return littleEndian64(header.size()) + header + data;
}

void writeFile(const std::string &path, const std::string &bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string readFile(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string bytesOf(const SafetensorsFile &file, const TensorInfo &info) {
    return std::string(reinterpret_cast<const char *>(file.data(info)), info.byteSize());
}

std::vector<std::string> filesIn(const std::string &dir) {
    std::vector<std::string> names;
    for (const auto &entry : fs::directory_iterator(dir))
        names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

// Checks that call() throws headroom::Error of the given kind with every needle in its message.
void expectError(const std::function<void()> &call, ErrorKind kind, const std::vector<std::string> &needles) {
    try {
        call();
    } catch (const Error &e) {
        const std::string message = e.what();
        QVERIFY2(e.kind() == kind, ("wrong error kind for: " + message).c_str());
        for (const std::string &needle : needles)
            QVERIFY2(message.find(needle) != std::string::npos,
                     ("message lacks \"" + needle + "\": " + message).c_str());
        return;
    } catch (const std::exception &e) {
        QFAIL((std::string("not a headroom::Error: ") + e.what()).c_str());
    }
    QFAIL("no error thrown");
}

} // namespace

class SafetensorsTest : public QObject {
    Q_OBJECT

private:
    std::unique_ptr<QTemporaryDir> m_tmp;

    std::string path(const std::string &name) const { return (m_tmp->path() + "/").toStdString() + name; }

    // Writes a file with this header and data, and checks that opening it is refused naming the
    // file and every needle.
    void expectRefused(const std::string &header, const std::string &data, const std::vector<std::string> &needles) {
        const std::string file = path("bad.safetensors");
        writeFile(file, fileBytes(header, data));
        std::vector<std::string> all = needles;
        all.push_back(file);
        expectError([&] { SafetensorsFile::open(file); }, ErrorKind::InvalidInput, all);
    }

    // A valid two-shard folder: a and b in shard 1, c in shard 2.
    std::string writeShardedModel(const std::string &indexJson) {
        const std::string dir = path("sharded");
        fs::create_directory(dir);
        const float a[2] = {1, 2}, b[1] = {3}, c[3] = {4, 5, 6};
        writeSafetensors(dir + "/model-00001-of-00002.safetensors",
                         {{"a", {Dtype::F32, {2}, a}}, {"b", {Dtype::F32, {1}, b}}});
        writeSafetensors(dir + "/model-00002-of-00002.safetensors", {{"c", {Dtype::F32, {3}, c}}});
        writeFile(dir + "/model.safetensors.index.json", indexJson);
        return dir;
    }

    static std::string shardIndex(const std::string &cShard = "model-00002-of-00002.safetensors",
                                  const std::string &extra = "") {
        // Plain strings here: moc 6.4 loses the class after some raw strings ending in a quote.
        return "{\"metadata\": {\"total_size\": 24}, \"weight_map\": {"
               "\"a\": \"model-00001-of-00002.safetensors\", \"b\": \"model-00001-of-00002.safetensors\", "
               "\"c\": \"" +
               cShard + "\"" + extra + "}}";
    }

private slots:
    void init() {
        m_tmp = std::make_unique<QTemporaryDir>();
        QVERIFY(m_tmp->isValid());
    }

    // --- dtypes ---

    void dtypeNamesRoundTripAndSizesMatchTheFormat() {
        const std::vector<size_t> sizes = {1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 8, 8, 8};
        for (size_t i = 0; i < kAllDtypes.size(); ++i) {
            QCOMPARE(parseDtype(dtypeName(kAllDtypes[i]), "test"), kAllDtypes[i]);
            QCOMPARE(dtypeSize(kAllDtypes[i]), sizes[i]);
        }
        QCOMPARE(dtypeName(Dtype::BF16), std::string("BF16"));
        expectError([] { parseDtype("F7", "config.json: field 'dtype'"); }, ErrorKind::InvalidInput,
                    {"config.json: field 'dtype'", "'F7'", "BF16"});
    }

    // --- round trips through our writer ---

    void roundTripsEveryDtypeWithScalarEmptyTensorsAndMetadata() {
        std::vector<std::string> payloads;
        std::vector<std::pair<std::string, TensorBytes>> tensors;
        for (Dtype dtype : kAllDtypes) {
            std::string bytes(6 * dtypeSize(dtype), '\0');
            for (size_t i = 0; i < bytes.size(); ++i)
                bytes[i] = static_cast<char>(i * 7 + static_cast<int>(dtype));
            payloads.push_back(bytes);
        }
        for (size_t i = 0; i < kAllDtypes.size(); ++i)
            tensors.push_back({"t." + dtypeName(kAllDtypes[i]), {kAllDtypes[i], {2, 3}, payloads[i].data()}});
        const double scalar = 2.5;
        tensors.push_back({"scalar", {Dtype::F64, {}, &scalar}});
        tensors.push_back({"empty", {Dtype::BF16, {0, 4}, nullptr}});
        const std::string file = path("all.safetensors");
        writeSafetensors(file, tensors, {{"format", "pt"}, {"note", "ünïcode"}});

        auto opened = SafetensorsFile::open(file);
        QCOMPARE(opened->path(), file);
        QCOMPARE(opened->tensors().size(), tensors.size());
        QCOMPARE(opened->metadata(), (std::map<std::string, std::string>{{"format", "pt"}, {"note", "ünïcode"}}));
        for (size_t i = 0; i < kAllDtypes.size(); ++i) {
            const TensorInfo *info = opened->find("t." + dtypeName(kAllDtypes[i]));
            QVERIFY(info);
            QCOMPARE(info->dtype, kAllDtypes[i]);
            QCOMPARE(info->shape, (std::vector<int64_t>{2, 3}));
            QCOMPARE(info->numel(), int64_t(6));
            QCOMPARE(bytesOf(*opened, *info), payloads[i]);
        }
        const TensorInfo *scalarInfo = opened->find("scalar");
        QVERIFY(scalarInfo);
        QVERIFY(scalarInfo->shape.empty());
        QCOMPARE(scalarInfo->numel(), int64_t(1));
        double readBack = 0;
        std::memcpy(&readBack, opened->data(*scalarInfo), sizeof readBack);
        QCOMPARE(readBack, 2.5);
        const TensorInfo *emptyInfo = opened->find("empty");
        QVERIFY(emptyInfo);
        QCOMPARE(emptyInfo->numel(), int64_t(0));
        QCOMPARE(emptyInfo->byteSize(), uint64_t(0));
        QCOMPARE(opened->find("absent"), nullptr);
        for (size_t i = 1; i < opened->tensors().size(); ++i)
            QVERIFY(opened->tensors()[i - 1].end == opened->tensors()[i].begin);
    }

    void roundTripsFileWithNoTensors() {
        const std::string file = path("none.safetensors");
        writeSafetensors(file, {});
        auto opened = SafetensorsFile::open(file);
        QVERIFY(opened->tensors().empty());
        QVERIFY(opened->metadata().empty());
    }

    void padsHeaderWithSpacesSoDataStartsAtMultipleOf8() {
        // Names of growing length move the header end through every residue mod 8.
        for (int length = 1; length <= 8; ++length) {
            const std::string file = path("pad" + std::to_string(length) + ".safetensors");
            const uint8_t value = 0xAB;
            writeSafetensors(file, {{std::string(length, 'x'), {Dtype::U8, {1}, &value}}});
            const std::string bytes = readFile(file);
            uint64_t headerBytes = 0;
            for (int i = 7; i >= 0; --i)
                headerBytes = (headerBytes << 8) | static_cast<uint8_t>(bytes[i]);
            QCOMPARE(headerBytes % 8, uint64_t(0));
            QCOMPARE(bytes.size(), size_t(8 + headerBytes + 1));
            const std::string header = bytes.substr(8, headerBytes);
            const size_t close = header.rfind('}');
            QVERIFY(close != std::string::npos);
            QVERIFY(header.find_first_not_of(' ', close + 1) == std::string::npos);
            QVERIFY(header.size() - close - 1 < 8);
            QCOMPARE(static_cast<uint8_t>(bytes.back()), value);
        }
    }

    void writerProducesTheExpectedBytes() {
        const float value = 1.5f;
        const std::string file = path("golden.safetensors");
        writeSafetensors(file, {{"a", {Dtype::F32, {}, &value}}}, {{"format", "pt"}});
        std::string header = R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]}})";
        header.append((8 - header.size() % 8) % 8, ' ');
        QCOMPARE(readFile(file), fileBytes(header, std::string("\x00\x00\xC0\x3F", 4)));
    }

    // --- golden: a file built by hand, not by our writer ---

    void readsHandBuiltFile() {
        // Keys out of offset order, metadata last, header padded with spaces.
        const std::string header = R"({"b":{"dtype":"I16","shape":[2],"data_offsets":[4,8]},)"
                                   R"("a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},)"
                                   R"("__metadata__":{"format":"pt"}}   )";
        const std::string data("\x00\x00\xC0\x3F\xFE\xFF\x03\x00", 8); // 1.5f; int16 -2, 3
        const std::string file = path("hand.safetensors");
        writeFile(file, fileBytes(header, data));

        auto opened = SafetensorsFile::open(file);
        QCOMPARE(opened->tensors().size(), size_t(2));
        QCOMPARE(opened->tensors()[0].name, std::string("a"));
        QCOMPARE(opened->tensors()[1].name, std::string("b"));
        QCOMPARE(opened->metadata().at("format"), std::string("pt"));
        float a = 0;
        std::memcpy(&a, opened->data(*opened->find("a")), 4);
        QCOMPARE(a, 1.5f);
        int16_t b[2] = {};
        std::memcpy(b, opened->data(*opened->find("b")), 4);
        QCOMPARE(b[0], int16_t(-2));
        QCOMPARE(b[1], int16_t(3));
        QCOMPARE(opened->find("b")->shape, std::vector<int64_t>{2});
    }

    void acceptsEmptyTensorsSharingAnOffset() {
        const std::string file = path("empties.safetensors");
        writeFile(file, fileBytes(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},)"
                                  R"("b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                  R"("c":{"dtype":"I8","shape":[3,0],"data_offsets":[0,0]}})",
                                  std::string(4, '\0')));
        auto opened = SafetensorsFile::open(file);
        QCOMPARE(opened->tensors().size(), size_t(3));
        QCOMPARE(opened->tensors()[0].name, std::string("c"));
        QCOMPARE(opened->tensors()[2].name, std::string("a"));
    }

    // --- corrupt files ---

    void refusesFileShorterThan8Bytes() {
        const std::string file = path("short.safetensors");
        writeFile(file, "abc");
        expectError([&] { SafetensorsFile::open(file); }, ErrorKind::InvalidInput, {file, "3 bytes", "too short"});
    }

    void refusesMissingFile() {
        const std::string file = path("missing.safetensors");
        expectError([&] { SafetensorsFile::open(file); }, ErrorKind::InvalidInput, {file, "cannot open"});
    }

    void refusesHeaderLengthPastEndOfFile() {
        const std::string file = path("truncated.safetensors");
        writeFile(file, littleEndian64(1000) + R"({"a":1})");
        expectError([&] { SafetensorsFile::open(file); }, ErrorKind::InvalidInput,
                    {file, "header length 1000", "past the end of the file"});
    }

    void refusesHeaderLengthOver100MB() {
        const std::string file = path("huge.safetensors");
        writeFile(file, littleEndian64(100'000'001) + "{}");
        expectError([&] { SafetensorsFile::open(file); }, ErrorKind::InvalidInput,
                    {file, "100000001", "limit of 100000000"});
        writeFile(file, littleEndian64(~uint64_t(0)) + "{}");
        expectError([&] { SafetensorsFile::open(file); }, ErrorKind::InvalidInput, {file, "limit"});
    }

    void refusesHeaderThatIsNotJson() { expectRefused(R"({"a": {"dtype": )", "", {"not valid JSON"}); }

    void refusesHeaderThatIsNotAnObject() {
        expectRefused("[1, 2]", "", {"JSON object starting with '{'"});
        expectRefused("", "", {"JSON object starting with '{'"});
    }

    void refusesHeaderWithInvalidUtf8() {
        expectRefused("{\"\xff\xfe\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}", "",
                      {"not valid JSON", "\\xff"}); // the broken byte is escaped, not echoed
    }

    void refusesOverlappingOffsets() {
        expectRefused(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                      R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                      std::string(12, '\0'), {"tensor 'b'", "[4, 12]", "overlapping tensor 'a'"});
    }

    void refusesOffsetsPastEndOfBuffer() {
        expectRefused(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", std::string(8, '\0'),
                      {"tensor 'a'", "[0, 16]", "only 8 bytes"});
    }

    void refusesOffsetsWithBeginPastEnd() {
        expectRefused(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", std::string(8, '\0'),
                      {"tensor 'a'", "[8, 4]", "begin is past end"});
    }

    void refusesHoleBetweenTensors() {
        expectRefused(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                      R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                      std::string(12, '\0'), {"tensor 'b'", "starts at 8", "tensor 'a' ends at 4", "hole of 4"});
        expectRefused(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", std::string(8, '\0'),
                      {"tensor 'a'", "starts at 4", "hole of 4"});
    }

    void refusesBytesAfterLastTensor() {
        expectRefused(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", std::string(6, '\0'),
                      {"data buffer is 6 bytes", "end at offset 4"});
    }

    void refusesSizeThatDoesNotMatchDtypeAndShape() {
        expectRefused(R"({"model.layers.0.mlp.up_proj.weight":{"dtype":"F32","shape":[5,6],"data_offsets":[0,100]}})",
                      std::string(100, '\0'),
                      {"tensor 'model.layers.0.mlp.up_proj.weight' has data_offsets [0, 100] but dtype F32 and "
                       "shape [5, 6] need 120 bytes"});
    }

    void refusesDuplicateTensorName() {
        expectRefused(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                      R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                      std::string(8, '\0'), {"tensor 'a'", "twice"});
        expectRefused(R"({"a":{"dtype":"F32","dtype":"U8","shape":[1],"data_offsets":[0,4]}})", std::string(4, '\0'),
                      {"'dtype' twice"});
    }

    void refusesUnknownDtype() {
        expectRefused(R"({"w":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}})", std::string(1, '\0'),
                      {"tensor 'w'", "unknown dtype 'F8_E4M3'", "BF16"});
    }

    void refusesNegativeDim() {
        expectRefused(R"({"w":{"dtype":"U8","shape":[2,-1],"data_offsets":[0,0]}})", "",
                      {"tensor 'w'", "negative dim -1"});
    }

    void refusesShapeWhoseSizeOverflows() {
        expectRefused(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", "",
                      {"tensor 'w'", "overflows"});
        expectRefused(R"({"w":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,0]}})", "",
                      {"tensor 'w'", "overflows"});
    }

    void refusesEntriesWithMissingOrMistypedFields_data() {
        QTest::addColumn<QString>("entry");
        QTest::addColumn<QString>("needle");
        QTest::newRow("not an object") << R"([1])"
                                       << "not an object";
        QTest::newRow("no dtype") << R"({"shape":[1],"data_offsets":[0,1]})"
                                  << "no dtype";
        QTest::newRow("no shape") << R"({"dtype":"U8","data_offsets":[0,1]})"
                                  << "no shape";
        QTest::newRow("no offsets") << R"({"dtype":"U8","shape":[1]})"
                                    << "no data_offsets";
        QTest::newRow("dtype number") << R"({"dtype":4,"shape":[1],"data_offsets":[0,1]})"
                                      << "dtype must be a string";
        QTest::newRow("shape string") << R"({"dtype":"U8","shape":"1","data_offsets":[0,1]})"
                                      << "shape must be";
        QTest::newRow("fractional dim") << R"({"dtype":"U8","shape":[1.5],"data_offsets":[0,1]})"
                                        << "shape must be";
        QTest::newRow("three offsets") << R"({"dtype":"U8","shape":[1],"data_offsets":[0,1,2]})"
                                       << "[begin, end]";
        QTest::newRow("negative offset") << R"({"dtype":"U8","shape":[1],"data_offsets":[-1,1]})"
                                         << "[begin, end]";
        QTest::newRow("offsets object") << R"({"dtype":"U8","shape":[1],"data_offsets":{}})"
                                        << "[begin, end]";
    }

    void refusesEntriesWithMissingOrMistypedFields() {
        QFETCH(QString, entry);
        QFETCH(QString, needle);
        expectRefused("{\"w\":" + entry.toStdString() + "}", std::string(1, '\0'),
                      {"tensor 'w'", needle.toStdString()});
    }

    void refusesMetadataThatIsNotAStringMap() {
        expectRefused(R"({"__metadata__":{"epoch":3}})", "", {"__metadata__ key 'epoch'", "string values"});
        expectRefused(R"({"__metadata__":"pt"})", "", {"__metadata__ is a JSON string"});
    }

    void neverCrashesOnTruncatedOrScrambledFiles() {
        const float values[6] = {1, 2, 3, 4, 5, 6};
        const std::string good = path("good.safetensors");
        writeSafetensors(good, {{"a", {Dtype::F32, {2}, values}}, {"b", {Dtype::F32, {2, 2}, values + 2}}},
                         {{"format", "pt"}});
        const std::string bytes = readFile(good);
        const std::string file = path("mangled.safetensors");
        for (size_t length = 0; length < bytes.size(); ++length) {
            writeFile(file, bytes.substr(0, length));
            expectError([&] { SafetensorsFile::open(file); }, ErrorKind::InvalidInput, {file});
            if (QTest::currentTestFailed())
                return;
        }
        std::mt19937 random(1234);
        for (int round = 0; round < 2000; ++round) {
            std::string scrambled = bytes;
            for (int flips = 0; flips < 3; ++flips)
                scrambled[random() % scrambled.size()] = static_cast<char>(random());
            writeFile(file, scrambled);
            try {
                auto opened = SafetensorsFile::open(file);
                for (const TensorInfo &info : opened->tensors()) // a file that opens is safe to read
                    QVERIFY(info.end + 8 <= opened->fileSize());
            } catch (const Error &e) {
                QCOMPARE(int(e.kind()), int(ErrorKind::InvalidInput));
            }
        }
    }

    void releasePagesKeepsTheDataReadable() {
        std::vector<float> big(1 << 20);
        for (size_t i = 0; i < big.size(); ++i)
            big[i] = float(i);
        const std::string file = path("big.safetensors");
        writeSafetensors(file, {{"big", {Dtype::F32, {int64_t(big.size())}, big.data()}}});
        auto opened = SafetensorsFile::open(file);
        const TensorInfo &info = *opened->find("big");
        std::vector<float> copy(big.size());
        std::memcpy(copy.data(), opened->data(info), info.byteSize());
        opened->releasePages(info);
        QCOMPARE(copy, big);
        QCOMPARE(std::memcmp(opened->data(info), big.data(), info.byteSize()), 0); // faults back in
    }

    // --- checkpoint folders ---

    void opensShardedCheckpointThroughIndex() {
        const std::string dir = writeShardedModel(shardIndex());
        SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint::openDir(dir);
        QCOMPARE(checkpoint.names(), (std::vector<std::string>{"a", "b", "c"}));
        QCOMPARE(checkpoint.files().size(), size_t(2));
        QCOMPARE(checkpoint.totalBytes(), uint64_t(24));
        QVERIFY(checkpoint.contains("c"));
        QVERIFY(!checkpoint.contains("d"));
        SafetensorsCheckpoint::Ref c = checkpoint.find("c");
        QCOMPARE(c.info->shape, std::vector<int64_t>{3});
        float values[3] = {};
        std::memcpy(values, c.file->data(*c.info), sizeof values);
        QCOMPARE(values[2], 6.0f);
        QVERIFY(c.file->path().find("model-00002-of-00002.safetensors") != std::string::npos);
    }

    void refusesIndexWithMissingShard() {
        const std::string dir = writeShardedModel(shardIndex("model-00003-of-00002.safetensors"));
        expectError(
            [&] { SafetensorsCheckpoint::openDir(dir); }, ErrorKind::InvalidInput,
            {dir + "/model.safetensors.index.json", "tensor 'c'", "model-00003-of-00002.safetensors", "missing"});
    }

    void refusesIndexNamingTensorAbsentFromShard() {
        const std::string dir = writeShardedModel(shardIndex(
            "model-00002-of-00002.safetensors", R"(, "lm_head.weight": "model-00002-of-00002.safetensors")"));
        expectError([&] { SafetensorsCheckpoint::openDir(dir); }, ErrorKind::InvalidInput,
                    {dir + "/model.safetensors.index.json", "tensor 'lm_head.weight'", "has no tensor"});
    }

    void refusesIndexThatIsNotValid() {
        std::string dir = writeShardedModel("{\"weight_map\": ");
        expectError([&] { SafetensorsCheckpoint::openDir(dir); }, ErrorKind::InvalidInput,
                    {dir + "/model.safetensors.index.json", "not valid JSON"});
        writeFile(dir + "/model.safetensors.index.json", R"({"metadata": {}})");
        expectError([&] { SafetensorsCheckpoint::openDir(dir); }, ErrorKind::InvalidInput,
                    {"model.safetensors.index.json", "weight_map"});
        writeFile(dir + "/model.safetensors.index.json", R"({"weight_map": {"a": "../elsewhere.safetensors"}})");
        expectError([&] { SafetensorsCheckpoint::openDir(dir); }, ErrorKind::InvalidInput,
                    {"model.safetensors.index.json", "tensor 'a'", "inside the folder"});
    }

    void reportsDamagedShardByItsPath() {
        const std::string dir = writeShardedModel(shardIndex());
        writeFile(dir + "/model-00002-of-00002.safetensors", "garbage!garbage");
        expectError([&] { SafetensorsCheckpoint::openDir(dir); }, ErrorKind::InvalidInput,
                    {dir + "/model-00002-of-00002.safetensors"});
    }

    void opensModelSafetensorsOrTheOnlySafetensorsFile() {
        const std::string dir = path("single");
        fs::create_directory(dir);
        const uint16_t half[2] = {0x3C00, 0x4000};
        writeSafetensors(dir + "/adapter_model.safetensors", {{"x", {Dtype::F16, {2}, half}}});
        SafetensorsCheckpoint only = SafetensorsCheckpoint::openDir(dir);
        QCOMPARE(only.names(), std::vector<std::string>{"x"});
        QCOMPARE(only.totalBytes(), uint64_t(4));

        writeSafetensors(dir + "/other.safetensors", {{"y", {Dtype::F16, {2}, half}}});
        expectError([&] { SafetensorsCheckpoint::openDir(dir); }, ErrorKind::InvalidInput,
                    {dir, "adapter_model.safetensors", "other.safetensors"});

        writeSafetensors(dir + "/model.safetensors", {{"z", {Dtype::F16, {1}, half}}});
        QCOMPARE(SafetensorsCheckpoint::openDir(dir).names(), std::vector<std::string>{"z"});
    }

    void refusesFolderWithoutWeights() {
        const std::string dir = path("empty");
        fs::create_directory(dir);
        expectError([&] { SafetensorsCheckpoint::openDir(dir); }, ErrorKind::InvalidInput, {dir, "no weights"});
        expectError([&] { SafetensorsCheckpoint::openDir(dir + "/nope"); }, ErrorKind::InvalidInput,
                    {dir + "/nope", "not a folder"});
    }

    void findNamesTheFolderForUnknownTensor() {
        const std::string dir = writeShardedModel(shardIndex());
        SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint::openDir(dir);
        expectError([&] { checkpoint.find("model.norm.weight"); }, ErrorKind::InvalidInput,
                    {dir + ": tensor 'model.norm.weight' not found"});
    }

    // --- writer ---

    void unfinishedWriterLeavesNoFileBehind() {
        const std::string dir = path("out");
        fs::create_directory(dir);
        {
            SafetensorsWriter writer(dir + "/adapter.safetensors");
            const float values[4] = {};
            writer.declare("a", Dtype::F32, {4});
            writer.declare("b", Dtype::F32, {4});
            writer.writeTensor("a", values, sizeof values);
            QCOMPARE(filesIn(dir).size(), size_t(1)); // the temporary file, not the target
            QVERIFY(!fs::exists(dir + "/adapter.safetensors"));
        }
        QVERIFY(filesIn(dir).empty());
    }

    void finishedWriterLeavesOnlyTheTarget() {
        const std::string dir = path("out");
        fs::create_directory(dir);
        SafetensorsWriter writer(dir + "/adapter.safetensors", {{"format", "pt"}});
        const int64_t values[3] = {-1, 0, 1};
        writer.declare("ids", Dtype::I64, {3});
        writer.writeTensor("ids", values, sizeof values);
        writer.finish();
        QCOMPARE(filesIn(dir), std::vector<std::string>{"adapter.safetensors"});
        auto opened = SafetensorsFile::open(dir + "/adapter.safetensors");
        QCOMPARE(opened->metadata().at("format"), std::string("pt"));
    }

    void finishIntoMissingDirectoryThrowsRuntimeFailure() {
        const std::string target = path("no/such/dir/model.safetensors");
        expectError([&] { SafetensorsWriter(target).finish(); }, ErrorKind::RuntimeFailure, {target});
        const uint8_t byte = 1;
        expectError(
            [&] {
                writeSafetensors(target, {{"a", {Dtype::U8, {1}, &byte}}});
            },
            ErrorKind::RuntimeFailure, {target});
    }

    void writerRefusesMisuse() {
        const std::string target = path("misuse.safetensors");
        const float values[2] = {};
        SafetensorsWriter writer(target);
        writer.declare("a", Dtype::F32, {2});
        writer.declare("b", Dtype::F32, {1});
        expectError([&] { writer.declare("a", Dtype::F32, {1}); }, ErrorKind::InvalidInput, {"tensor 'a'", "twice"});
        expectError([&] { writer.declare("c", Dtype::F32, {-1}); }, ErrorKind::InvalidInput, {"tensor 'c'"});
        expectError([&] { writer.writeTensor("b", values, 4); }, ErrorKind::InvalidInput,
                    {"tensor 'b'", "out of order", "'a'"});
        expectError([&] { writer.writeTensor("a", values, 4); }, ErrorKind::InvalidInput,
                    {"tensor 'a'", "4 bytes", "need 8"});
        expectError([&] { writer.finish(); }, ErrorKind::InvalidInput, {"tensor 'a'", "missing"});
        writer.writeTensor("a", values, 8);
        expectError([&] { writer.declare("c", Dtype::F32, {1}); }, ErrorKind::InvalidInput, {"after writing began"});
        writer.writeTensor("b", values, 4);
        writer.finish();
        QCOMPARE(SafetensorsFile::open(target)->tensors().size(), size_t(2));
    }
};

QTEST_APPLESS_MAIN(SafetensorsTest)
#include "safetensors_test.moc"
