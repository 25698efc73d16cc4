# Tokenizers (tokenizer.json and sentencepiece against reference goldens), chat templates and the
# byte-level BPE trainer. Goldens: tests/data/tokenizers (README there says how they were made).
headroom_add_test(tokenizer_test unit tokenizer_test.cpp BASE_ONLY)
headroom_add_test(chat_template_test unit chat_template_test.cpp BASE_ONLY)

# The same test source linked with headroom_core (so LibTorch): proves the sentencepiece plug-in,
# loaded with dlopen(RTLD_LOCAL | RTLD_DEEPBIND), works in a process that runs LibTorch.
headroom_add_test(sentencepiece_with_torch_test unit tokenizer_test.cpp)
target_compile_definitions(sentencepiece_with_torch_test PRIVATE HEADROOM_TOKENIZER_TEST_WITH_TORCH=1)

if(TARGET headroom_sentencepiece)
  add_dependencies(tokenizer_test headroom_sentencepiece)
  add_dependencies(sentencepiece_with_torch_test headroom_sentencepiece)
endif()
if(NOT HEADROOM_SENTENCEPIECE)
  target_compile_definitions(tokenizer_test PRIVATE HEADROOM_SENTENCEPIECE_OFF=1)
  target_compile_definitions(sentencepiece_with_torch_test PRIVATE HEADROOM_SENTENCEPIECE_OFF=1)
endif()
