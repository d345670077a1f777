// Maps an Engine API request to an action and what it touches (README, "What it decides").
#pragma once
#include "common/result.hpp"
#include "policy/action.hpp"
#include "policy/authz_request.hpp"

#include <boost/json/value.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace imagegate {

// Where a request names an image, and which permission that image needs.
struct ImageUse {
    enum class Need { Pull, Run, Push, Delete, Inspect, Import, Build, TagSource, TagTarget } need;
    std::string reference; // as the client wrote it, after the endpoint's own adjustments
};

// A bind of a host path into a container (Binds, Mounts of type bind, local volumes of type bind).
struct HostMount {
    std::string host_path;
    std::string described; // what the client wrote, for the message
};

// The container settings that hardening (docs/hardening.md) looks at.
struct ContainerSettings {
    std::vector<HostMount> mounts;
    std::vector<std::string> named_volumes; // volume names used by Binds/Mounts (checked at create)
    bool privileged = false;
    std::vector<std::string> host_namespaces; // "pid", "ipc", "uts", "userns", "cgroupns"
    bool host_network = false;
    // Networks named by a name, ID or ID prefix other than the built-in modes (a service's
    // Targets, a container's user-defined NetworkMode and EndpointsConfig): the host network
    // named by its ID is --network host, so the decision resolves them through dockerd.
    std::vector<std::string> networks;
    std::vector<std::string> cap_add;
    std::vector<std::string> devices;
    std::vector<std::string> security_options; // the unconfined ones
    std::vector<std::string> sysctls;          // non-namespaced
    std::optional<std::string> user; // Config.User / exec User as given (nullopt: not given)
    bool is_exec = false;
    // What another container lends: --volumes-from X (its mounts) and --network/--pid/--ipc/--uts
    // container:X (its namespace, which may be the host's).
    std::vector<std::string> volumes_from;
    std::vector<std::pair<std::string, std::string>>
        joined_namespaces; // {"network", "X"}, {"pid", "X"} ...
};

enum class Special {
    None,
    PluginManage,    // plugin install/enable/upgrade/set/disable/rm/push/create
    SwarmMembership, // swarm init/join/update, node update: a swarm manager runs tasks on this
                     // host that no API request to it shows (docs/reading-requests.md)
};

struct ClassifiedRequest {
    Action action = Action::Other;
    std::string endpoint; // "POST /containers/create", for messages and logs
    std::vector<ImageUse> images;
    std::optional<ContainerSettings> container; // creates, updates, execs, services
    Special special = Special::None;
    std::string plugin_name;       // for plugin management: the plugin's name or remote
    bool plugin_install = false;   // install/enable/upgrade (a new plugin gets host privileges)
    std::string entered_container; // exec, attach, docker cp: the existing container it enters
};

// Classifies a request. An error means the request cannot be understood safely: the caller
// denies it, quoting the message (fail closed).
Result<ClassifiedRequest> classify_request(const AuthzRequest &request);

// The route table (docs/reading-requests.md, "The route table"): "METHOD PATTERN" for each
// method of each route, the pattern as dockerd's router registers it
// ("/containers/{name:.*}/copy").
std::vector<std::string> route_table();

// The route classify_request reads a request by, as route_table writes it; "" when no route
// matches (the request is Action::Other); an error when the URI itself is refused. For the
// route table's test against dockerd's router (tests/oracle/routes.go).
Result<std::string> route_of(std::string_view method, std::string_view uri);

// The query parameters classify_request reads, as it reads them (percent-decoded, in order;
// ';' and bad percent-encoding refused). For the differential test against Go's ParseQuery.
Result<std::vector<std::pair<std::string, std::string>>> read_query(std::string_view raw_query);

// An existing container's settings from dockerd's GET /containers/{id}/json (its HostConfig and
// Config.User), read as a create body is read.
Result<ContainerSettings> container_settings_from_inspect(const boost::json::value &inspect);

} // namespace imagegate
