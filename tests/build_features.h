// Tests that need an optional part of the build (the sentencepiece plug-in, c10d's Gloo process
// group) fail when it is missing, unless the build was configured without it on purpose (the CMake
// options HEADROOM_SENTENCEPIECE and HEADROOM_DISTRIBUTED set OFF define HEADROOM_<NAME>_OFF for the
// tests). A package missing at configure time must not turn the suite green by skipping.
#pragma once

#include <QtTest/QtTest>

// Inside a test function: skips when `offOnPurpose`, fails otherwise, if `present` is false.
#define HEADROOM_REQUIRE_BUILD_FEATURE(present, offOnPurpose, what, option)                                            \
    do {                                                                                                               \
        if (!(present)) {                                                                                              \
            if (offOnPurpose)                                                                                          \
                QSKIP(what " is off in this build (configured with -D" option "=OFF)");                                \
            QFAIL(what " is missing from this build, which did not turn it off: install what it needs and "            \
                       "configure again, or configure with -D" option "=OFF to build without it");                     \
        }                                                                                                              \
    } while (false)

#ifdef HEADROOM_SENTENCEPIECE_OFF
constexpr bool kSentencepieceOffOnPurpose = true;
#else
constexpr bool kSentencepieceOffOnPurpose = false;
#endif

#ifdef HEADROOM_DISTRIBUTED_OFF
constexpr bool kDistributedOffOnPurpose = true;
#else
constexpr bool kDistributedOffOnPurpose = false;
#endif
