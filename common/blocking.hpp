// A wait on something outside the process (dockerd, a slow disk, a client that does not read).
//
// The plugin socket's server (server/http_server.hpp) serves requests on a few threads. Code
// that may block for long declares it with a BlockingScope; the server that owns the current
// thread then makes sure another thread is free to take new requests. Code outside the server
// (the decision log, the dockerd client) needs no server to do so: on a thread no server owns,
// a BlockingScope does nothing.
#pragma once

namespace imagegate {

class BlockingHook {
  public:
    virtual void before_blocking() = 0;

  protected:
    ~BlockingHook() = default;
};

// Installs `hook` for the calling thread (null removes it). Called by a server on each of its
// serving threads.
void set_thread_blocking_hook(BlockingHook *hook);

class BlockingScope {
  public:
    BlockingScope();
    BlockingScope(const BlockingScope &) = delete;
    BlockingScope &operator=(const BlockingScope &) = delete;
};

} // namespace imagegate
