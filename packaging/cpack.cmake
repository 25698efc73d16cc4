# Packaging: `cpack -G DEB` in a build folder makes headroom_VERSION_ARCH.deb with both programs
# (headroom-cli, and the studio headroom when the UI is built), the desktop entry, the icon and the
# AppStream metainfo. Dependencies are found by dpkg-shlibdeps from the binaries' libraries.
if(TARGET headroom)
  install(FILES ${PROJECT_SOURCE_DIR}/resources/desktop/headroom.desktop
          DESTINATION ${CMAKE_INSTALL_DATADIR}/applications)
  install(FILES ${PROJECT_SOURCE_DIR}/resources/desktop/io.github.headroom.metainfo.xml
          DESTINATION ${CMAKE_INSTALL_DATADIR}/metainfo)
  install(FILES ${PROJECT_SOURCE_DIR}/resources/icons/headroom.svg
          DESTINATION ${CMAKE_INSTALL_DATADIR}/icons/hicolor/scalable/apps)
endif()

set(CPACK_PACKAGE_NAME headroom)
set(CPACK_PACKAGE_VENDOR "Headroom")
set(CPACK_PACKAGE_CONTACT "Headroom maintainers <headroom@example.org>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Fine-tune LLMs with LoRA/QLoRA and see where the memory goes")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://github.com/headroom/headroom")
set(CPACK_STRIP_FILES ON)
include(CPack)
