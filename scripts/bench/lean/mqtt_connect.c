// A lean MQTT 3.1.1 connect-rate client: one thread, epoll, non-blocking sockets, no allocation
// per connection. N clients connect (at most WINDOW attempts under way at a time), each sends
// CONNECT (clean session, its own client id) and waits for CONNACK; all are held HOLD seconds
// and then closed. Prints one JSON line: connected, failed, seconds (first attempt to last
// CONNACK), connects_per_s, and this client's own CPU seconds.
//
//   mqtt_connect PORT N WINDOW HOLD_SECONDS
//
// Every connection binds a source address of its own among 127.0.0.2 ... 127.0.0.201
// (IP_BIND_ADDRESS_NO_PORT): the TIME_WAIT sockets that earlier runs leave behind on 127.0.0.1
// would otherwise make each connect() search the ephemeral port range, and the run measure the
// client's kernel instead of the broker.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

enum { SOURCES = 200, TIMEOUT_S = 30 };

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// Per connection: 0 = connecting, 1 = CONNECT sent, 2 = connected, 3 = failed.
typedef struct {
    int fd;
    uint8_t state;
    uint8_t got;  // CONNACK bytes read so far
} conn_t;

static int port, total, window;
static conn_t *conns;
static int started, in_flight, connected, failed;
static int ep;

static void fail(int i) {
    if (conns[i].fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, conns[i].fd, NULL);
        close(conns[i].fd);
        conns[i].fd = -1;
    }
    conns[i].state = 3;
    failed++;
    in_flight--;
}

static void start_one(void) {
    int i = started++;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        conns[i].fd = -1;
        in_flight++;
        fail(i);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    struct sockaddr_in src = {.sin_family = AF_INET, .sin_port = 0, .sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)(i % SOURCES))};
    bind(fd, (struct sockaddr *)&src, sizeof src);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    conns[i].fd = fd;
    conns[i].state = 0;
    conns[i].got = 0;
    in_flight++;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) {
        fail(i);
        return;
    }
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.u32 = (uint32_t)i};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) fail(i);
}

// CONNECT, MQTT 3.1.1, clean session, keepalive 60 s, client id "c%07d".
static void send_connect(int i) {
    uint8_t p[32];
    char id[16];
    int idlen = snprintf(id, sizeof id, "c%07d", i);
    size_t n = 0;
    p[n++] = 0x10;
    p[n++] = (uint8_t)(10 + 2 + idlen);
    const uint8_t header[] = {0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60};
    memcpy(p + n, header, sizeof header);
    n += sizeof header;
    p[n++] = 0;
    p[n++] = (uint8_t)idlen;
    memcpy(p + n, id, (size_t)idlen);
    n += (size_t)idlen;
    if (write(conns[i].fd, p, n) != (ssize_t)n) {
        fail(i);
        return;
    }
    conns[i].state = 1;
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    epoll_ctl(ep, EPOLL_CTL_MOD, conns[i].fd, &ev);
}

static void on_event(int i, uint32_t events) {
    conn_t *c = &conns[i];
    if (c->state == 0) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0 || (events & (EPOLLERR | EPOLLHUP))) {
            fail(i);
            return;
        }
        send_connect(i);
        return;
    }
    if (c->state != 1) return;
    uint8_t b[8];
    ssize_t r = read(c->fd, b, sizeof b - c->got);
    if (r <= 0) {
        if (r < 0 && errno == EAGAIN) return;
        fail(i);
        return;
    }
    // CONNACK: 0x20 0x02 flags code; code 0 = accepted.
    for (ssize_t k = 0; k < r; k++, c->got++) {
        if ((c->got == 0 && b[k] != 0x20) || (c->got == 3 && b[k] != 0)) {
            fail(i);
            return;
        }
    }
    if (c->got >= 4) {
        c->state = 2;
        connected++;
        in_flight--;
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    }
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s PORT N WINDOW HOLD_SECONDS\n", argv[0]);
        return 2;
    }
    port = atoi(argv[1]);
    total = atoi(argv[2]);
    window = atoi(argv[3]);
    double hold = atof(argv[4]);
    if (port <= 0 || total <= 0 || window <= 0 || hold < 0) {
        fprintf(stderr, "%s: PORT, N and WINDOW must be positive, HOLD_SECONDS not negative\n", argv[0]);
        return 2;
    }
    struct rlimit lim;
    getrlimit(RLIMIT_NOFILE, &lim);
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
    conns = calloc((size_t)total, sizeof *conns);
    ep = epoll_create1(0);
    if (!conns || ep < 0) {
        perror("setup");
        return 1;
    }
    double cpu0 = cpu_s(), t0 = now_s(), deadline = t0 + TIMEOUT_S;
    struct epoll_event events[256];
    while ((started < total || in_flight > 0) && now_s() < deadline) {
        while (started < total && in_flight < window) start_one();
        int n = epoll_wait(ep, events, 256, 100);
        for (int k = 0; k < n; k++) on_event((int)events[k].data.u32, events[k].events);
    }
    double t1 = now_s(), cpu1 = cpu_s();
    failed += total - started + in_flight;  // not answered before the timeout
    double seconds = t1 - t0;
    printf("{\"scenario\":\"conns\",\"client\":\"lean\",\"connections\":%d,\"connected\":%d,\"failed\":%d,\"seconds\":%.3f,\"connects_per_s\":%.1f,\"client_cpu_s\":%.3f}\n",
           total, connected, failed, seconds, connected / seconds, cpu1 - cpu0);
    fflush(stdout);
    struct timespec ts = {.tv_sec = (time_t)hold, .tv_nsec = (long)((hold - (double)(time_t)hold) * 1e9)};
    nanosleep(&ts, NULL);
    for (int i = 0; i < started; i++)
        if (conns[i].fd >= 0) close(conns[i].fd);
    return failed > 0 ? 1 : 0;
}
