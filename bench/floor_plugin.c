/* The floor: the least an AuthZ plugin can cost dockerd. Allow-all, one thread, epoll,
 * non-blocking HTTP/1.1 keep-alive over a Unix socket, pipelined requests answered in one
 * write. A benchmark reference for bench/run.sh (issue 7), not product code.
 *
 *   floor_plugin SOCKET_PATH
 *
 * POST /Plugin.Activate            -> {"Implements":["authz"]}
 * POST /AuthZPlugin.AuthZReq|AuthZRes -> {"Allow":true}
 * Bodies must be framed by Content-Length (dockerd's plugin client always sends one).
 * SIGINT/SIGTERM: unlink the socket and exit 0. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

enum { kMaxHeaderBytes = 64 * 1024, kMaxBodyBytes = 16 * 1024 * 1024, kReadChunk = 64 * 1024 };

struct conn {
    int fd;
    char *in;
    size_t in_len, in_cap;
    char *out;
    size_t out_len, out_off, out_cap;
    int want_out; /* EPOLLOUT registered */
    int close_after;
};

static volatile sig_atomic_t stopping;
static void on_signal(int sig) {
    (void)sig;
    stopping = 1;
}

static void reserve(char **buf, size_t *cap, size_t need) {
    if (need <= *cap)
        return;
    size_t n = *cap ? *cap : 4096;
    while (n < need)
        n *= 2;
    char *p = realloc(*buf, n);
    if (!p) {
        perror("realloc");
        exit(1);
    }
    *buf = p;
    *cap = n;
}

static void append(struct conn *c, const char *data, size_t len) {
    reserve(&c->out, &c->out_cap, c->out_len + len);
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
}

static void respond(struct conn *c, int status, const char *body) {
    char head[256];
    size_t blen = strlen(body);
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: application/vnd.docker.plugins.v1+json\r\n"
                     "Content-Length: %zu\r\n%s\r\n",
                     status,
                     status == 200   ? "OK"
                     : status == 404 ? "Not Found"
                                     : "Bad Request",
                     blen, c->close_after ? "Connection: close\r\n" : "");
    append(c, head, (size_t)n);
    append(c, body, blen);
}

static const char *find_header_end(const char *p, size_t len) {
    return memmem(p, len, "\r\n\r\n", 4);
}

/* Answers every complete request in the input buffer. Returns -1 on a malformed request
 * (answered with 400, connection closed after the write). */
static int process(struct conn *c) {
    size_t off = 0;
    while (off < c->in_len && !c->close_after) {
        const char *start = c->in + off;
        size_t avail = c->in_len - off;
        const char *hend = find_header_end(start, avail);
        if (!hend) {
            if (avail > kMaxHeaderBytes) {
                c->close_after = 1;
                respond(c, 400, "{\"Err\":\"header too large\"}");
            }
            break;
        }
        size_t head_len = (size_t)(hend - start) + 4;
        /* Request line: METHOD SP PATH SP VERSION */
        const char *sp1 = memchr(start, ' ', head_len);
        const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(hend - sp1 - 1)) : NULL;
        if (!sp2) {
            c->close_after = 1;
            respond(c, 400, "{\"Err\":\"bad request line\"}");
            break;
        }
        const char *path = sp1 + 1;
        size_t path_len = (size_t)(sp2 - path);

        size_t body_len = 0;
        const char *line = memchr(start, '\n', head_len);
        while (line && line + 1 < hend) {
            line++;
            const char *eol = memchr(line, '\r', (size_t)(hend + 2 - line));
            size_t ll = eol ? (size_t)(eol - line) : 0;
            if (ll > 15 && strncasecmp(line, "content-length:", 15) == 0) {
                body_len = strtoul(line + 15, NULL, 10);
            } else if (ll > 18 && strncasecmp(line, "transfer-encoding:", 18) == 0) {
                c->close_after = 1;
                respond(c, 400, "{\"Err\":\"chunked bodies are not supported\"}");
                return -1;
            } else if (ll > 11 && strncasecmp(line, "connection:", 11) == 0 &&
                       memmem(line + 11, ll - 11, "close", 5)) {
                c->close_after = 1;
            }
            line = memchr(line, '\n', (size_t)(hend + 2 - line));
        }
        if (body_len > kMaxBodyBytes) {
            c->close_after = 1;
            respond(c, 400, "{\"Err\":\"body too large\"}");
            break;
        }
        if (avail < head_len + body_len)
            break; /* wait for the rest of the body */

#define PATH_IS(lit) (path_len == sizeof(lit) - 1 && memcmp(path, lit, sizeof(lit) - 1) == 0)
        if (PATH_IS("/Plugin.Activate"))
            respond(c, 200, "{\"Implements\":[\"authz\"]}\n");
        else if (PATH_IS("/AuthZPlugin.AuthZReq") || PATH_IS("/AuthZPlugin.AuthZRes"))
            respond(c, 200, "{\"Allow\":true}\n");
        else
            respond(c, 404, "{\"Err\":\"not found\"}\n");
#undef PATH_IS
        off += head_len + body_len;
    }
    if (off > 0) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
    return 0;
}

static void close_conn(int ep, struct conn *c) {
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->in);
    free(c->out);
    free(c);
}

/* Returns -1 when the connection is finished (error, or close_after and all written). */
static int flush_out(int ep, struct conn *c) {
    while (c->out_off < c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            if (!c->want_out) {
                struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                c->want_out = 1;
            }
            return 0;
        }
        return -1;
    }
    c->out_len = c->out_off = 0;
    if (c->want_out) {
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        c->want_out = 0;
    }
    return c->close_after ? -1 : 0;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s SOCKET_PATH\n", argv[0]);
        return 2;
    }
    const char *path = argv[1];
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path) {
        fprintf(stderr, "socket path too long\n");
        return 2;
    }
    strcpy(addr.sun_path, path);

    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    unlink(path);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lfd, 4096) < 0) {
        perror(path);
        return 1;
    }
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);

    struct epoll_event events[256];
    while (!stopping) {
        int n = epoll_wait(ep, events, 256, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("epoll_wait");
            break;
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (!c) {
                for (;;) {
                    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0)
                        break;
                    struct conn *nc = calloc(1, sizeof *nc);
                    nc->fd = fd;
                    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = nc};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
                }
                continue;
            }
            if (events[i].events & EPOLLIN) {
                /* One read per wake-up: level-triggered epoll reports what is left. */
                reserve(&c->in, &c->in_cap, c->in_len + kReadChunk);
                ssize_t r = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
                if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
                    close_conn(ep, c);
                    continue;
                }
                if (r > 0) {
                    c->in_len += (size_t)r;
                    process(c);
                }
            }
            if ((events[i].events & (EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP)) &&
                c->out_len > c->out_off) {
                if (flush_out(ep, c) < 0) {
                    close_conn(ep, c);
                    continue;
                }
            } else if (events[i].events & (EPOLLERR | EPOLLHUP)) {
                close_conn(ep, c);
            }
        }
    }
    unlink(path);
    return 0;
}
