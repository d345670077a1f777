#include "distribution/policy_store.hpp"

#include <malloc.h>

#include <chrono>
#include <thread>

namespace imagegate {

void PolicyStore::publish(std::shared_ptr<const ActivePolicy> next) {
    auto previous = current_.exchange(std::move(next), std::memory_order_acq_rel);
    if (!previous)
        return;
    // Requests that still hold the previous policy finish within milliseconds; wait at most
    // 2 s for them so that the free (and malloc_trim) happen here, not on a request thread.
    for (int i = 0; i < 2000 && previous.use_count() > 1; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    previous.reset();
    ::malloc_trim(0);
}

} // namespace imagegate
