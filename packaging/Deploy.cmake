# Deployment: install rules (make install) and the Debian package (make deb). Included from
# the top-level CMakeLists.txt.

# Units, the containerd verifier wrapper, /etc/imagegate (kept if present) and the docs; the
# binaries themselves are installed by install(TARGETS ...) in CMakeLists.txt.
install(CODE "set(IG_SOURCE_DIR \"${CMAKE_CURRENT_SOURCE_DIR}\")
set(IG_BINARY_DIR \"${CMAKE_CURRENT_BINARY_DIR}\")
set(IG_BUILT_IMAGEGATE \"$<TARGET_FILE:imagegate>\")")
install(SCRIPT ${CMAKE_CURRENT_LIST_DIR}/install.cmake)

# make deb -> build/imagegate_VERSION_ARCH.deb
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME imagegate)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "imagegate maintainers <root@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "Docker Engine authorization plugin: image and registry access management")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
  "imagegate brings Image Access Management, Registry Access Management and
registry roles to every Linux host that runs plain dockerd, under an
organization policy that is signed and cached locally. The package installs
the binary, the systemd socket and service (the socket is enabled), the
default configuration and policy in /etc/imagegate and containerd's image
verifier. Wire dockerd to it with: imagegate install-docker --reload")
# The package installs under /usr whatever CMAKE_INSTALL_PREFIX `make install` uses. DESTDIR
# staging keeps the absolute destinations (/etc, /lib/systemd, /opt) in the package.
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_SET_DESTDIR ON)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "docker.io | docker-ce")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${CMAKE_CURRENT_LIST_DIR}/debian/conffiles
  ${CMAKE_CURRENT_LIST_DIR}/debian/postinst
  ${CMAKE_CURRENT_LIST_DIR}/debian/prerm
  ${CMAKE_CURRENT_LIST_DIR}/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
set(CPACK_OUTPUT_FILE_PREFIX ${CMAKE_CURRENT_BINARY_DIR})
# cpack packages what is built (make deb builds first) instead of rebuilding `all` itself.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)
include(CPack)

add_custom_target(deb
  COMMAND ${CMAKE_CPACK_COMMAND} -G DEB --config ${CMAKE_CURRENT_BINARY_DIR}/CPackConfig.cmake
  WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}
  COMMENT "Building the Debian package"
  VERBATIM)
add_dependencies(deb imagegate)
