# Exports for deployment: PEFT adapter, merged HF model, GGUF LoRA (in-process and through the CLI).
headroom_add_test(export_test model export_test.cpp)
add_dependencies(export_test headroom-cli)
