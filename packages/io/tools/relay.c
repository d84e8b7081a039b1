// sluice-relay: the reference the director is measured against. Each thread owns a UDP socket
// bound to --listen with SO_REUSEPORT, receives a batch with recvmmsg and sends the same batch,
// unchanged, to --to with sendmmsg; no parsing, no classification. The director's batched port
// does the same system calls plus the pipeline, so their ratio is what classification and the
// JavaScript around it cost.
//
//   sluice-relay --listen 127.0.0.1:4789 --to 127.0.0.2:4789 [--batch 64] [--threads 1]
//                [--buffer BYTES] [--gso 0|1]
//
// --gso 1 sends runs of equal-length frames as one UDP_SEGMENT message, as the director's port
// does by default, so the reference uses the same I/O technique as what it is compared with.
//
// Prints {"ready":true,"port":P} once bound, and {"received":R,"sent":S} on SIGTERM/SIGINT.
#include "common.h"
#include "../native/udp_gso.h"

#include <poll.h>
#include <pthread.h>

#define SLOT 2048
#define MAX_BATCH 1024

struct relay_thread {
  pthread_t id;
  int fd;
  int batch;
  int gso;
  struct sockaddr_in to;
  uint64_t received;
  uint64_t sent;
};

static void *relay_loop(void *arg) {
  struct relay_thread *t = arg;
  int n = t->batch;
  uint8_t *slots = malloc((size_t)n * SLOT);
  struct mmsghdr *msgs = calloc((size_t)n, sizeof *msgs);
  struct iovec *iovs = calloc((size_t)n, sizeof *iovs);
  struct mmsghdr *out = calloc((size_t)n, sizeof *out);
  int *frames = calloc((size_t)n, sizeof *frames);
  char(*ctrl)[GSO_CONTROL_BYTES] = calloc((size_t)n, sizeof *ctrl);
  if (slots == NULL || msgs == NULL || iovs == NULL || out == NULL || frames == NULL || ctrl == NULL) die("malloc");
  struct pollfd p = {.fd = t->fd, .events = POLLIN};
  while (!stop_requested) {
    for (int i = 0; i < n; i++) {
      iovs[i].iov_base = slots + (size_t)i * SLOT;
      iovs[i].iov_len = SLOT;
      msgs[i].msg_hdr.msg_iov = &iovs[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = NULL;
      msgs[i].msg_hdr.msg_namelen = 0;
    }
    int got = recvmmsg(t->fd, msgs, (unsigned)n, MSG_DONTWAIT, NULL);
    if (got <= 0) {
      if (got < 0 && errno != EAGAIN && errno != EINTR) die("recvmmsg");
      poll(&p, 1, 100);
      continue;
    }
    t->received += (uint64_t)got;
    // Messages to send: one per frame, or one per run of equal-length frames with --gso 1.
    int m = 0;
    for (int i = 0; i < got;) {
      size_t len = msgs[i].msg_len;
      int k = 1;
      if (t->gso)
        while (i + k < got && k < GSO_MAX_SEGMENTS && msgs[i + k].msg_len == len && (size_t)(k + 1) * len <= GSO_MAX_BYTES)
          k++;
      for (int j = i; j < i + k; j++) iovs[j].iov_len = msgs[j].msg_len;
      struct msghdr *h = &out[m].msg_hdr;
      memset(h, 0, sizeof *h);
      h->msg_name = &t->to;
      h->msg_namelen = sizeof t->to;
      h->msg_iov = &iovs[i];
      h->msg_iovlen = (size_t)k;
      if (k > 1) gso_attach(h, ctrl[m], (uint16_t)len);
      frames[m++] = k;
      i += k;
    }
    int done = 0;
    while (done < m) {
      int r = sendmmsg(t->fd, out + done, (unsigned)(m - done), 0);
      if (r > 0) {
        for (int j = done; j < done + r; j++) t->sent += (uint64_t)frames[j];
        done += r;
      } else if (r < 0 && errno == EINTR) {
        if (stop_requested) break;
      } else {
        done++;  // refused message: skipped, as the director's port does
      }
    }
  }
  free(slots);
  free(msgs);
  free(iovs);
  free(out);
  free(frames);
  free(ctrl);
  return NULL;
}

int main(int argc, char **argv) {
  const char *listen = NULL, *to = NULL;
  int batch = 64, threads = 1, buffer = 4 << 20, gso = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--listen") == 0) listen = argv[i + 1];
    else if (strcmp(argv[i], "--to") == 0) to = argv[i + 1];
    else if (strcmp(argv[i], "--batch") == 0) batch = (int)arg_long(argv[i + 1], 1, MAX_BATCH, "--batch");
    else if (strcmp(argv[i], "--threads") == 0) threads = (int)arg_long(argv[i + 1], 1, 64, "--threads");
    else if (strcmp(argv[i], "--buffer") == 0) buffer = (int)arg_long(argv[i + 1], 0, 1 << 30, "--buffer");
    else if (strcmp(argv[i], "--gso") == 0) gso = (int)arg_long(argv[i + 1], 0, 1, "--gso");
    else usage_error("usage: sluice-relay --listen IP:PORT --to IP:PORT [--batch N] [--threads N] [--buffer BYTES] [--gso 0|1]");
  }
  if (listen == NULL || to == NULL) usage_error("sluice-relay: --listen and --to are required");
  install_stop_handlers();
  struct sockaddr_in at = parse_endpoint(listen);
  struct relay_thread *ts = calloc((size_t)threads, sizeof *ts);
  if (ts == NULL) die("calloc");
  for (int i = 0; i < threads; i++) {
    ts[i].fd = udp_socket(&at, 1, buffer);
    // Port 0: the first socket picks a port and the others join it.
    if (i == 0) at.sin_port = htons((uint16_t)bound_port(ts[0].fd));
    ts[i].batch = batch;
    ts[i].gso = gso;
    ts[i].to = parse_endpoint(to);
  }
  printf("{\"ready\":true,\"port\":%d}\n", ntohs(at.sin_port));
  fflush(stdout);
  for (int i = 0; i < threads; i++) pthread_create(&ts[i].id, NULL, relay_loop, &ts[i]);
  uint64_t received = 0, sent = 0;
  for (int i = 0; i < threads; i++) {
    pthread_join(ts[i].id, NULL);
    received += ts[i].received;
    sent += ts[i].sent;
  }
  printf("{\"received\":%llu,\"sent\":%llu}\n", (unsigned long long)received, (unsigned long long)sent);
  return 0;
}
