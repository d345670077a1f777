// imagegate: the Docker Engine authorization plugin and its tools (README).
#include "cli/commands.hpp"

#include <cstring>
#include <exception>
#include <iostream>

namespace {
const char *kUsage = R"(usage: imagegate COMMAND [ARGS...]

Docker Engine authorization plugin: Image Access Management, Registry Access Management and
registry roles for plain dockerd.

Commands:
  serve               run the plugin (dockerd --authorization-plugin=imagegate)
  check REF...        the decision for image references, without dockerd
  policy lint|default|keygen|sign|verify|sync|impact
  status              the running daemon's policy, sync and counters
  report              what the decision log says
  install-docker      add imagegate to dockerd's daemon.json
  uninstall-docker    remove it
  containerd-verify   containerd image verifier (bindir plugin)
  gateway             the registry gateway: decides the pulls dockerd makes itself
  version

Run `imagegate COMMAND --help` for a command's options.
)";
}

int main(int argc, char **argv) {
    using namespace imagegate;
    if (argc < 2) {
        std::cerr << kUsage;
        return 2;
    }
    std::string command = argv[1];
    Args args(argv + 2, argv + argc);
    using Runner = int (*)(const Args &);
    struct Entry {
        const char *name;
        Runner run;
    } commands[] = {
        {"serve", run_serve},
        {"check", run_check},
        {"policy", run_policy},
        {"status", run_status},
        {"report", run_report},
        {"install-docker", run_install_docker},
        {"uninstall-docker", run_uninstall_docker},
        {"containerd-verify", run_containerd_verify},
        {"gateway", run_gateway},
    };
    if (command == "--help" || command == "-h" || command == "help") {
        std::cout << kUsage;
        return 0;
    }
    if (command == "version" || command == "--version") {
        std::cout << "imagegate " << IMAGEGATE_VERSION << "\n";
        return 0;
    }
    for (const auto &c : commands) {
        if (command != c.name)
            continue;
        try {
            return c.run(args);
        } catch (const std::exception &e) {
            std::cerr << "imagegate " << command << ": " << e.what() << "\n";
            return command == "containerd-verify" ? 3 : 2;
        }
    }
    std::cerr << "imagegate: unknown command \"" << command << "\"\n" << kUsage;
    return 2;
}
