/* bench/net-gen.c — the frame generator of bench/net: writes SIZE-byte Ethernet frames (FCS not
 * included) to DSTMAC, ethertype 0x88b5, as fast as it can through a raw AF_PACKET socket bound
 * to IFNAME, with the qdisc bypassed (PACKET_QDISC_BYPASS), in batches of 64 (sendmmsg). On a
 * tap the frames go to the reader of the tap: the VMM, which hands them to the guest's receive
 * queue. When the tap's queue is full (ENOBUFS: the tap dropped the frame) it sleeps 1 ms, so
 * that on a one-CPU machine it leaves the CPU to the VMM instead of spinning (give the tap a
 * long queue: ip link set TAP txqueuelen 10000). Stops after SECONDS or on SIGTERM/SIGINT and
 * prints one line
 *   NETGEN sent=N full=F seconds=S     (full: sendmmsg calls refused, i.e. frames dropped)
 * A benchmark tool (built statically by bench/net.sh for the nested guest), not part of kvmm.
 *
 *   net-gen IFNAME SIZE SECONDS DSTMAC */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	unsigned char frame[1514], mac[6];
	struct sockaddr_ll sll = {0};
	struct mmsghdr msgs[BATCH];
	struct iovec iov = {frame, 0};
	unsigned long long sent = 0, errors = 0;
	double t0, secs;
	int fd, one = 1, size;
	struct sigaction sa = {0};

	if (argc != 5 || sscanf(argv[4], "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2],
				&mac[3], &mac[4], &mac[5]) != 6) {
		fprintf(stderr, "usage: net-gen IFNAME SIZE SECONDS DSTMAC\n");
		return 2;
	}
	size = atoi(argv[2]);
	secs = atof(argv[3]);
	if (size < 60 || size > (int)sizeof(frame) || secs <= 0) {
		fprintf(stderr, "net-gen: SIZE must be 60..1514 and SECONDS > 0\n");
		return 2;
	}
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	fd = socket(AF_PACKET, SOCK_RAW, 0); /* protocol 0: send only */
	if (fd < 0) {
		perror("net-gen: socket");
		return 1;
	}
	sll.sll_family = AF_PACKET;
	sll.sll_ifindex = (int)if_nametoindex(argv[1]);
	if (!sll.sll_ifindex || bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		fprintf(stderr, "net-gen: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	if (setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)) < 0)
		perror("net-gen: PACKET_QDISC_BYPASS (going through the qdisc)");
	memset(frame, 0, sizeof(frame));
	memcpy(frame, mac, 6);
	memcpy(frame + 6, "\x02\x00\x00\x00\x00\x02", 6);
	frame[12] = 0x88;
	frame[13] = 0xb5;
	iov.iov_len = (size_t)size;
	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < BATCH; i++) {
		msgs[i].msg_hdr.msg_iov = &iov;
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	t0 = now_s();
	while (!stop && now_s() - t0 < secs) {
		int n = sendmmsg(fd, msgs, BATCH, 0);

		if (n > 0) {
			sent += (unsigned long long)n;
		} else if (errno != EINTR) {
			errors++;
			usleep(1000);
		}
	}
	printf("NETGEN sent=%llu full=%llu seconds=%.2f\n", sent, errors, now_s() - t0);
	close(fd);
	return 0;
}
