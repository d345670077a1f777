/* What one request/reply costs on this machine with no plugin at all: two processes bounce
 * a 1 KB message and a 100-byte reply over a socketpair, each blocking in read(). Its p50 is
 * the cost of two cross-process wake-ups (bench/README.md: ~25 us each across CPUs on this
 * kind of VM), the part of a plugin's one-connection latency no server can remove without
 * polling. Prints "p50_us=... p90_us=... p99_us=... same_cpu_p50_us=..." (the last with both
 * processes pinned to one CPU, where a wake-up is a plain context switch). */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int full_read(int fd, char *buf, size_t want) {
    size_t got = 0;
    while (got < want) {
        ssize_t n = read(fd, buf + got, want - got);
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

/* Round trips of one pair of processes; pin >= 0 puts both on that CPU. p50/p90/p99 into out. */
static int measure(int rounds, int pin, double out[3]) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return -1;
    if (pin >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(pin, &set);
        sched_setaffinity(0, sizeof set, &set); /* inherited by the child */
    }
    char buf[1024];
    memset(buf, 'x', sizeof buf);
    pid_t child = fork();
    if (child < 0)
        return -1;
    if (child == 0) {
        close(sv[0]);
        for (;;) {
            if (full_read(sv[1], buf, 1024) != 0)
                _exit(0);
            if (write(sv[1], buf, 100) != 100)
                _exit(1);
        }
    }
    close(sv[1]);
    double *samples = malloc(sizeof(double) * (size_t)rounds);
    int warmup = rounds / 10;
    for (int i = -warmup; i < rounds; ++i) {
        double start = now_us();
        if (write(sv[0], buf, 1024) != 1024 || full_read(sv[0], buf, 100) != 0)
            return -1;
        if (i >= 0)
            samples[i] = now_us() - start;
    }
    close(sv[0]);
    waitpid(child, NULL, 0);
    qsort(samples, (size_t)rounds, sizeof(double), cmp);
    out[0] = samples[rounds / 2];
    out[1] = samples[rounds * 9 / 10];
    out[2] = samples[rounds * 99 / 100];
    free(samples);
    if (pin >= 0) { /* back to every CPU */
        cpu_set_t all;
        CPU_ZERO(&all);
        for (int c = 0; c < CPU_SETSIZE; ++c)
            CPU_SET(c, &all);
        sched_setaffinity(0, sizeof all, &all);
    }
    return 0;
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 20000;
    if (rounds < 100)
        rounds = 100;
    double free_run[3], pinned[3];
    if (measure(rounds, -1, free_run) != 0 || measure(rounds, 0, pinned) != 0) {
        perror("pingpong");
        return 1;
    }
    printf("p50_us=%.1f p90_us=%.1f p99_us=%.1f same_cpu_p50_us=%.1f\n", free_run[0], free_run[1],
           free_run[2], pinned[0]);
    return 0;
}
