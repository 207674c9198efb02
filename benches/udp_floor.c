/*
 * The floor under every UDP DNS server on this machine: the socket calls
 * healthdns's UDP worker makes (recvmmsg of up to 32 datagrams with
 * MSG_WAITFORONE, one sendmmsg back), and no DNS work at all — each query
 * goes back as its own answer with QR set. benches/compare.sh serves from it
 * beside the real servers, so its queries per CPU-second are the most any
 * server using kernel UDP sockets can reach in the same run.
 *
 *   cc -O2 -o udp_floor benches/udp_floor.c && ./udp_floor PORT
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define BATCH 32
#define QUERY_MAX 4096

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s PORT\n", argv[0]);
		return 2;
	}
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in addr = { .sin_family = AF_INET,
				    .sin_port = htons((unsigned short)atoi(argv[1])),
				    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
		perror("udp_floor: bind");
		return 1;
	}
	static unsigned char queries[BATCH][QUERY_MAX];
	static struct sockaddr_storage peers[BATCH];
	static struct iovec iov[BATCH];
	static struct mmsghdr messages[BATCH];
	for (;;) {
		for (int i = 0; i < BATCH; i++) {
			iov[i] = (struct iovec){ .iov_base = queries[i], .iov_len = QUERY_MAX };
			memset(&messages[i], 0, sizeof messages[i]);
			messages[i].msg_hdr.msg_name = &peers[i];
			messages[i].msg_hdr.msg_namelen = sizeof peers[i];
			messages[i].msg_hdr.msg_iov = &iov[i];
			messages[i].msg_hdr.msg_iovlen = 1;
		}
		int n = recvmmsg(fd, messages, BATCH, MSG_WAITFORONE, NULL);
		for (int i = 0; i < n; i++) {
			if (messages[i].msg_len >= 12) {
				queries[i][2] |= 0x80; /* QR: a response */
			}
			iov[i].iov_len = messages[i].msg_len;
		}
		if (n > 0) {
			(void)sendmmsg(fd, messages, (unsigned)n, 0);
		}
	}
}
