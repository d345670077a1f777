#include "plugin/decision_log.hpp"

#include <spdlog/async.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <mutex>

namespace imagegate {

DecisionLog::DecisionLog(const std::string &path, std::size_t max_bytes, int max_files, bool asynchronous) {
    if (path.empty()) return;
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
    try {
        auto sink = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(path, max_bytes, static_cast<std::size_t>(max_files));
        // Lines are written by spdlog's worker thread, off the request path; a full queue
        // blocks rather than drops (a decision is never lost).
        if (asynchronous) {
            static std::once_flag pool_once;
            std::call_once(pool_once, [] { spdlog::init_thread_pool(8192, 1); });
            logger_ = std::make_shared<spdlog::async_logger>("decisions", sink, spdlog::thread_pool(),
                                                             spdlog::async_overflow_policy::block);
        } else {
            logger_ = std::make_shared<spdlog::logger>("decisions", sink);
        }
        logger_->set_pattern("%v");
        logger_->set_level(spdlog::level::info);
        logger_->flush_on(spdlog::level::info); // one write(2) per line: no torn lines between writers
    } catch (const std::exception &e) {
        throw std::runtime_error("cannot open the decision log " + path + ": " + e.what());
    }
}

void DecisionLog::write_image(const ImageDecision &i, const LogContext &c) {
    if (!logger_) return;
    logger_->info(image_decision_line(i, c));
}

void DecisionLog::write(const Decision &d, const LogContext &c) {
    if (!logger_) return;
    bool logged_denial = false;
    for (const auto &i : d.images) {
        write_image(i, c);
        if (!i.allow) logged_denial = true;
    }
    // A denial that no image line explains (hardening, protocol, sign-in, no policy).
    if (d.policy_denied && !logged_denial)
        logger_->info(decision_line(c, action_name(d.action), "", "none", "", false, d.message, false));
}

void DecisionLog::flush() {
    if (logger_) logger_->flush();
}

} // namespace imagegate
