// Every sub-command: `int run_NAME(args)`, args without the program and command names.
#pragma once
#include "common/args.hpp"
#include <string>
#include <vector>

namespace imagegate {

int run_serve(const Args &args);
int run_check(const Args &args);
int run_policy(const Args &args); // lint, keygen, sign, verify, sync, impact
int run_status(const Args &args);
int run_report(const Args &args);
int run_install_docker(const Args &args);
int run_uninstall_docker(const Args &args);
int run_containerd_verify(const Args &args);
int run_gateway(const Args &args);

} // namespace imagegate
