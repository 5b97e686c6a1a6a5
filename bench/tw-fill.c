/*
 * Fills the current network namespace with TIME_WAIT sockets for bench/discover.js: one
 * listener, and for each of NADDR client addresses and each port in [PLO, PHI] a connection
 * bound to that exact (address, port), accepted, and closed by the server first, so the server
 * side holds TIME_WAIT on a 4-tuple no other connection uses. Blocking calls on loopback: the
 * handshake completes inside connect(). Stops at COUNT connections or MAXSEC seconds, prints
 * "progress N" to stderr every 10,000 and "done N SECONDS" to stdout.
 *
 *   tw-fill SERVER_IP PORT CLIENT_PREFIX NADDR PLO PHI COUNT MAXSEC
 *   (client addresses are CLIENT_PREFIX.1 .. CLIENT_PREFIX.NADDR)
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc != 9) {
    fprintf(stderr, "usage: tw-fill SERVER_IP PORT CLIENT_PREFIX NADDR PLO PHI COUNT MAXSEC\n");
    return 2;
  }
  const char *sip = argv[1];
  int port = atoi(argv[2]);
  const char *prefix = argv[3];
  int naddr = atoi(argv[4]), plo = atoi(argv[5]), phi = atoi(argv[6]);
  long count = atol(argv[7]);
  double maxsec = atof(argv[8]);

  struct sockaddr_in srv = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, sip, &srv.sin_addr);
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(ls, (struct sockaddr *)&srv, sizeof srv) || listen(ls, 4096)) {
    perror("listen");
    return 1;
  }
  double t0 = now();
  long made = 0;
  for (int a = 1; a <= naddr && made < count; a++) {
    char ip[48];
    snprintf(ip, sizeof ip, "%s.%d", prefix, a);
    struct sockaddr_in cli = {.sin_family = AF_INET};
    inet_pton(AF_INET, ip, &cli.sin_addr);
    for (int p = plo; p <= phi && made < count; p++) {
      int c = socket(AF_INET, SOCK_STREAM, 0);
      cli.sin_port = htons(p);
      if (bind(c, (struct sockaddr *)&cli, sizeof cli) || connect(c, (struct sockaddr *)&srv, sizeof srv)) {
        close(c);
        continue;
      }
      int s = accept(ls, NULL, NULL);
      if (s >= 0) close(s); /* the server closes first: it holds TIME_WAIT */
      close(c);
      made++;
      if (made % 10000 == 0) {
        fprintf(stderr, "progress %ld\n", made);
        if (now() - t0 > maxsec) break;
      }
    }
    if (now() - t0 > maxsec) break;
  }
  printf("done %ld %.2f\n", made, now() - t0);
  return 0;
}
