# The Jinja interpreter (core/src/tokenizer/jinja): constructs one by one, errors with line:column, and
# real chat templates against goldens rendered by @huggingface/jinja (tests/data/chat_templates/jinja).
headroom_add_test(jinja_test unit jinja_test.cpp BASE_ONLY)
