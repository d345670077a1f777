# Runs at install time (cmake --install, make install, CPack) after the binary is installed.
# Set by Deploy.cmake: IG_SOURCE_DIR, IG_BINARY_DIR, IG_BUILT_IMAGEGATE (the built binary). CMake sets CMAKE_INSTALL_PREFIX and
# honours $DESTDIR in file(INSTALL), including for the absolute paths below.
set(IG_PREFIX "${CMAKE_INSTALL_PREFIX}")
include("${IG_SOURCE_DIR}/packaging/paths.cmake")
set(ig_stage "${IG_BINARY_DIR}/packaging/stage")
file(REMOVE_RECURSE "${ig_stage}")
file(MAKE_DIRECTORY "${ig_stage}")

# Units name the binary where this prefix puts it.
foreach(ig_unit IN LISTS IG_UNITS)
  file(READ "${IG_SOURCE_DIR}/systemd/${ig_unit}" ig_text)
  string(REPLACE "/usr/bin/imagegate" "${IG_BINARY}" ig_text "${ig_text}")
  file(WRITE "${ig_stage}/${ig_unit}" "${ig_text}")
endforeach()
list(TRANSFORM IG_UNITS PREPEND "${ig_stage}/" OUTPUT_VARIABLE ig_staged_units)
file(INSTALL DESTINATION "${IG_UNITDIR}" TYPE FILE
     PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ FILES ${ig_staged_units})

# containerd's image verifier: the two-line wrapper.
file(READ "${IG_SOURCE_DIR}/packaging/containerd-verifier.sh.in" ig_text)
string(REPLACE "@IMAGEGATE_VERIFY_BINARY@" "${IG_VERIFY_BINARY}" ig_text "${ig_text}")
file(WRITE "${ig_stage}/verifier/imagegate" "${ig_text}")
file(INSTALL DESTINATION "${IG_VERIFIER_DIR}" TYPE PROGRAM FILES "${ig_stage}/verifier/imagegate")

# /etc/imagegate/policy.json is the default policy embedded in the binary, as it prints it.
execute_process(COMMAND "${IG_BUILT_IMAGEGATE}" policy default
                OUTPUT_FILE "${ig_stage}/policy.json" RESULT_VARIABLE ig_status)
if(NOT ig_status EQUAL 0)
  message(FATAL_ERROR "${IG_BUILT_IMAGEGATE} policy default failed: ${ig_status}")
endif()

# Configuration and policy: never replace what the operator has (dpkg handles conffiles
# itself: its staging directory is always empty). A macro: file(INSTALL) records what it
# installs in the calling scope.
macro(ig_install_config_once ig_from)
  get_filename_component(ig_name "${ig_from}" NAME)
  if(EXISTS "$ENV{DESTDIR}${IG_SYSCONFDIR}/${ig_name}")
    message(STATUS "Keeping: $ENV{DESTDIR}${IG_SYSCONFDIR}/${ig_name}")
  else()
    file(INSTALL DESTINATION "${IG_SYSCONFDIR}" TYPE FILE
         PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ FILES "${ig_from}")
  endif()
endmacro()
ig_install_config_once("${IG_SOURCE_DIR}/packaging/imagegate.json")
ig_install_config_once("${ig_stage}/policy.json")

file(INSTALL DESTINATION "${IG_DOCDIR}" TYPE FILE
     FILES "${IG_SOURCE_DIR}/docs/deploy.md" "${IG_SOURCE_DIR}/docs/gateway.md" "${IG_SOURCE_DIR}/README.md")
