// Shared by the C tools (sluice-relay, sluice-gen): address parsing, socket setup, a monotonic
// clock and the stop flag set by SIGINT/SIGTERM. Header-only: each tool is one translation unit.
#ifndef SLUICE_TOOLS_COMMON_H
#define SLUICE_TOOLS_COMMON_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested = 0;

static inline void on_stop(int sig) {
  (void)sig;
  stop_requested = 1;
}

/** SIGINT/SIGTERM set the stop flag and interrupt blocking calls (no SA_RESTART). */
static inline void install_stop_handlers(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}

static inline void die(const char *what) {
  fprintf(stderr, "%s: %s\n", what, strerror(errno));
  exit(1);
}

static inline void usage_error(const char *msg) {
  fprintf(stderr, "%s\n", msg);
  exit(2);
}

/** "a.b.c.d:port" → sockaddr_in; exits with a message on a malformed value. */
static inline struct sockaddr_in parse_endpoint(const char *s) {
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  char host[64];
  const char *colon = strrchr(s, ':');
  if (colon == NULL || (size_t)(colon - s) >= sizeof host) usage_error("endpoint must be IPv4:port");
  memcpy(host, s, (size_t)(colon - s));
  host[colon - s] = 0;
  char *end;
  long port = strtol(colon + 1, &end, 10);
  if (*end != 0 || port < 0 || port > 65535) usage_error("bad port in endpoint");
  if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) usage_error("bad IPv4 address in endpoint");
  sa.sin_port = htons((uint16_t)port);
  return sa;
}

/** A UDP socket bound to `at`, with SO_REUSEPORT when asked and big buffers when allowed. */
static inline int udp_socket(const struct sockaddr_in *at, int reuseport, int bufbytes) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) die("SO_REUSEPORT");
  if (bufbytes > 0) {
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bufbytes, sizeof bufbytes) != 0)
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufbytes, sizeof bufbytes);
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bufbytes, sizeof bufbytes) != 0)
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufbytes, sizeof bufbytes);
  }
  if (bind(fd, (const struct sockaddr *)at, sizeof *at) != 0) die("bind");
  return fd;
}

static inline int bound_port(int fd) {
  struct sockaddr_in sa;
  socklen_t len = sizeof sa;
  if (getsockname(fd, (struct sockaddr *)&sa, &len) != 0) die("getsockname");
  return ntohs(sa.sin_port);
}

static inline double now_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static inline long arg_long(const char *v, long min, long max, const char *name) {
  char *end;
  long x = strtol(v, &end, 10);
  if (*end != 0 || x < min || x > max) {
    fprintf(stderr, "%s must be an integer in %ld..%ld\n", name, min, max);
    exit(2);
  }
  return x;
}

#endif
