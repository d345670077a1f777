// `imagegate install-docker` / `uninstall-docker` (README): wire imagegate into dockerd's
// daemon.json; `host` is what they look at besides it (tests point it at a fixture tree).
#pragma once
#include "common/args.hpp"
#include "docker_setup/install_docker.hpp"

#include <iosfwd>

namespace imagegate {

int install_docker(const Args &args, const DockerHost &host, std::ostream &out, std::ostream &err);
int uninstall_docker(const Args &args, const DockerHost &host, std::ostream &out,
                     std::ostream &err);

} // namespace imagegate
