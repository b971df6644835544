# pkg-config file and the Debian package (cpack -G DEB from the build directory):
# coordination_<version>_amd64.deb with the library (debug info stripped), the headers, the CMake
# package config, coordination.pc, coordctl and coord-bench. Included from the top CMakeLists.
configure_file(${PROJECT_SOURCE_DIR}/cmake/coordination.pc.in
  ${PROJECT_BINARY_DIR}/coordination.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/coordination.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# install/strip (which cpack uses with CPACK_STRIP_FILES) leaves static archives alone; without
# this the package would carry ~270 MB of debug info.
install(CODE "
  if(CMAKE_INSTALL_DO_STRIP)
    execute_process(COMMAND \"${CMAKE_STRIP}\" --strip-debug
      \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/$<TARGET_FILE_NAME:coordination>\"
      RESULT_VARIABLE strip_rc)
    if(strip_rc)
      message(FATAL_ERROR \"strip of the installed library failed\")
    endif()
  endif()")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME coordination)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "etcd coordination for Asio coroutines: locks, elections, service discovery, config center")
set(CPACK_PACKAGE_CONTACT "the coordination developers")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # coordination_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION libdevel)
# What the headers, the CMake config and the pkg-config file need (each -dev package depends on
# its runtime library, which coordctl and coord-bench link against).
set(CPACK_DEBIAN_PACKAGE_DEPENDS
  "libboost1.81-dev, libssl-dev, nlohmann-json3-dev, libspdlog-dev, prometheus-cpp-dev, libsimdjson-dev")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "etcd-server, etcd-client")
include(CPack)
