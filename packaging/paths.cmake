# Where deployment files go for an install prefix; shared by install.cmake and uninstall.cmake.
# In:  IG_PREFIX. Out: IG_BINARY, IG_VERIFY_BINARY, IG_UNITDIR, IG_DOCDIR, IG_SYSCONFDIR, IG_VERIFIER_DIR.
set(IG_BINARY "${IG_PREFIX}/bin/imagegate")
# containerd's verifier: the lean executable that decides from the compact policy (issue 10).
set(IG_VERIFY_BINARY "${IG_PREFIX}/bin/imagegate-containerd-verify")
if(IG_PREFIX STREQUAL "/usr")
  # Debian bookworm packages still ship units in /lib/systemd/system (/lib is /usr/lib there).
  set(IG_UNITDIR "/lib/systemd/system")
else()
  # systemd also reads /usr/local/lib/systemd/system; other prefixes need a link or a copy.
  set(IG_UNITDIR "${IG_PREFIX}/lib/systemd/system")
endif()
set(IG_DOCDIR "${IG_PREFIX}/share/doc/imagegate")
# Fixed whatever the prefix: imagegate serve reads /etc/imagegate/imagegate.json by default,
# and containerd runs every executable in its verifier bin_dir (docs/containerd.md).
set(IG_SYSCONFDIR "/etc/imagegate")
set(IG_VERIFIER_DIR "/opt/containerd/image-verifier/bin")
set(IG_UNITS imagegate.socket imagegate.service imagegate-sync.service imagegate-sync.timer imagegate-gateway.service)
