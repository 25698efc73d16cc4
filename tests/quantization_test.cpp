// Blockwise quantization (headroom/quantization.h) against an independent numpy reference of
// bitsandbytes' algorithm (tests/reference/quant_reference.py; goldens written by
// tests/reference/make_quant_goldens.py into tests/data/quant/), plus properties, the tensor-op path
// that CUDA tensors use, and a dequantization benchmark (HEADROOM_QUANT_BENCH_PARAMS=67108864 for the
// 64M-parameter figure).
#include <QtTest/QtTest>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "headroom/error.h"
#include "headroom/memory.h"
#include "headroom/quantization.h"
#include "headroom/runtime.h"
#include "headroom/safetensors.h"
#include "test_support.h"

using namespace headroom;

namespace {

const char *typeName(Quant4Type type) { return type == Quant4Type::NF4 ? "nf4" : "fp4"; }

// Same dtype, shape and bytes (so -0.0 differs from 0.0: the reference decides signs too).
bool sameBits(const torch::Tensor &actual, const torch::Tensor &expected, QString *why) {
    if (actual.scalar_type() != expected.scalar_type() || actual.numel() != expected.numel()) {
        *why = QString("dtype/size %1 %2 vs %3 %4")
                   .arg(c10::toString(actual.scalar_type()))
                   .arg(actual.numel())
                   .arg(c10::toString(expected.scalar_type()))
                   .arg(expected.numel());
        return false;
    }
    const auto a = actual.cpu().contiguous(), e = expected.cpu().contiguous();
    if (std::memcmp(a.data_ptr(), e.data_ptr(), size_t(a.numel()) * a.element_size()) == 0)
        return true;
    const auto differs = a.reshape({-1}).view(torch::kUInt8).ne(e.reshape({-1}).view(torch::kUInt8));
    const int64_t firstByte = differs.nonzero()[0].item<int64_t>();
    const int64_t index = firstByte / a.element_size();
    *why = QString("first difference at element %1 of %2").arg(index).arg(a.numel());
    if (a.is_floating_point())
        *why += QString(": %1 vs %2, max |diff| %3")
                    .arg(a.reshape({-1})[index].item<double>(), 0, 'g', 9)
                    .arg(e.reshape({-1})[index].item<double>(), 0, 'g', 9)
                    .arg((a.to(torch::kFloat64) - e.to(torch::kFloat64)).abs().max().item<double>());
    else
        *why += QString(": %1 vs %2")
                    .arg(a.reshape({-1})[index].item<int64_t>())
                    .arg(e.reshape({-1})[index].item<int64_t>());
    return false;
}

#define VERIFY_SAME_BITS(actual, expected, what)                                                                       \
    do {                                                                                                               \
        QString why_;                                                                                                  \
        QVERIFY2(sameBits(actual, expected, &why_), qPrintable(QString(what) + ": " + why_));                          \
    } while (0)

template <typename F>
void verifyInvalidInput(F &&call, const std::string &mustMention) {
    try {
        call();
        QFAIL(("no error; expected one mentioning " + mustMention).c_str());
    } catch (const Error &e) {
        QVERIFY(e.kind() == ErrorKind::InvalidInput);
        QVERIFY2(std::string(e.what()).find(mustMention) != std::string::npos, e.what());
    }
}

// Random weights with the features that matter: an odd count, a partial last block, a zero block.
torch::Tensor awkwardWeights(int64_t rows, int64_t cols, int64_t seed) {
    torch::manual_seed(seed);
    auto w = torch::randn({rows, cols}) * 0.05;
    w.view({-1}).slice(0, 64, 192).zero_();
    return w;
}

float largestHalfGap(const std::vector<float> &codes) {
    std::vector<float> sorted = codes;
    std::sort(sorted.begin(), sorted.end());
    float gap = 0;
    for (size_t k = 1; k < sorted.size(); ++k)
        gap = std::max(gap, sorted[k] - sorted[k - 1]);
    return gap / 2;
}

// The per-element scale a Quant4Tensor decodes to: every nibble set to the code 1.0.
torch::Tensor decodedScales(Quant4Tensor q) {
    const auto &book = quant4Codebook(q.type);
    const uint8_t one = uint8_t(std::find(book.begin(), book.end(), 1.0f) - book.begin());
    q.packed = torch::full_like(q.packed, int64_t(one << 4 | one));
    return dequantize4(q, torch::kFloat32).reshape({-1});
}

} // namespace

class QuantizationTest : public QObject {
    Q_OBJECT

    std::shared_ptr<SafetensorsFile> m_goldens;

    torch::Tensor golden(const std::string &name) const {
        const TensorInfo *info = m_goldens->find(name);
        if (!info)
            throw std::runtime_error("quant goldens: no tensor " + name);
        torch::ScalarType type;
        switch (info->dtype) {
        case Dtype::F32: type = torch::kFloat32; break;
        case Dtype::U8: type = torch::kUInt8; break;
        case Dtype::BF16: type = torch::kBFloat16; break;
        case Dtype::F16: type = torch::kFloat16; break;
        default: throw std::runtime_error("quant goldens: unexpected dtype of " + name);
        }
        return torch::from_blob(const_cast<std::uint8_t *>(m_goldens->data(*info)), info->shape, type).clone();
    }

    // A Quant4Tensor made of the reference's bytes (not of our quantize4).
    Quant4Tensor goldenState(const std::string &name, Quant4Type type, int64_t blocksize, bool doubleQuant,
                             std::vector<int64_t> shape) const {
        Quant4Tensor q;
        q.type = type;
        q.shape = std::move(shape);
        q.blocksize = blocksize;
        q.packed = golden(name + ".packed");
        q.absmax = golden(name + ".absmax");
        q.doubleQuant = doubleQuant;
        if (doubleQuant) {
            q.nestedAbsmax = golden(name + ".nested_absmax");
            q.nestedOffset = golden(name + ".nested_offset").item<float>();
        }
        return q;
    }

    static void quant4Variants() {
        QTest::addColumn<int>("type");
        QTest::addColumn<int>("blocksize");
        QTest::addColumn<bool>("doubleQuant");
        for (Quant4Type type : {Quant4Type::NF4, Quant4Type::FP4})
            for (int blocksize : {64, 128})
                for (bool dq : {false, true})
                    QTest::newRow(
                        qPrintable(QString("%1_bs%2%3").arg(typeName(type)).arg(blocksize).arg(dq ? "_dq" : "")))
                        << int(type) << blocksize << dq;
    }

private slots:
    void initTestCase() {
        initRuntime({});
        m_goldens = SafetensorsFile::open(test::dataPath("quant/quant_goldens.safetensors").toStdString());
    }

    void codebooksAreBitsandbytes() {
        // Typed from bitsandbytes functional.py.
        const double nf4[16] = {-1.0,
                                -0.6961928009986877,
                                -0.5250730514526367,
                                -0.39491748809814453,
                                -0.28444138169288635,
                                -0.18477343022823334,
                                -0.09105003625154495,
                                0.0,
                                0.07958029955625534,
                                0.16093020141124725,
                                0.24611230194568634,
                                0.33791524171829224,
                                0.44070982933044434,
                                0.5626170039176941,
                                0.7229568362236023,
                                1.0};
        const double fp4Raw[16] = {0, 0.0625, 8, 12, 4, 6, 2, 3, -0.0, -0.0625, -8, -12, -4, -6, -2, -3};
        for (int k = 0; k < 16; ++k) {
            QVERIFY(double(quant4Codebook(Quant4Type::NF4)[k]) == nf4[k]); // exactly representable
            QVERIFY(quant4Codebook(Quant4Type::FP4)[k] == float(fp4Raw[k]) / 12.0f);
        }
        QVERIFY(std::signbit(quant4Codebook(Quant4Type::FP4)[8])); // -0: nibble 8 keeps its sign bit
        VERIFY_SAME_BITS(torch::tensor(std::vector<float>(quant4Codebook(Quant4Type::NF4).begin(),
                                                          quant4Codebook(Quant4Type::NF4).end())),
                         golden("nf4_code"), "nf4 code");
        VERIFY_SAME_BITS(torch::tensor(std::vector<float>(quant4Codebook(Quant4Type::FP4).begin(),
                                                          quant4Codebook(Quant4Type::FP4).end())),
                         golden("fp4_code"), "fp4 code");
    }

    void dynamicMapsMatchReference() {
        for (bool isSigned : {true, false}) {
            const auto map = dynamicMap(isSigned);
            QCOMPARE(map.size(), size_t(256));
            for (size_t k = 1; k < map.size(); ++k)
                QVERIFY(map[k - 1] < map[k]);
            QVERIFY(std::count(map.begin(), map.end(), 0.0f) == 1);
            QVERIFY(map.back() == 1.0f);
            // create_dynamic_map appends 0 and 1 only: no -1 in the signed map.
            QVERIFY(map.front() == (isSigned ? -0.99296875f : 0.0f));
            VERIFY_SAME_BITS(torch::tensor(map), golden(isSigned ? "dynamic_signed" : "dynamic_unsigned"),
                             isSigned ? "signed map" : "unsigned map");
        }
    }

    void quantize4MatchesReference_data() { quant4Variants(); }
    void quantize4MatchesReference() {
        QFETCH(int, type);
        QFETCH(int, blocksize);
        QFETCH(bool, doubleQuant);
        const std::string name = QTest::currentDataTag();
        const auto w = golden("w427");
        const Quant4Tensor q = quantize4(w, Quant4Type(type), blocksize, doubleQuant);
        QVERIFY(q.shape == (std::vector<int64_t>{7, 61}));
        QCOMPARE(q.doubleQuant, doubleQuant);
        VERIFY_SAME_BITS(q.packed, golden(name + ".packed"), "packed");
        VERIFY_SAME_BITS(q.absmax, golden(name + ".absmax"), "absmax");
        if (doubleQuant) {
            VERIFY_SAME_BITS(q.nestedAbsmax, golden(name + ".nested_absmax"), "nested absmax");
            QVERIFY(q.nestedOffset == golden(name + ".nested_offset").item<float>());
            QCOMPARE(q.nestedBlocksize, int64_t(256));
        }
        VERIFY_SAME_BITS(dequantize4(q, torch::kFloat32), golden(name + ".dequant_f32"), "dequant f32");
        VERIFY_SAME_BITS(dequantize4(q, torch::kBFloat16), golden(name + ".dequant_bf16"), "dequant bf16");
        VERIFY_SAME_BITS(dequantize4(q, torch::kFloat16), golden(name + ".dequant_f16"), "dequant f16");
    }

    void dequantize4DecodesReferenceState_data() { quant4Variants(); }
    void dequantize4DecodesReferenceState() {
        QFETCH(int, type);
        QFETCH(int, blocksize);
        QFETCH(bool, doubleQuant);
        const std::string name = QTest::currentDataTag();
        const Quant4Tensor q = goldenState(name, Quant4Type(type), blocksize, doubleQuant, {7, 61});
        VERIFY_SAME_BITS(dequantize4(q, torch::kFloat32), golden(name + ".dequant_f32"), "dequant f32");
        VERIFY_SAME_BITS(dequantize4(q, torch::kBFloat16), golden(name + ".dequant_bf16"), "dequant bf16");
        VERIFY_SAME_BITS(dequantize4WithTensorOps(q, torch::kFloat16), golden(name + ".dequant_f16"), "tensor ops f16");
    }

    void explicitNestedMapIsUsed() {
        // A checkpoint's W.nested_quant_map travels in q.nestedMap; ours is the default.
        Quant4Tensor q = goldenState("nf4_bs64_dq", Quant4Type::NF4, 64, true, {7, 61});
        const auto expected = golden("nf4_bs64_dq.dequant_f32");
        q.nestedMap = torch::tensor(dynamicMap(true));
        VERIFY_SAME_BITS(dequantize4(q, torch::kFloat32), expected, "explicit default map");
        q.nestedMap = q.nestedMap * 0.5;
        QVERIFY(!dequantize4(q, torch::kFloat32).equal(expected));
        VERIFY_SAME_BITS(dequantize4WithTensorOps(q, torch::kFloat32), dequantize4(q, torch::kFloat32), "tensor ops");
    }

    void doubleQuantWithSeveralNestedBlocks() {
        // 257 blocks of 32: nested blocks of 256 and 1, and a zero block among them.
        const auto w = golden("w8219");
        const Quant4Tensor q = quantize4(w, Quant4Type::NF4, 32, true);
        QCOMPARE(q.blocks(), int64_t(257));
        VERIFY_SAME_BITS(q.packed, golden("nf4_bs32_dq_big.packed"), "packed");
        VERIFY_SAME_BITS(q.absmax, golden("nf4_bs32_dq_big.absmax"), "absmax codes");
        VERIFY_SAME_BITS(q.nestedAbsmax, golden("nf4_bs32_dq_big.nested_absmax"), "nested absmax");
        QVERIFY(q.nestedOffset == golden("nf4_bs32_dq_big.nested_offset").item<float>());
        VERIFY_SAME_BITS(dequantize4(q, torch::kFloat32), golden("nf4_bs32_dq_big.dequant_f32"), "dequant");
    }

    void blockwise8MatchesReference_data() {
        QTest::addColumn<bool>("isSigned");
        QTest::newRow("v8_signed") << true;
        QTest::newRow("v8_unsigned") << false;
    }
    void blockwise8MatchesReference() {
        QFETCH(bool, isSigned);
        const std::string name = QTest::currentDataTag();
        const Blockwise8 q = quantizeBlockwise8(golden(name), isSigned);
        VERIFY_SAME_BITS(q.codes, golden(name + ".codes"), "codes");
        VERIFY_SAME_BITS(q.absmax, golden(name + ".absmax"), "absmax");
        VERIFY_SAME_BITS(dequantizeBlockwise8(q), golden(name + ".dequant"), "dequant");
        const Blockwise8 viaOps = quantizeBlockwise8WithTensorOps(golden(name), isSigned);
        VERIFY_SAME_BITS(viaOps.codes, golden(name + ".codes"), "tensor-op codes");
        VERIFY_SAME_BITS(dequantizeBlockwise8WithTensorOps(viaOps), golden(name + ".dequant"), "tensor-op dequant");
    }

    void invalidArgumentsAreRejected() {
        const auto w = torch::randn({4, 64});
        for (int64_t bad : {0, 16, 48, 8192, -64})
            verifyInvalidInput([&] { quantize4(w, Quant4Type::NF4, bad); }, "blocksize " + std::to_string(bad));
        verifyInvalidInput([&] { quantizeBlockwise8(w, true, 32); }, "blocksize 32");
        verifyInvalidInput([&] { quantize4(w.to(torch::kInt32), Quant4Type::NF4); }, "Int");
        verifyInvalidInput([&] { quantize4(torch::empty({0, 64}), Quant4Type::NF4); }, "empty");
        Quant4Tensor q = quantize4(w, Quant4Type::NF4, 64, false);
        verifyInvalidInput([&] { dequantize4(q, torch::kInt64); }, "Long");
        torch::Tensor small = torch::empty({100}, torch::kBFloat16);
        verifyInvalidInput([&] { dequantize4Into(q, small); }, "256 elements");
        q.absmax = q.absmax.slice(0, 0, 3);
        verifyInvalidInput([&] { dequantize4(q, torch::kFloat32); }, "absmax");
        Blockwise8 state = quantizeBlockwise8(torch::randn({1000}), true);
        verifyInvalidInput([&] { quantizeBlockwise8Into(torch::randn({999}), state); }, "999");
    }

    void allZeroWeightsDecodeToZero() {
        for (Quant4Type type : {Quant4Type::NF4, Quant4Type::FP4}) {
            const auto q = quantize4(torch::zeros({3, 65}), type, 64, true);
            const auto out = dequantize4(q, torch::kFloat32);
            QVERIFY(!out.isnan().any().item<bool>());
            QCOMPARE(out.abs().max().item<float>(), 0.0f);
        }
        const auto q8 = quantizeBlockwise8(torch::zeros({300}), true);
        QCOMPARE(dequantizeBlockwise8(q8).abs().max().item<float>(), 0.0f);
    }

    void errorIsWithinHalfTheLargestCodeGap_data() {
        QTest::addColumn<int>("type");
        QTest::addColumn<int>("blocksize");
        for (Quant4Type type : {Quant4Type::NF4, Quant4Type::FP4})
            for (int blocksize : {32, 64, 256, 4096})
                QTest::newRow(qPrintable(QString("%1_bs%2").arg(typeName(type)).arg(blocksize)))
                    << int(type) << blocksize;
    }
    void errorIsWithinHalfTheLargestCodeGap() {
        QFETCH(int, type);
        QFETCH(int, blocksize);
        const auto book = quant4Codebook(Quant4Type(type));
        const float halfGap = largestHalfGap({book.begin(), book.end()});
        const auto w = awkwardWeights(301, 257, 7);
        const auto flat = w.reshape({-1});
        // Without double quantization: |w - deq| <= halfGap * absmax (up to float32 rounding).
        const Quant4Tensor plain = quantize4(w, Quant4Type(type), blocksize, false);
        const auto scale = plain.absmax.repeat_interleave(blocksize).slice(0, 0, flat.numel());
        const auto error = (flat - dequantize4(plain, torch::kFloat32).reshape({-1})).abs();
        QVERIFY((error <= scale * (halfGap * (1 + 1e-5)) + 1e-12).all().item<bool>());
        // With it, the decoded absmax adds its own error: |w - deq| <= halfGap * absmax + |absmax - absmax'|.
        const Quant4Tensor dq = quantize4(w, Quant4Type(type), blocksize, true);
        const auto decoded = decodedScales(dq);
        const auto dqError = (flat - dequantize4(dq, torch::kFloat32).reshape({-1})).abs();
        QVERIFY((dqError <= scale * (halfGap * (1 + 1e-5)) + (decoded - scale).abs() * (1 + 1e-5) + 1e-12)
                    .all()
                    .item<bool>());
        // The decoded scales themselves: within half a dynamic-map step of the nested block's range.
        const auto map = dynamicMap(true);
        const float mapHalfGap = largestHalfGap(map);
        const auto nested = dq.nestedAbsmax.repeat_interleave(256).slice(0, 0, plain.blocks());
        const auto decodedPerBlock = decodedScales(dq).index({torch::arange(plain.blocks()) * blocksize});
        QVERIFY(((decodedPerBlock - plain.absmax).abs() <= nested * mapHalfGap * (1 + 1e-5) + plain.absmax * 1e-6)
                    .all()
                    .item<bool>());
    }

    void doubleQuantStoresAbout4Point127BitsPerParameter() {
        // QLoRA: 4 + 8/64 + 32/(64*256) bits per parameter; 4.5 without double quantization.
        const auto w = torch::randn({1024, 4096});
        const auto q = quantize4(w, Quant4Type::NF4, 64, true);
        const int64_t n = w.numel();
        QCOMPARE(q.bytes(), n / 2 + n / 64 + (n / 64 / 256) * 4 + 4); // + the float32 offset
        const double bits = 8.0 * double(q.bytes()) / double(n);
        QVERIFY2(std::abs(bits - (4 + 8.0 / 64 + 32.0 / (64 * 256))) < 1e-4, qPrintable(QString::number(bits)));
        QCOMPARE(8.0 * double(quantize4(w, Quant4Type::NF4, 64, false).bytes()) / double(n), 4.5);
    }

    void halfPrecisionOutputsAreRoundedFloat32() {
        const auto w = awkwardWeights(257, 129, 3) * 37.0; // outputs far from the bf16/f16 grid
        for (Quant4Type type : {Quant4Type::NF4, Quant4Type::FP4})
            for (bool dq : {false, true}) {
                const auto q = quantize4(w, type, 128, dq);
                const auto f32 = dequantize4(q, torch::kFloat32);
                VERIFY_SAME_BITS(dequantize4(q, torch::kBFloat16), f32.to(torch::kBFloat16), "bf16");
                VERIFY_SAME_BITS(dequantize4(q, torch::kFloat16), f32.to(torch::kFloat16), "f16");
            }
    }

    void dequantizeIntoMatchesDequantize() {
        const auto a = quantize4(awkwardWeights(64, 300, 1), Quant4Type::NF4, 64, true);
        const auto b = quantize4(awkwardWeights(64, 300, 2), Quant4Type::FP4, 128, false);
        for (auto dtype : {torch::kFloat32, torch::kBFloat16, torch::kFloat16}) {
            torch::Tensor buffer = torch::empty({a.numel()}, dtype); // a flat scratch buffer
            const void *storage = buffer.data_ptr();
            dequantize4Into(a, buffer);
            VERIFY_SAME_BITS(buffer.view({64, 300}), dequantize4(a, dtype), "first weight");
            dequantize4Into(b, buffer);
            VERIFY_SAME_BITS(buffer.view({64, 300}), dequantize4(b, dtype), "second weight, same buffer");
            QVERIFY(buffer.data_ptr() == storage);
        }
    }

    void halfPrecisionInputsQuantizeAsTheirFloat32Values() {
        const auto w = awkwardWeights(33, 97, 5);
        for (auto dtype : {torch::kBFloat16, torch::kFloat16}) {
            const auto narrow = w.to(dtype);
            const auto a = quantize4(narrow, Quant4Type::NF4, 64, true);
            const auto b = quantize4(narrow.to(torch::kFloat32), Quant4Type::NF4, 64, true);
            VERIFY_SAME_BITS(a.packed, b.packed, "packed");
            VERIFY_SAME_BITS(a.absmax, b.absmax, "absmax");
            const auto c = quantizeBlockwise8(narrow, false), d = quantizeBlockwise8(narrow.to(torch::kFloat32), false);
            VERIFY_SAME_BITS(c.codes, d.codes, "8-bit codes");
        }
    }

    void tensorOpsMatchCpuKernels_data() {
        QTest::addColumn<int>("type");
        QTest::addColumn<int>("blocksize");
        QTest::addColumn<bool>("doubleQuant");
        for (Quant4Type type : {Quant4Type::NF4, Quant4Type::FP4})
            for (int blocksize : {32, 64, 4096})
                for (bool dq : {false, true})
                    QTest::newRow(
                        qPrintable(QString("%1_bs%2%3").arg(typeName(type)).arg(blocksize).arg(dq ? "_dq" : "")))
                        << int(type) << blocksize << dq;
    }
    void tensorOpsMatchCpuKernels() {
        QFETCH(int, type);
        QFETCH(int, blocksize);
        QFETCH(bool, doubleQuant);
        const auto w = awkwardWeights(301, 257, 11);
        const auto kernel = quantize4(w, Quant4Type(type), blocksize, doubleQuant);
        const auto ops = quantize4WithTensorOps(w, Quant4Type(type), blocksize, doubleQuant);
        VERIFY_SAME_BITS(ops.packed, kernel.packed, "packed");
        VERIFY_SAME_BITS(ops.absmax, kernel.absmax, "absmax");
        if (doubleQuant) {
            VERIFY_SAME_BITS(ops.nestedAbsmax, kernel.nestedAbsmax, "nested absmax");
            QVERIFY(ops.nestedOffset == kernel.nestedOffset);
        }
        for (auto dtype : {torch::kFloat32, torch::kBFloat16, torch::kFloat16})
            VERIFY_SAME_BITS(dequantize4WithTensorOps(kernel, dtype), dequantize4(kernel, dtype), "dequant");
    }

    void blockwise8TensorOpsMatchCpuKernels() {
        torch::manual_seed(3);
        auto values = torch::randn({1000, 37});
        values.slice(0, 10, 20).zero_();
        for (bool isSigned : {true, false})
            for (int64_t blocksize : {64, 256, 4096}) {
                const auto v = isSigned ? values : values.abs();
                const auto kernel = quantizeBlockwise8(v, isSigned, blocksize);
                const auto ops = quantizeBlockwise8WithTensorOps(v, isSigned, blocksize);
                QVERIFY(kernel.codes.sizes() == v.sizes());
                VERIFY_SAME_BITS(ops.codes, kernel.codes, "codes");
                VERIFY_SAME_BITS(ops.absmax, kernel.absmax, "absmax");
                VERIFY_SAME_BITS(dequantizeBlockwise8WithTensorOps(kernel), dequantizeBlockwise8(kernel), "dequant");
            }
    }

    void blockwise8IntoReusesStorage() {
        Blockwise8 state; // allocated by the first call
        state.isSigned = false;
        quantizeBlockwise8Into(torch::rand({5000}), state);
        const void *codes = state.codes.data_ptr();
        const void *absmax = state.absmax.data_ptr();
        const auto next = torch::rand({5000});
        quantizeBlockwise8Into(next, state);
        QVERIFY(state.codes.data_ptr() == codes);
        QVERIFY(state.absmax.data_ptr() == absmax);
        VERIFY_SAME_BITS(state.codes, quantizeBlockwise8(next, false).codes, "requantized codes");
    }

    void cudaMatchesCpu() {
        if (!torch::cuda::is_available())
            QSKIP("no CUDA device");
        const auto w = awkwardWeights(301, 257, 13);
        for (Quant4Type type : {Quant4Type::NF4, Quant4Type::FP4}) {
            const auto cpu = quantize4(w, type, 64, true);
            const auto gpu = quantize4(w.cuda(), type, 64, true);
            QVERIFY(gpu.packed.is_cuda());
            VERIFY_SAME_BITS(gpu.packed, cpu.packed, "packed");
            VERIFY_SAME_BITS(gpu.absmax, cpu.absmax, "absmax");
            VERIFY_SAME_BITS(gpu.nestedAbsmax, cpu.nestedAbsmax, "nested absmax");
            VERIFY_SAME_BITS(dequantize4(gpu, torch::kBFloat16), dequantize4(cpu, torch::kBFloat16), "dequant");
        }
        const auto v = torch::randn({4097});
        const auto cpu8 = quantizeBlockwise8(v, true), gpu8 = quantizeBlockwise8(v.cuda(), true);
        VERIFY_SAME_BITS(gpu8.codes, cpu8.codes, "8-bit codes");
        VERIFY_SAME_BITS(dequantizeBlockwise8(gpu8), dequantizeBlockwise8(cpu8), "8-bit dequant");
    }

    void dequantizeNf4ToBf16Benchmark() {
        // Default 4M parameters to keep the suite fast; the brief's figure is 64M.
        const int64_t params = qEnvironmentVariableIsSet("HEADROOM_QUANT_BENCH_PARAMS")
                                   ? qEnvironmentVariable("HEADROOM_QUANT_BENCH_PARAMS").toLongLong()
                                   : int64_t(1) << 22;
        const int64_t cols = 4096;
        torch::manual_seed(0);
        const auto w = torch::randn({params / cols, cols}) * 0.02;
        using Clock = std::chrono::steady_clock;
        auto ms = [](Clock::time_point a, Clock::time_point b) {
            return std::chrono::duration<double, std::milli>(b - a).count();
        };
        auto t0 = Clock::now();
        const auto q = quantize4(w, Quant4Type::NF4, 64, true);
        const double quantizeMs = ms(t0, Clock::now());
        torch::Tensor out = torch::empty({w.numel()}, torch::kBFloat16);
        dequantize4Into(q, out); // warm-up: touches the pages
        std::vector<double> times;
        for (int i = 0; i < 10; ++i) {
            t0 = Clock::now();
            dequantize4Into(q, out);
            times.push_back(ms(t0, Clock::now()));
        }
        std::sort(times.begin(), times.end());
        t0 = Clock::now();
        const auto fresh = dequantize4(q, torch::kBFloat16);
        const double allocatingMs = ms(t0, Clock::now());
        // The bandwidth yardstick: memcpy of the output's bytes on the same threads.
        torch::Tensor copy = torch::empty_like(out);
        const auto *src = static_cast<const char *>(out.data_ptr());
        auto *dst = static_cast<char *>(copy.data_ptr());
        const int64_t copyBytes = out.numel() * 2;
        double copyMs = 1e30;
        for (int i = 0; i < 6; ++i) {
            t0 = Clock::now();
            at::parallel_for(0, copyBytes, 1 << 20, [&](int64_t begin, int64_t end) {
                std::memcpy(dst + begin, src + begin, size_t(end - begin));
            });
            if (i > 0) // the first touches the pages
                copyMs = std::min(copyMs, ms(t0, Clock::now()));
        }
        const double bytesMoved = double(q.bytes() + out.numel() * 2);
        qInfo().noquote() << QString("%1M NF4 params (blocksize 64, double quant) -> bf16 on %2 threads: "
                                     "dequantize4Into best %3 ms, median %4 ms (%5 GB/s read+write); "
                                     "dequantize4 with a fresh buffer %6 ms; quantize4 %7 ms; "
                                     "memcpy of the bf16 output %8 ms")
                                 .arg(double(params) / (1 << 20), 0, 'f', 0)
                                 .arg(at::get_num_threads())
                                 .arg(times.front(), 0, 'f', 2)
                                 .arg(times[times.size() / 2], 0, 'f', 2)
                                 .arg(bytesMoved / times.front() / 1e6, 0, 'f', 1)
                                 .arg(allocatingMs, 0, 'f', 2)
                                 .arg(quantizeMs, 0, 'f', 1)
                                 .arg(copyMs, 0, 'f', 2);
        if (qEnvironmentVariableIsSet("HEADROOM_QUANT_BENCH_TENSOR_OPS")) {
            t0 = Clock::now();
            const auto viaOps = dequantize4WithTensorOps(q, torch::kBFloat16);
            qInfo().noquote()
                << QString("the same with LibTorch tensor ops: %1 ms").arg(ms(t0, Clock::now()), 0, 'f', 1);
            VERIFY_SAME_BITS(viaOps, fresh, "tensor ops");
        }
        VERIFY_SAME_BITS(out.view(w.sizes()), fresh, "into vs fresh");
    }

    // The tensor-operation dequantization (CUDA without Headroom's kernels) works through 1M-element
    // chunks: over several chunks and an odd tail it equals the CPU kernel bit for bit, and holds
    // about one chunk's temporaries beside its output (26 bytes an element; the whole tensor at
    // once would hold 26 per element of the tensor). Last: it installs the counting allocator.
    void tensorOpDequantizationHoldsOneChunkBesideItsOutput() {
        const int64_t n = 3 * (int64_t(1) << 20) + 5;
        auto gen = at::detail::createCPUGenerator(21);
        const auto q = quantize4(torch::randn({n}, gen), Quant4Type::NF4, 64, true);
        const auto reference = dequantize4(q, torch::kBFloat16);
        installMemoryTracking();
        const torch::Device cpu(torch::kCPU);
        const int64_t before = allocatorStats(cpu).allocated;
        resetPeakMemory(cpu);
        const auto viaOps = dequantize4WithTensorOps(q, torch::kBFloat16);
        const int64_t held = allocatorStats(cpu).peak - before;
        const int64_t output = n * 2;
        qInfo() << "tensor-op dequantization of" << n << "elements: peak" << held << "bytes beside" << output
                << "of output";
        VERIFY_SAME_BITS(viaOps, reference, "chunked tensor ops");
        QVERIFY2(held >= output && held <= output + 32 * (int64_t(1) << 20),
                 qPrintable(QString("held %1 bytes for %2 of output").arg(held).arg(output)));
    }
};

QTEST_GUILESS_MAIN(QuantizationTest)
#include "quantization_test.moc"
