#include "common/blocking.hpp"

namespace imagegate {

namespace {
thread_local BlockingHook *t_hook = nullptr; // the server whose serving thread this is, if any
}

void set_thread_blocking_hook(BlockingHook *hook) {
    t_hook = hook;
}

BlockingScope::BlockingScope() {
    if (t_hook)
        t_hook->before_blocking();
}

} // namespace imagegate
