# The studio's tests, when the UI is built (HEADROOM_BUILD_UI).
if(TARGET headroom_ui)
  headroom_add_test(studio_window_test gui studio_window_test.cpp LIBS headroom_ui)
  headroom_add_test(studio_pages_test gui studio_pages_test.cpp LIBS headroom_ui)
  # No LibTorch here (the shared precompiled header could not be used with Qt Widgets' defines anyway).
  set_target_properties(studio_window_test studio_pages_test PROPERTIES AUTOMOC ON DISABLE_PRECOMPILE_HEADERS ON)
endif()
