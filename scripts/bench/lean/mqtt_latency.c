// A lean MQTT 3.1.1 latency client: one thread, epoll, raw sockets, no allocation per message.
// A publisher and a subscriber connect to the broker; the publisher sends PUBLISH at a fixed
// rate with a CLOCK_MONOTONIC timestamp in the payload; the subscriber records now - stamp.
// Prints one JSON line: p50/p99/p99.9/max in microseconds, loss.
//
//   mqtt_latency PORT RATE SECONDS QOS [PAYLOAD_BYTES]      measure a broker on 127.0.0.1
//       (payload 8 to 100 bytes, default 64; QoS 0 or 1)
//   mqtt_latency --relay PORT                               the floor: a stub broker that
//       answers CONNECT/SUBSCRIBE and relays each PUBLISH to the subscriber (PUBACKs itself),
//       so the client against it measures its own overhead plus one loopback relay hop.
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
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
    perror(what);
    exit(1);
}

static int dial(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) die("connect");
    return fd;
}

static void write_all(int fd, const uint8_t *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            die("write");
        }
        p += w;
        n -= (size_t)w;
    }
}

// Reads one whole packet (blocking); returns its type byte and body length in *len.
static uint8_t read_packet(int fd, uint8_t *body, size_t cap, size_t *len) {
    uint8_t h;
    if (read(fd, &h, 1) != 1) die("read header");
    size_t rl = 0, mul = 1;
    for (;;) {
        uint8_t b;
        if (read(fd, &b, 1) != 1) die("read length");
        rl += (b & 127) * mul;
        mul *= 128;
        if (!(b & 128)) break;
    }
    if (rl > cap) { fprintf(stderr, "packet too large\n"); exit(1); }
    size_t got = 0;
    while (got < rl) {
        ssize_t r = read(fd, body + got, rl - got);
        if (r <= 0) die("read body");
        got += (size_t)r;
    }
    *len = rl;
    return h;
}

static size_t put_string(uint8_t *p, const char *s) {
    size_t n = strlen(s);
    p[0] = (uint8_t)(n >> 8);
    p[1] = (uint8_t)n;
    memcpy(p + 2, s, n);
    return n + 2;
}

// 1: clean session (the default); 0 with the "persistent" argument: the broker keeps the
// sessions, so a broker with durability stores what is queued and in flight.
static int clean_session = 1;

static void mqtt_connect(int fd, const char *id) {
    uint8_t b[128], body[128];
    size_t n = 0;
    n += put_string(body + n, "MQTT");
    body[n++] = 4;      // 3.1.1
    body[n++] = clean_session ? 2 : 0;
    body[n++] = 0;
    body[n++] = 60;     // keepalive
    n += put_string(body + n, id);
    b[0] = 0x10;
    b[1] = (uint8_t)n;
    memcpy(b + 2, body, n);
    write_all(fd, b, n + 2);
    size_t len;
    if ((read_packet(fd, body, sizeof body, &len) >> 4) != 2 || body[1] != 0) { fprintf(stderr, "CONNECT refused\n"); exit(1); }
}

static void mqtt_subscribe(int fd, const char *topic, int qos) {
    uint8_t b[128], body[128];
    size_t n = 0;
    body[n++] = 0;
    body[n++] = 1;      // packet id
    n += put_string(body + n, topic);
    body[n++] = (uint8_t)qos;
    b[0] = 0x82;
    b[1] = (uint8_t)n;
    memcpy(b + 2, body, n);
    write_all(fd, b, n + 2);
    size_t len;
    if ((read_packet(fd, body, sizeof body, &len) >> 4) != 9) { fprintf(stderr, "no SUBACK\n"); exit(1); }
}

static int compare(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

// Parses as many whole packets as `buf` holds; calls back for PUBLISH; returns bytes used.
typedef struct {
    uint64_t *samples;
    size_t count, cap, acks;
    int fd;
    int qos;
} sub_state;

static size_t consume(uint8_t *buf, size_t have, sub_state *st, int is_sub) {
    size_t used = 0;
    uint8_t ack[4] = {0x40, 2, 0, 0};
    while (have - used >= 2) {
        uint8_t *p = buf + used;
        size_t rl = 0, mul = 1, i = 1;
        for (;;) {
            if (i >= have - used) return used;
            rl += (p[i] & 127) * mul;
            mul *= 128;
            if (!(p[i++] & 128)) break;
        }
        if (have - used < i + rl) return used;
        uint8_t type = p[0] >> 4;
        uint8_t *body = p + i;
        if (is_sub && type == 3) {
            size_t tl = ((size_t)body[0] << 8) | body[1];
            size_t off = 2 + tl;
            uint16_t pid = 0;
            if ((p[0] >> 1) & 3) { pid = (uint16_t)((body[off] << 8) | body[off + 1]); off += 2; }
            uint64_t stamp;
            memcpy(&stamp, body + off, sizeof stamp);
            if (st->count < st->cap) st->samples[st->count++] = now_ns() - stamp;
            if ((p[0] >> 1) & 3) {
                ack[2] = (uint8_t)(pid >> 8);
                ack[3] = (uint8_t)pid;
                write_all(st->fd, ack, 4);
            }
        } else if (!is_sub && type == 4) {
            st->acks++;
        }
        used += i + rl;
    }
    return used;
}

static int run_client(int port, int rate, double seconds, int qos, int size) {
    prctl(PR_SET_TIMERSLACK, 1000UL);  // wake within 1 µs of the deadline, not the default 50
    int sub = dial(port), pub = dial(port);
    char sid[64], pid_s[64], topic[64];
    snprintf(sid, sizeof sid, "lean-sub-%d", getpid());
    snprintf(pid_s, sizeof pid_s, "lean-pub-%d", getpid());
    snprintf(topic, sizeof topic, "lean/%d", getpid());
    mqtt_connect(sub, sid);
    mqtt_subscribe(sub, topic, qos);
    mqtt_connect(pub, pid_s);
    size_t total = (size_t)(rate * seconds);
    sub_state st = {.samples = calloc(total, sizeof(uint64_t)), .cap = total, .fd = sub, .qos = qos};
    sub_state pst = {.fd = pub};
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = sub};
    epoll_ctl(ep, EPOLL_CTL_ADD, sub, &ev);
    ev.data.fd = pub;
    epoll_ctl(ep, EPOLL_CTL_ADD, pub, &ev);
    // One PUBLISH, its timestamp patched in before each send.
    uint8_t packet[512];
    size_t tl = strlen(topic), n = 0;
    size_t rl = 2 + tl + (qos ? 2 : 0) + (size_t)size;
    packet[n++] = (uint8_t)(0x30 | (qos << 1));
    packet[n++] = (uint8_t)rl;
    n += put_string(packet + n, topic);
    size_t pid_off = n;
    if (qos) n += 2;
    size_t stamp_off = n;
    memset(packet + n, 'x', (size_t)size);
    n += (size_t)size;
    uint8_t sbuf[1 << 16], pbuf[1 << 16];
    size_t shave = 0, phave = 0, sent = 0;
    uint16_t next_id = 1;
    uint64_t start = now_ns(), interval = 1000000000ull / (uint64_t)rate;
    uint64_t deadline = start + (uint64_t)(seconds * 1e9) + 3000000000ull;
    while (now_ns() < deadline && st.count < total) {
        uint64_t t = now_ns();
        while (sent < total && t >= start + sent * interval) {
            if (qos) {
                packet[pid_off] = (uint8_t)(next_id >> 8);
                packet[pid_off + 1] = (uint8_t)next_id;
                next_id = next_id == 65535 ? 1 : next_id + 1;
            }
            uint64_t stamp = now_ns();
            memcpy(packet + stamp_off, &stamp, sizeof stamp);
            write_all(pub, packet, n);
            sent++;
        }
        // Sleep (not spin) until the next send or a reply: the client must not take a core
        // from the broker on a small machine. epoll_pwait2 takes a nanosecond timeout.
        uint64_t next = start + sent * interval;
        uint64_t wait = sent < total && next > t ? next - t : 1000000;
        struct timespec timeout = {.tv_sec = (time_t)(wait / 1000000000ull), .tv_nsec = (long)(wait % 1000000000ull)};
        struct epoll_event events[2];
        int k = epoll_pwait2(ep, events, 2, &timeout, NULL);
        for (int e = 0; e < k; e++) {
            int fd = events[e].data.fd;
            uint8_t *buf = fd == sub ? sbuf : pbuf;
            size_t *have = fd == sub ? &shave : &phave;
            ssize_t r = read(fd, buf + *have, sizeof sbuf - *have);
            if (r <= 0) die("read");
            *have += (size_t)r;
            size_t used = consume(buf, *have, fd == sub ? &st : &pst, fd == sub);
            memmove(buf, buf + used, *have - used);
            *have -= used;
        }
    }
    qsort(st.samples, st.count, sizeof(uint64_t), compare);
#define AT(q) (st.count ? st.samples[(size_t)((double)(st.count - 1) * (q))] / 1000.0 : 0)
    printf("{\"client\":\"lean\",\"rate\":%d,\"qos\":%d,\"size\":%d,\"sent\":%zu,\"received\":%zu,\"loss\":%zu,"
           "\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f}\n",
           rate, qos, size, sent, st.count, sent - st.count, AT(0.5), AT(0.99), AT(0.999), AT(1.0));
    return 0;
}

// The floor: CONNACK to every CONNECT, SUBACK to SUBSCRIBE, PUBACK to QoS 1 PUBLISH, and every
// PUBLISH copied to the subscriber. Serves one run, then exits.
static int run_relay(int port) {
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
    listen(lfd, 4);
    printf("relay listening on %d\n", port);
    fflush(stdout);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    static uint8_t bufs[8][1 << 16];
    size_t have[8] = {0};
    int fds[8], nfd = 0, subscriber = -1, open = 0;
    for (;;) {
        struct epoll_event events[8];
        int k = epoll_wait(ep, events, 8, 10000);
        if (k == 0) return 0;
        for (int e = 0; e < k; e++) {
            if (!(events[e].data.u64 >> 32)) {
                int c = accept(lfd, NULL, NULL);
                setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                fds[nfd] = c;
                ev.data.u64 = (uint64_t)nfd++ | (1ull << 32);
                epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
                open++;
                continue;
            }
            int slot = (int)(events[e].data.u64 & 0xffffffff);
            int c = fds[slot];
            ssize_t r = read(c, bufs[slot] + have[slot], sizeof bufs[slot] - have[slot]);
            if (r <= 0) {
                close(c);
                if (--open == 0) return 0;
                epoll_ctl(ep, EPOLL_CTL_DEL, c, NULL);
                continue;
            }
            have[slot] += (size_t)r;
            size_t used = 0;
            while (have[slot] - used >= 2) {
                uint8_t *p = bufs[slot] + used;
                size_t rl = 0, mul = 1, i = 1;
                int whole = 1;
                for (;;) {
                    if (i >= have[slot] - used) { whole = 0; break; }
                    rl += (p[i] & 127) * mul;
                    mul *= 128;
                    if (!(p[i++] & 128)) break;
                }
                if (!whole || have[slot] - used < i + rl) break;
                uint8_t type = p[0] >> 4;
                if (type == 1) {
                    uint8_t ack[4] = {0x20, 2, 0, 0};
                    write_all(c, ack, 4);
                } else if (type == 8) {
                    uint8_t ack[5] = {0x90, 3, p[i], p[i + 1], p[i + 2 + ((p[i + 2] << 8) | p[i + 3]) + 2]};
                    subscriber = c;
                    write_all(c, ack, 5);
                } else if (type == 3) {
                    if (subscriber >= 0) write_all(subscriber, p, i + rl);
                    if ((p[0] >> 1) & 3) {
                        size_t tl = ((size_t)p[i] << 8) | p[i + 1];
                        uint8_t ack[4] = {0x40, 2, p[i + 2 + tl], p[i + 3 + tl]};
                        write_all(c, ack, 4);
                    }
                }
                used += i + rl;
            }
            memmove(bufs[slot], bufs[slot] + used, have[slot] - used);
            have[slot] -= used;
        }
    }
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--relay") == 0) return run_relay(atoi(argv[2]));
    if (argc < 5) {
        fprintf(stderr, "usage: mqtt_latency PORT RATE SECONDS QOS(0|1) [PAYLOAD_BYTES 8-100 [persistent]] | --relay PORT\n");
        return 2;
    }
    int size = argc > 5 ? atoi(argv[5]) : 64;
    if (argc > 6 && strcmp(argv[6], "persistent") == 0) clean_session = 0;
    if (size < 8 || size > 100) { fprintf(stderr, "payload: 8 to 100 bytes\n"); return 2; }
    return run_client(atoi(argv[1]), atoi(argv[2]), atof(argv[3]), atoi(argv[4]), size);
}
