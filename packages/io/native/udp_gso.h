// UDP GSO (UDP_SEGMENT) for a sendmsg/sendmmsg message, shared by the addon and the C relay: the
// message's iovecs are equal-length datagrams (the last may be shorter) that the kernel sends as
// one skb through its stack and splits at the end, so a run to one destination pays the send path
// once. Header-only: each user is one translation unit.
#ifndef SLUICE_UDP_GSO_H
#define SLUICE_UDP_GSO_H
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
// Segments per GSO message: the kernel's UDP_MAX_SEGMENTS is 64 on older kernels (128 on new).
#define GSO_MAX_SEGMENTS 64
// Bytes per GSO message: the payload of one IPv4 UDP datagram, with room to spare.
#define GSO_MAX_BYTES 65000
// Control buffer one GSO message needs.
#define GSO_CONTROL_BYTES CMSG_SPACE(sizeof(uint16_t))

/** Attaches UDP_SEGMENT = `segment` to `h`, using `control` (GSO_CONTROL_BYTES) as its cmsg buffer. */
static inline void gso_attach(struct msghdr *h, void *control, uint16_t segment) {
  h->msg_control = control;
  h->msg_controllen = GSO_CONTROL_BYTES;
  struct cmsghdr *c = CMSG_FIRSTHDR(h);
  c->cmsg_level = IPPROTO_UDP;
  c->cmsg_type = UDP_SEGMENT;
  c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
  memcpy(CMSG_DATA(c), &segment, sizeof segment);
}

#endif
