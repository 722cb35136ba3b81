/* devices/virtio/net.c — see net.h. */
#include "devices/virtio/net.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/iovbuf.h"
#include "net/backend.h"

#define NET_CTRL_MAX	  (8 + 2 * (4 + 6 * VIRTIO_NET_MAC_TABLE)) /* largest command we accept */
#define NET_RX_MAX_CHAINS 64					   /* mergeable buffers per frame */
#define NET_TXBUF_LEN	  (NET_VNET_HDR_LEN + NET_MAX_FRAME)

struct net_filter {
	bool promisc, allmulti;
	bool uni_overflow, multi_overflow;
	unsigned nuni, nmulti;
	uint8_t uni[VIRTIO_NET_MAC_TABLE][6];
	uint8_t multi[VIRTIO_NET_MAC_TABLE][6];
};

struct virtio_net {
	struct virtio_dev vd;	   /* vd.lock protects everything below */
	struct virtio_dev_ops ops; /* filled once by create, then const */
	struct net_backend *nb;
	struct virtio_net_config cfg;
	uint16_t max_pairs, curr_pairs, ctrl_q;
	bool mrg, link_up;
	bool rx_waiting[NET_MAX_QUEUES]; /* receive returned -EAGAIN: kick on the next notify */
	bool tx_waiting[NET_MAX_QUEUES]; /* the backend was full: resume on its tx_ready */
	struct net_filter filter;
	struct virtio_net_stats stats;
	struct virtq_elem rx_first, rx_elem, tx_elem;
	uint8_t rxbuf[NET_TXBUF_LEN];
	uint8_t txbuf[NET_TXBUF_LEN];
	uint8_t ctrlbuf[NET_CTRL_MAX];
};

static struct virtio_net *to_net(struct virtio_dev *vd)
{
	return container_of(vd, struct virtio_net, vd);
}

static bool net_has(const struct virtio_net *n, unsigned bit)
{
	return n->vd.acked_features & (1ull << bit);
}

static bool net_running(const struct virtio_net *n)
{
	return (n->vd.status & VIRTIO_STATUS_DRIVER_OK) &&
	       !(n->vd.status & (VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED));
}

static void net_guest_error(struct virtio_net *n, struct virtq *vq)
{
	vq->broken = true;
	n->stats.guest_errors++;
	virtio_needs_reset(&n->vd);
}

/* ---- receive: backend -> guest (event-loop thread) ---- */

static bool net_mac_in(const uint8_t (*tab)[6], unsigned cnt, const uint8_t *mac)
{
	for (unsigned i = 0; i < cnt; i++)
		if (!memcmp(tab[i], mac, 6))
			return true;
	return false;
}

static bool net_rx_accept(const struct virtio_net *n, const uint8_t *dst)
{
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	const struct net_filter *f = &n->filter;

	if (f->promisc || !memcmp(dst, bcast, 6))
		return true;
	if (dst[0] & 1)
		return f->allmulti || f->multi_overflow || net_mac_in(f->multi, f->nmulti, dst);
	return !memcmp(dst, n->cfg.mac, 6) || f->uni_overflow || net_mac_in(f->uni, f->nuni, dst);
}

/* Copy `len` bytes of the flat frame into the writable segments of e starting at `off`.
 * Returns bytes copied. */
static size_t net_put(const struct virtq_elem *e, size_t off, const uint8_t *src, size_t len)
{
	return iov_from_buf(e->iov + e->nout, e->nin, off, src, len);
}

/* Deliver one flat frame (header-less, `flen` bytes at rxbuf + NET_VNET_HDR_LEN, the header
 * already in `hdr`) to rx queue `qi`. 0 done or dropped; -EAGAIN no buffers. */
static int net_rx_frame(struct virtio_net *n, unsigned qi, struct net_vnet_hdr *hdr, size_t flen)
{
	struct virtq *vq = &n->vd.vq[qi];
	const uint8_t *frame = n->rxbuf + NET_VNET_HDR_LEN;
	size_t need = NET_VNET_HDR_LEN + flen, done = 0;
	uint16_t used = 0;
	int r;

	r = virtq_pop(vq, &n->rx_first);
	if (r < 0)
		goto guest_error;
	if (r == 0)
		goto no_buffers;
	used = 1;
	if (n->rx_first.in_len < NET_VNET_HDR_LEN) {
		virtq_unpop(vq, used);
		goto guest_error; /* §5.1.6.3.1: every receive buffer holds at least a header */
	}
	if (!n->mrg && n->rx_first.in_len < need) {
		virtq_unpop(vq, used);
		n->stats.rx_dropped++;
		log_ratelimited(&n->vd.rl, LOG_WARN,
				"virtio-net: a %zu-byte frame does not fit a %llu-byte buffer",
				need, (unsigned long long)n->rx_first.in_len);
		return 0;
	}
	done = net_put(&n->rx_first, NET_VNET_HDR_LEN, frame,
		       (size_t)KVMM_MIN((uint64_t)flen, n->rx_first.in_len - NET_VNET_HDR_LEN));
	virtq_fill(vq, 0, n->rx_first.head, (uint32_t)(NET_VNET_HDR_LEN + done));
	while (done < flen) {
		size_t got;

		if (used == NET_RX_MAX_CHAINS) {
			virtq_unpop(vq, used);
			n->stats.rx_dropped++;
			return 0;
		}
		r = virtq_pop(vq, &n->rx_elem);
		if (r <= 0) {
			virtq_unpop(vq, used);
			if (r < 0)
				goto guest_error;
			goto no_buffers;
		}
		got = net_put(&n->rx_elem, 0, frame + done, flen - done);
		if (got == 0) {
			virtq_unpop(vq, (uint16_t)(used + 1));
			goto guest_error; /* a receive chain without writable bytes */
		}
		virtq_fill(vq, used, n->rx_elem.head, (uint32_t)got);
		used++;
		done += got;
	}
	hdr->num_buffers = used;
	net_put(&n->rx_first, 0, (const uint8_t *)hdr, NET_VNET_HDR_LEN);
	virtq_flush(vq, used);
	n->stats.rx_frames++;
	n->stats.rx_bytes += flen;
	virtio_queue_done(&n->vd, (uint16_t)qi);
	return 0;
no_buffers:
	n->stats.rx_no_buffers++;
	n->rx_waiting[qi / 2] = true;
	return -EAGAIN;
guest_error:
	net_guest_error(n, vq);
	n->stats.rx_dropped++;
	return 0;
}

/* Strip what the guest did not negotiate from a backend header. */
static void net_rx_fix_hdr(const struct virtio_net *n, struct net_vnet_hdr *h)
{
	if (!net_has(n, VIRTIO_NET_F_GUEST_CSUM))
		h->flags &= (uint8_t)~NET_HDR_F_NEEDS_CSUM;
	h->num_buffers = 0;
}

static int net_receive(void *ctx, unsigned q, const struct iovec *iov, unsigned cnt)
{
	struct virtio_net *n = ctx;
	size_t hl = n->nb->vnet_hdr ? NET_VNET_HDR_LEN : 0, total = iov_size(iov, cnt), flen;
	struct net_vnet_hdr hdr = {0};
	unsigned qi = 2 * q;
	int r = 0;

	pthread_mutex_lock(&n->vd.lock);
	if (!net_running(n) || !n->link_up || q >= n->curr_pairs || !n->vd.vq[qi].active ||
	    n->vd.vq[qi].broken) {
		n->stats.rx_dropped++;
		goto out;
	}
	if (total < hl + NET_MIN_FRAME || total - hl > NET_MAX_FRAME) {
		n->stats.rx_dropped++;
		goto out;
	}
	flen = total - hl;
	if (hl) {
		iov_to_buf(iov, cnt, 0, &hdr, NET_VNET_HDR_LEN);
		net_rx_fix_hdr(n, &hdr);
	}
	iov_to_buf(iov, cnt, hl, n->rxbuf + NET_VNET_HDR_LEN, flen);
	if (!net_rx_accept(n, n->rxbuf + NET_VNET_HDR_LEN)) {
		n->stats.rx_filtered++;
		goto out;
	}
	/* A GSO frame for a guest that cannot take it (cannot happen with a well-behaved tap,
	 * whose offloads follow the negotiation): drop. */
	if (hdr.gso_type != NET_HDR_GSO_NONE && !net_has(n, VIRTIO_NET_F_GUEST_TSO4) &&
	    !net_has(n, VIRTIO_NET_F_GUEST_TSO6) && !net_has(n, VIRTIO_NET_F_GUEST_UFO)) {
		n->stats.rx_dropped++;
		goto out;
	}
	r = net_rx_frame(n, qi, &hdr, flen);
out:
	pthread_mutex_unlock(&n->vd.lock);
	return r;
}

/* ---- transmit: guest -> backend (vCPU thread) ---- */

static uint32_t net_csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (i < len)
		sum += (uint32_t)(p[i] << 8);
	return sum;
}

/* Fill in a NEEDS_CSUM checksum (the field holds the pseudo-header sum, as Linux leaves it). */
static int net_tx_csum(uint8_t *frame, size_t flen, const struct net_vnet_hdr *h)
{
	size_t start = h->csum_start, off = h->csum_offset;
	uint32_t sum;
	uint16_t c;

	if (start > flen || off > flen - start || flen - start - off < 2)
		return -EINVAL;
	sum = net_csum_add(0, frame + start, flen - start);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	c = (uint16_t)~sum;
	frame[start + off] = (uint8_t)(c >> 8);
	frame[start + off + 1] = (uint8_t)c;
	return 0;
}

static bool net_tx_gso_ok(const struct virtio_net *n, uint8_t gso)
{
	if ((gso & NET_HDR_GSO_ECN) && !net_has(n, VIRTIO_NET_F_HOST_ECN))
		return false;
	switch (gso & (uint8_t)~NET_HDR_GSO_ECN) {
	case NET_HDR_GSO_NONE:
		return !(gso & NET_HDR_GSO_ECN);
	case NET_HDR_GSO_TCPV4:
		return net_has(n, VIRTIO_NET_F_HOST_TSO4);
	case NET_HDR_GSO_TCPV6:
		return net_has(n, VIRTIO_NET_F_HOST_TSO6);
	case NET_HDR_GSO_UDP:
		return net_has(n, VIRTIO_NET_F_HOST_UFO);
	default:
		return false;
	}
}

/* Validate and send the copied chain in txbuf (len bytes, header first). */
static int net_tx_one(struct virtio_net *n, unsigned pair, size_t len)
{
	struct net_vnet_hdr h;
	uint8_t *frame = n->txbuf + NET_VNET_HDR_LEN;
	size_t flen;
	struct iovec iov;

	if (len < NET_VNET_HDR_LEN + NET_MIN_FRAME)
		return -EINVAL;
	flen = len - NET_VNET_HDR_LEN;
	memcpy(&h, n->txbuf, sizeof(h));
	if (!net_tx_gso_ok(n, h.gso_type))
		return -EINVAL;
	if (h.gso_type == NET_HDR_GSO_NONE && flen > NET_MTU_FRAME + 4)
		return -EMSGSIZE; /* larger than the MTU (plus a VLAN tag) without GSO */
	if (h.flags & NET_HDR_F_NEEDS_CSUM) {
		if (!net_has(n, VIRTIO_NET_F_CSUM) || !n->nb->vnet_hdr) {
			if (h.gso_type != NET_HDR_GSO_NONE || net_tx_csum(frame, flen, &h))
				return -EINVAL;
			h.flags &= (uint8_t)~NET_HDR_F_NEEDS_CSUM;
		} else if (h.csum_start > flen || h.csum_offset > flen - h.csum_start ||
			   flen - h.csum_start - h.csum_offset < 2) {
			return -EINVAL;
		}
	}
	if (n->nb->vnet_hdr) {
		h.num_buffers = 0;
		memcpy(n->txbuf, &h, sizeof(h));
		iov = (struct iovec){n->txbuf, len};
	} else {
		iov = (struct iovec){frame, flen};
	}
	return n->nb->ops->send(n->nb, pair, &iov, 1);
}

static void net_tx_process(struct virtio_net *n, uint16_t qi)
{
	struct virtq *vq = &n->vd.vq[qi];
	struct virtq_elem *e = &n->tx_elem;
	bool pushed = false;
	int r;

	if (n->tx_waiting[qi / 2])
		return; /* the backend is full: tx_ready resumes this queue */
	while ((r = virtq_pop(vq, e)) == 1) {
		int err = -EMSGSIZE;

		if (e->out_len <= sizeof(n->txbuf)) {
			size_t len = iov_to_buf(e->iov, e->nout, 0, n->txbuf, (size_t)e->out_len);

			err = net_tx_one(n, qi / 2u, len);
			if (!err) {
				n->stats.tx_frames++;
				n->stats.tx_bytes += len - NET_VNET_HDR_LEN;
			}
		}
		if (err == -EAGAIN) {
			/* backpressure: leave the chain in the ring until the backend drains */
			virtq_unpop(vq, 1);
			n->tx_waiting[qi / 2] = true;
			n->stats.tx_stalls++;
			break;
		}
		if (err) {
			n->stats.tx_dropped++;
			log_ratelimited(&n->vd.rl, LOG_WARN, "virtio-net: TX frame dropped: %s",
					strerror(-err));
		}
		virtq_push(vq, e->head, 0);
		pushed = true;
	}
	if (r < 0)
		net_guest_error(n, vq);
	if (pushed)
		virtio_queue_done(&n->vd, qi);
}

/* The backend can take frames again (event-loop thread). */
static void net_tx_ready(void *ctx, unsigned q)
{
	struct virtio_net *n = ctx;

	pthread_mutex_lock(&n->vd.lock);
	if (q < n->max_pairs && n->tx_waiting[q]) {
		n->tx_waiting[q] = false;
		if (net_running(n) && n->vd.vq[2 * q + 1].active)
			net_tx_process(n, (uint16_t)(2 * q + 1));
	}
	pthread_mutex_unlock(&n->vd.lock);
}

/* ---- control queue ---- */

static uint8_t net_ctrl_mac_table(struct virtio_net *n, const uint8_t *d, size_t len)
{
	struct net_filter *f = &n->filter;
	uint32_t cnt;
	size_t off = 0;

	for (unsigned cls = 0; cls < 2; cls++) {
		uint8_t(*tab)[6] = cls ? f->multi : f->uni;
		unsigned *nt = cls ? &f->nmulti : &f->nuni;
		bool *ovf = cls ? &f->multi_overflow : &f->uni_overflow;

		if (len - off < 4)
			return VIRTIO_NET_ERR;
		memcpy(&cnt, d + off, 4);
		off += 4;
		if (cnt > (len - off) / 6)
			return VIRTIO_NET_ERR;
		*ovf = cnt > VIRTIO_NET_MAC_TABLE;
		*nt = *ovf ? 0 : cnt;
		if (!*ovf)
			memcpy(tab, d + off, (size_t)cnt * 6);
		off += (size_t)cnt * 6;
	}
	return off == len ? VIRTIO_NET_OK : VIRTIO_NET_ERR;
}

static uint8_t net_ctrl_cmd(struct virtio_net *n, uint8_t cls, uint8_t cmd, const uint8_t *d,
			    size_t len)
{
	uint16_t pairs;

	switch (cls) {
	case VIRTIO_NET_CTRL_RX:
		if (len != 1 || !net_has(n, VIRTIO_NET_F_CTRL_RX))
			return VIRTIO_NET_ERR;
		if (cmd == VIRTIO_NET_CTRL_RX_PROMISC)
			n->filter.promisc = d[0];
		else if (cmd == VIRTIO_NET_CTRL_RX_ALLMULTI)
			n->filter.allmulti = d[0];
		else
			return VIRTIO_NET_ERR;
		return VIRTIO_NET_OK;
	case VIRTIO_NET_CTRL_MAC:
		if (cmd == VIRTIO_NET_CTRL_MAC_ADDR_SET && len == 6 &&
		    net_has(n, VIRTIO_NET_F_CTRL_MAC_ADDR)) {
			memcpy(n->cfg.mac, d, 6);
			return VIRTIO_NET_OK;
		}
		if (cmd == VIRTIO_NET_CTRL_MAC_TABLE_SET && net_has(n, VIRTIO_NET_F_CTRL_RX))
			return net_ctrl_mac_table(n, d, len);
		return VIRTIO_NET_ERR;
	case VIRTIO_NET_CTRL_ANNOUNCE:
		if (cmd != VIRTIO_NET_CTRL_ANNOUNCE_ACK || !net_has(n, VIRTIO_NET_F_GUEST_ANNOUNCE))
			return VIRTIO_NET_ERR;
		n->cfg.status &= (uint16_t)~VIRTIO_NET_S_ANNOUNCE;
		return VIRTIO_NET_OK;
	case VIRTIO_NET_CTRL_MQ:
		if (cmd != VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET || len != 2 ||
		    !net_has(n, VIRTIO_NET_F_MQ))
			return VIRTIO_NET_ERR;
		memcpy(&pairs, d, 2);
		if (pairs < 1 || pairs > n->max_pairs)
			return VIRTIO_NET_ERR;
		if (n->nb->ops->set_queues && n->nb->ops->set_queues(n->nb, pairs))
			return VIRTIO_NET_ERR;
		n->curr_pairs = pairs;
		return VIRTIO_NET_OK;
	default:
		return VIRTIO_NET_ERR;
	}
}

static void net_ctrl_process(struct virtio_net *n)
{
	struct virtq *vq = &n->vd.vq[n->ctrl_q];
	struct virtq_elem *e = &n->tx_elem;
	bool pushed = false;
	int r;

	while ((r = virtq_pop(vq, e)) == 1) {
		uint8_t ack = VIRTIO_NET_ERR;

		if (e->in_len < 1) {
			virtq_unpop(vq, 1);
			r = -EINVAL;
			break;
		}
		if (e->out_len >= 2 && e->out_len <= sizeof(n->ctrlbuf)) {
			size_t len = iov_to_buf(e->iov, e->nout, 0, n->ctrlbuf, (size_t)e->out_len);

			ack =
			    net_ctrl_cmd(n, n->ctrlbuf[0], n->ctrlbuf[1], n->ctrlbuf + 2, len - 2);
		}
		n->stats.ctrl_cmds++;
		if (ack != VIRTIO_NET_OK)
			n->stats.ctrl_errors++;
		/* the ack is the last byte of the writable part (§5.1.6.5) */
		iov_from_buf(e->iov + e->nout, e->nin, (size_t)e->in_len - 1, &ack, 1);
		virtq_push(vq, e->head, 1);
		pushed = true;
	}
	if (r < 0)
		net_guest_error(n, vq);
	if (pushed)
		virtio_queue_done(&n->vd, n->ctrl_q);
}

/* ---- virtio_dev_ops ---- */

static void net_queue_notify(struct virtio_dev *vd, uint16_t q)
{
	struct virtio_net *n = to_net(vd);
	unsigned kick = NET_MAX_QUEUES;

	pthread_mutex_lock(&vd->lock);
	if (!net_running(n) || q >= vd->num_queues || !vd->vq[q].active)
		goto out;
	if (q == n->ctrl_q && net_has(n, VIRTIO_NET_F_CTRL_VQ))
		net_ctrl_process(n);
	else if (q / 2u >= n->max_pairs || (!net_has(n, VIRTIO_NET_F_MQ) && q >= 2))
		goto out; /* not a data queue in this configuration */
	else if (q & 1)
		net_tx_process(n, q);
	else if (n->rx_waiting[q / 2]) {
		n->rx_waiting[q / 2] = false;
		kick = q / 2u;
	}
out:
	pthread_mutex_unlock(&vd->lock);
	if (kick < NET_MAX_QUEUES && n->nb->ops->rx_kick)
		n->nb->ops->rx_kick(n->nb, kick);
}

static unsigned net_offloads(const struct virtio_net *n)
{
	unsigned o = 0;

	if (!net_has(n, VIRTIO_NET_F_GUEST_CSUM))
		return 0;
	o |= NET_OFFLOAD_CSUM;
	if (net_has(n, VIRTIO_NET_F_GUEST_TSO4))
		o |= NET_OFFLOAD_TSO4;
	if (net_has(n, VIRTIO_NET_F_GUEST_TSO6))
		o |= NET_OFFLOAD_TSO6;
	if (net_has(n, VIRTIO_NET_F_GUEST_ECN))
		o |= NET_OFFLOAD_ECN;
	if (net_has(n, VIRTIO_NET_F_GUEST_UFO))
		o |= NET_OFFLOAD_UFO;
	return o;
}

static void net_state_reset(struct virtio_net *n)
{
	memset(&n->filter, 0, sizeof(n->filter));
	n->filter.promisc = true; /* until the driver says otherwise, as QEMU */
	memset(n->rx_waiting, 0, sizeof(n->rx_waiting));
	memset(n->tx_waiting, 0, sizeof(n->tx_waiting));
	n->curr_pairs = 1;
	n->cfg.status &= (uint16_t)~VIRTIO_NET_S_ANNOUNCE;
}

static int net_activate(struct virtio_dev *vd)
{
	struct virtio_net *n = to_net(vd);

	net_state_reset(n);
	n->mrg = net_has(n, VIRTIO_NET_F_MRG_RXBUF);
	n->ctrl_q = net_has(n, VIRTIO_NET_F_MQ) ? (uint16_t)(2 * n->max_pairs) : 2;
	if (n->nb->ops->set_offload && n->nb->ops->set_offload(n->nb, net_offloads(n)))
		log_warn("virtio-net: the backend refused the offloads; continuing without");
	if (n->nb->ops->set_queues)
		(void)n->nb->ops->set_queues(n->nb, 1);
	/* frames held while the driver was away can go now */
	for (unsigned q = 0; q < n->max_pairs && n->nb->ops->rx_kick; q++)
		n->nb->ops->rx_kick(n->nb, q);
	return 0;
}

static void net_reset(struct virtio_dev *vd)
{
	net_state_reset(to_net(vd));
}

static void net_config_read(struct virtio_dev *vd, uint32_t off, void *buf, uint32_t len)
{
	struct virtio_net *n = to_net(vd);

	pthread_mutex_lock(&vd->lock);
	memcpy(buf, (const uint8_t *)&n->cfg + off, len); /* the transport checked the range */
	pthread_mutex_unlock(&vd->lock);
}

/* Legacy drivers write the MAC through config space; virtio 1.x makes it read-only. */
static int net_config_write(struct virtio_dev *vd, uint32_t off, const void *buf, uint32_t len)
{
	(void)vd;
	(void)off;
	(void)buf;
	(void)len;
	return -EPERM;
}

static const struct virtio_dev_ops net_ops_template = {
    .name = "net",
    .device_id = VIRTIO_ID_NET,
    .features = (1ull << VIRTIO_F_INDIRECT_DESC) | (1ull << VIRTIO_F_EVENT_IDX) |
		(1ull << VIRTIO_NET_F_MAC) | (1ull << VIRTIO_NET_F_STATUS) |
		(1ull << VIRTIO_NET_F_MRG_RXBUF) | (1ull << VIRTIO_NET_F_CTRL_VQ) |
		(1ull << VIRTIO_NET_F_CTRL_RX) | (1ull << VIRTIO_NET_F_CTRL_MAC_ADDR) |
		(1ull << VIRTIO_NET_F_GUEST_ANNOUNCE),
    .config_len = sizeof(struct virtio_net_config),
    .config_read = net_config_read,
    .config_write = net_config_write,
    .activate = net_activate,
    .queue_notify = net_queue_notify,
    .reset = net_reset,
};

/* Offloads follow what the backend can carry: only a backend with headers gets any. */
static uint64_t net_backend_features(const struct net_backend *nb, unsigned supported)
{
	uint64_t f = 0;

	if (!nb->vnet_hdr)
		return 0;
	f |= (1ull << VIRTIO_NET_F_CSUM) | (1ull << VIRTIO_NET_F_GUEST_CSUM);
	if (supported & NET_OFFLOAD_TSO4)
		f |= (1ull << VIRTIO_NET_F_HOST_TSO4) | (1ull << VIRTIO_NET_F_GUEST_TSO4);
	if (supported & NET_OFFLOAD_TSO6)
		f |= (1ull << VIRTIO_NET_F_HOST_TSO6) | (1ull << VIRTIO_NET_F_GUEST_TSO6);
	if (supported & NET_OFFLOAD_ECN)
		f |= (1ull << VIRTIO_NET_F_HOST_ECN) | (1ull << VIRTIO_NET_F_GUEST_ECN);
	if (supported & NET_OFFLOAD_UFO)
		f |= (1ull << VIRTIO_NET_F_HOST_UFO) | (1ull << VIRTIO_NET_F_GUEST_UFO);
	return f;
}

int virtio_net_create(struct virtio_net **out, const struct gmem *mem, struct net_backend *nb,
		      const struct virtio_net_opts *o)
{
	uint16_t qsize = o->queue_size ? o->queue_size : VIRTIO_NET_QUEUE_SIZE;
	struct virtio_net *n;
	int e;

	if (!nb || !nb->ops || !nb->ops->send || nb->queues < 1 || nb->queues > NET_MAX_QUEUES ||
	    qsize < 2 || !IS_POW2(qsize) || qsize > VIRTQ_MAX_SIZE || (o->mac[0] & 1))
		return -EINVAL;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->ops = net_ops_template;
	n->ops.num_queues = (uint16_t)(2 * nb->queues + 1);
	n->ops.max_queue_size = qsize;
	n->ops.features |= net_backend_features(nb, nb->offloads);
	if (nb->queues > 1)
		n->ops.features |= 1ull << VIRTIO_NET_F_MQ;
	e = virtio_dev_init(&n->vd, &n->ops, mem);
	if (e) {
		free(n);
		return e;
	}
	n->nb = nb;
	n->max_pairs = (uint16_t)nb->queues;
	memcpy(n->cfg.mac, o->mac, 6);
	n->cfg.status = VIRTIO_NET_S_LINK_UP;
	n->cfg.max_virtqueue_pairs = n->max_pairs;
	n->link_up = true;
	n->ctrl_q = 2;
	net_state_reset(n);
	net_backend_attach(nb, &(struct net_frontend){net_receive, net_tx_ready, n});
	*out = n;
	return 0;
}

void virtio_net_destroy(struct virtio_net *n)
{
	if (!n)
		return;
	net_backend_attach(n->nb, &(struct net_frontend){NULL, NULL, NULL});
	virtio_dev_fini(&n->vd);
	free(n);
}

struct virtio_dev *virtio_net_dev(struct virtio_net *n)
{
	return &n->vd;
}

static void net_config_changed(struct virtio_net *n)
{
	if ((n->vd.status & VIRTIO_STATUS_DRIVER_OK) && n->vd.tr_ops && n->vd.tr_ops->notify_config)
		n->vd.tr_ops->notify_config(n->vd.tr);
}

void virtio_net_set_link(struct virtio_net *n, bool up)
{
	pthread_mutex_lock(&n->vd.lock);
	if (n->link_up != up) {
		n->link_up = up;
		if (up)
			n->cfg.status |= VIRTIO_NET_S_LINK_UP;
		else
			n->cfg.status &= (uint16_t)~VIRTIO_NET_S_LINK_UP;
		if (net_has(n, VIRTIO_NET_F_STATUS))
			net_config_changed(n);
	}
	pthread_mutex_unlock(&n->vd.lock);
}

void virtio_net_announce(struct virtio_net *n)
{
	pthread_mutex_lock(&n->vd.lock);
	if (net_running(n) && net_has(n, VIRTIO_NET_F_GUEST_ANNOUNCE) &&
	    net_has(n, VIRTIO_NET_F_CTRL_VQ)) {
		n->cfg.status |= VIRTIO_NET_S_ANNOUNCE;
		net_config_changed(n);
	}
	pthread_mutex_unlock(&n->vd.lock);
}

void virtio_net_get_stats(struct virtio_net *n, struct virtio_net_stats *out)
{
	pthread_mutex_lock(&n->vd.lock);
	*out = n->stats;
	pthread_mutex_unlock(&n->vd.lock);
}

/* ---- snapshot ---- */

_Static_assert(NET_STATE_QUEUES == NET_MAX_QUEUES, "virtio_net_state queue count");

int virtio_net_save(struct virtio_net *n, struct virtio_net_state *s)
{
	const struct net_filter *f = &n->filter;
	int e = 0;

	memset(s, 0, sizeof(*s));
	pthread_mutex_lock(&n->vd.lock);
	for (unsigned q = 0; q < NET_MAX_QUEUES; q++) {
		if (n->tx_waiting[q])
			e = -EBUSY;
		s->rx_waiting[q] = n->rx_waiting[q];
	}
	memcpy(s->mac, n->cfg.mac, 6);
	s->status = n->cfg.status;
	s->max_pairs = n->max_pairs;
	s->curr_pairs = n->curr_pairs;
	s->promisc = f->promisc;
	s->allmulti = f->allmulti;
	s->uni_overflow = f->uni_overflow;
	s->multi_overflow = f->multi_overflow;
	s->link_up = n->link_up;
	s->nuni = f->nuni;
	s->nmulti = f->nmulti;
	memcpy(s->uni, f->uni, sizeof(s->uni));
	memcpy(s->multi, f->multi, sizeof(s->multi));
	pthread_mutex_unlock(&n->vd.lock);
	return e;
}

static int net_load_locked(struct virtio_net *n, const struct virtio_net_state *s)
{
	struct net_filter *f = &n->filter;
	uint16_t known = VIRTIO_NET_S_LINK_UP | VIRTIO_NET_S_ANNOUNCE;

	if (s->max_pairs != n->max_pairs || s->curr_pairs < 1 || s->curr_pairs > n->max_pairs ||
	    (s->curr_pairs > 1 && !net_has(n, VIRTIO_NET_F_MQ)) || s->nuni > VIRTIO_NET_MAC_TABLE ||
	    s->nmulti > VIRTIO_NET_MAC_TABLE || (s->status & ~known) || s->link_up > 1 ||
	    !!(s->status & VIRTIO_NET_S_LINK_UP) != s->link_up || s->promisc > 1 ||
	    s->allmulti > 1 || s->uni_overflow > 1 || s->multi_overflow > 1)
		return -EINVAL;
	memcpy(n->cfg.mac, s->mac, 6);
	n->cfg.status = s->status;
	n->link_up = s->link_up;
	n->curr_pairs = s->curr_pairs;
	f->promisc = s->promisc;
	f->allmulti = s->allmulti;
	f->uni_overflow = s->uni_overflow;
	f->multi_overflow = s->multi_overflow;
	f->nuni = s->nuni;
	f->nmulti = s->nmulti;
	memcpy(f->uni, s->uni, sizeof(f->uni));
	memcpy(f->multi, s->multi, sizeof(f->multi));
	/* The reopened backend holds no frame back: nothing to kick, nothing to wait for. */
	memset(n->rx_waiting, 0, sizeof(n->rx_waiting));
	memset(n->tx_waiting, 0, sizeof(n->tx_waiting));
	if (!net_running(n))
		return 0;
	/* What net_activate derived from the negotiation, without resetting the filter. */
	n->mrg = net_has(n, VIRTIO_NET_F_MRG_RXBUF);
	n->ctrl_q = net_has(n, VIRTIO_NET_F_MQ) ? (uint16_t)(2 * n->max_pairs) : 2;
	if (n->nb->ops->set_offload && n->nb->ops->set_offload(n->nb, net_offloads(n)))
		log_warn("virtio-net: the backend refused the offloads; continuing without");
	if (n->nb->ops->set_queues && n->nb->ops->set_queues(n->nb, n->curr_pairs))
		return -EIO;
	return 0;
}

int virtio_net_load(struct virtio_net *n, const struct virtio_net_state *s)
{
	int e;

	pthread_mutex_lock(&n->vd.lock);
	e = net_load_locked(n, s);
	pthread_mutex_unlock(&n->vd.lock);
	return e;
}
