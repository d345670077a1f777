#include "server/docker_client.hpp"
#include "common/unix_socket.hpp"

#include "common/blocking.hpp"

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <openssl/rand.h>

#include <cerrno>
#include <cstring>
#include <poll.h>
#include <set>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace imagegate {
namespace http = boost::beast::http;
namespace json = boost::json;

namespace {
inline constexpr std::size_t kMaxDockerReply = 8 * 1024 * 1024;

std::optional<std::string> roundtrip(const std::string &socket_path, const std::string &request,
                                     int timeout_ms, int *status) {
    // dockerd may need this very server to authorize the lookup: keep a thread free for it.
    BlockingScope blocking;
    auto reply = unix_http_exchange(socket_path, request, std::chrono::milliseconds(timeout_ms),
                                    kMaxDockerReply);
    if (!reply)
        return std::nullopt;
    if (status)
        *status = reply->status;
    return std::move(reply).value().body;
}
} // namespace

std::string escape_path(std::string_view s) {
    static const char *hex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '/' || c == ':' || c == '.' || c == '-' || c == '_' || c == '@')
            out.push_back(static_cast<char>(c));
        else {
            out.push_back('%');
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        }
    }
    return out;
}

DockerClient::DockerClient(std::vector<std::string> sockets, int timeout_ms)
    : sockets_(std::move(sockets)), timeout_ms_(timeout_ms) {
    unsigned char random[16];
    if (RAND_bytes(random, sizeof random) == 1) {
        static const char *hex = "0123456789abcdef";
        for (unsigned char c : random) {
            lookup_token_.push_back(hex[c >> 4]);
            lookup_token_.push_back(hex[c & 15]);
        }
    }
}

std::optional<json::value> DockerClient::get_json(const std::string &path, int *status,
                                                  Budget *budget) const {
    int timeout_ms = timeout_ms_;
    bool budget_bound = false; // the budget, not the client's own timeout, limits this lookup
    if (budget) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            budget->deadline_ - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            budget->exhausted_ = true;
            return std::nullopt;
        }
        ++budget->lookups_;
        budget_bound = left.count() < timeout_ms;
        timeout_ms = std::min<int>(timeout_ms, static_cast<int>(left.count()));
    }
    // dockerd shows this header to imagegate's AuthZ handler, which lets its own lookups
    // through whatever the policy says about the local socket (requireSignIn, defaultRoles).
    std::string request =
        "GET " + path + " HTTP/1.1\r\nHost: docker\r\nUser-Agent: imagegate\r\n" +
        (lookup_token_.empty() ? "" : "X-Imagegate-Lookup: " + lookup_token_ + "\r\n") +
        "Connection: close\r\n\r\n";
    for (const auto &s : sockets_) {
        int code = 0;
        auto body = roundtrip(s, request, timeout_ms, &code);
        // A lookup that failed for want of the budget's time used it up, even when it gave up
        // a moment before the deadline.
        if (budget &&
            (std::chrono::steady_clock::now() >= budget->deadline_ || (!body && budget_bound)))
            budget->exhausted_ = true;
        if (!body)
            continue;
        if (status)
            *status = code;
        std::error_code ec;
        json::value v = json::parse(*body, ec);
        if (ec)
            return std::nullopt;
        return v;
    }
    return std::nullopt;
}

void DockerClient::refresh_info() {
    // imagegate's own GET /info comes back to this process through dockerd's authorization
    // chain, and deciding it asks for the answer again: waiting for a refresh under way would
    // wait for itself until the timeout, every time. Whoever comes second goes without.
    std::unique_lock lock(info_mutex_, std::try_to_lock);
    if (!lock.owns_lock())
        return;
    int status = 0;
    auto info = get_json("/info", &status);
    if (!info || status != 200 || !info->is_object())
        return;
    bool remapped = false;
    if (auto *opts = info->as_object().if_contains("SecurityOptions"); opts && opts->is_array())
        for (const auto &o : opts->as_array())
            if (o.is_string()) {
                std::string_view s = o.as_string();
                if (s.find("name=userns") != std::string_view::npos ||
                    s.find("name=rootless") != std::string_view::npos)
                    remapped = true;
            }
    userns_ = remapped;
    info_known_ = true;
}

std::optional<bool> DockerClient::userns_remapped() {
    if (!info_known_)
        refresh_info();
    if (!info_known_)
        return std::nullopt;
    return userns_.load();
}

ImageLookup DockerClient::image_names(std::string_view id, Budget *budget) const {
    ImageLookup lookup;
    int status = 0;
    auto v = get_json("/images/" + escape_path(id) + "/json", &status, budget);
    if (status == 404)
        lookup.state = ImageLookup::State::NotFound;
    if (!v || status != 200 || !v->is_object())
        return lookup;
    lookup.state = ImageLookup::State::Found;
    for (const char *key : {"RepoTags", "RepoDigests"})
        if (auto *list = v->as_object().if_contains(key); list && list->is_array())
            for (const auto &n : list->as_array())
                if (n.is_string() && n.as_string() != "<none>:<none>" &&
                    n.as_string() != "<none>@<none>")
                    lookup.names.emplace_back(n.as_string());
    return lookup;
}

std::optional<std::string> DockerClient::image_user(std::string_view image, Budget *budget) const {
    int status = 0;
    auto v = get_json("/images/" + escape_path(image) + "/json", &status, budget);
    if (!v || status != 200 || !v->is_object())
        return std::nullopt;
    auto *config = v->as_object().if_contains("Config");
    if (!config || !config->is_object())
        return std::string();
    auto *user = config->as_object().if_contains("User");
    if (!user || !user->is_string())
        return std::string();
    return std::string(user->as_string());
}

ContainerLookup DockerClient::container(std::string_view id, Budget *budget) const {
    ContainerLookup lookup;
    int status = 0;
    auto v = get_json("/containers/" + escape_path(id) + "/json", &status, budget);
    if (status == 404)
        lookup.state = ContainerLookup::State::NotFound;
    if (!v || status != 200)
        return lookup;
    auto settings = container_settings_from_inspect(*v);
    if (!settings)
        return lookup;
    lookup.state = ContainerLookup::State::Found;
    lookup.settings = std::move(settings).value();
    return lookup;
}

namespace {
// The local driver's bind device in a volume's inspect or list entry ("" when none).
std::string bind_device(const json::value &volume) {
    if (!volume.is_object())
        return {};
    auto *options = volume.as_object().if_contains("Options");
    if (!options || !options->is_object())
        return {};
    auto *device = options->as_object().if_contains("device");
    if (!device || !device->is_string())
        return {};
    return std::string(device->as_string());
}
} // namespace

std::optional<VolumeDevices> DockerClient::volume_devices(const std::vector<std::string> &volumes,
                                                          Budget *budget) const {
    constexpr std::size_t kLookupsOneByOne = 8;
    std::set<std::string_view> wanted(volumes.begin(), volumes.end());
    VolumeDevices devices;
    if (wanted.size() <= kLookupsOneByOne) {
        for (std::string_view name : wanted) {
            int status = 0;
            auto v = get_json("/volumes/" + escape_path(name), &status, budget);
            if (status == 404)
                continue; // dockerd creates it, empty
            if (!v || status != 200)
                return std::nullopt;
            if (std::string device = bind_device(*v); !device.empty())
                devices.emplace(name, std::move(device));
        }
        return devices;
    }
    int status = 0;
    auto list = get_json("/volumes", &status, budget);
    if (!list || status != 200 || !list->is_object())
        return std::nullopt;
    auto *all = list->as_object().if_contains("Volumes");
    if (!all)
        return std::nullopt;
    if (all->is_null())
        return devices; // no volumes at all
    if (!all->is_array())
        return std::nullopt;
    for (const auto &v : all->as_array()) {
        if (!v.is_object())
            continue;
        auto *name = v.as_object().if_contains("Name");
        if (!name || !name->is_string() || !wanted.contains(std::string_view(name->as_string())))
            continue;
        if (std::string device = bind_device(v); !device.empty())
            devices.emplace(name->as_string(), std::move(device));
    }
    return devices;
}

std::optional<std::vector<std::string>>
DockerClient::host_networks(const std::vector<std::string> &names, Budget *budget) const {
    std::vector<std::string> host;
    auto flag = [&](const std::string &name) {
        if (std::find(host.begin(), host.end(), name) == host.end())
            host.push_back(name);
    };
    auto text_of = [](const json::object &o, std::string_view key) -> std::string_view {
        const auto *v = o.if_contains(key);
        return v && v->is_string() ? std::string_view(v->as_string()) : std::string_view();
    };
    auto is_host = [&](const json::object &o) {
        return text_of(o, "Driver") == "host" || text_of(o, "Name") == "host";
    };
    auto id_of = [&](const json::object &o) { return text_of(o, "Id"); };
    // 1. dockerd's networks (and the swarm networks it lists): a name, an ID or any prefix of
    //    the ID of a host-driver network (dockerd's FindNetwork: exact ID, name, unique prefix).
    int status = 0;
    auto list = get_json("/networks", &status, budget);
    if (!list || status != 200 || !list->is_array())
        return std::nullopt;
    for (const auto &n : list->as_array()) {
        if (!n.is_object())
            return std::nullopt;
        const auto &o = n.as_object();
        if (!is_host(o))
            continue;
        for (const auto &wanted : names)
            if (!wanted.empty() && (wanted == text_of(o, "Name") || id_of(o).starts_with(wanted)))
                flag(wanted);
    }
    // 2. Swarm's own host network, which GET /networks does not list and which has an ID of its
    //    own: swarm resolves a service's Target by that ID or any prefix unique among swarm's
    //    networks (daemon/cluster/services.go). 404/503: this node runs no swarm.
    status = 0;
    auto swarm_host = get_json("/networks/host?scope=swarm", &status, budget);
    if (!swarm_host)
        return std::nullopt;
    if (status == 200 && swarm_host->is_object())
        for (const auto &wanted : names)
            if (!wanted.empty() && id_of(swarm_host->as_object()).starts_with(wanted))
                flag(wanted);
    // 3. Each name as dockerd's GET /networks/{name} resolves it, local and swarm networks alike.
    //    An answer other than found or not found (an ambiguous prefix) cannot be checked.
    for (const auto &wanted : names) {
        if (wanted.empty() || std::find(host.begin(), host.end(), wanted) != host.end())
            continue;
        status = 0;
        auto found = get_json("/networks/" + escape_path(wanted), &status, budget);
        if (!found)
            return std::nullopt;
        if (status == 404)
            continue;
        if (status != 200 || !found->is_object())
            return std::nullopt;
        if (is_host(found->as_object()))
            flag(wanted);
    }
    return host;
}

} // namespace imagegate
