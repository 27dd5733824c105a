// SPDX-License-Identifier: Apache-2.0
// network collector: record validation and the names of types, states and directions.
#include "network_decode.h"

#include <arpa/inet.h>
#include <errno.h>
#include <sys/socket.h>

static const char *const state_names[] = {
	[1] = "ESTABLISHED",	 [2] = "SYN_SENT",  [3] = "SYN_RECV", [4] = "FIN_WAIT1",
	[5] = "FIN_WAIT2",	 [6] = "TIME_WAIT", [7] = "CLOSE",    [8] = "CLOSE_WAIT",
	[9] = "LAST_ACK",	 [10] = "LISTEN",   [11] = "CLOSING", [12] = "NEW_SYN_RECV",
	[13] = "BOUND_INACTIVE",
};

const char *network_state_name(unsigned int state)
{
	if (state >= sizeof(state_names) / sizeof(state_names[0]))
		return NULL;
	return state_names[state];
}

const char *network_event_type(uint16_t rec_type)
{
	switch (rec_type) {
	case NETWORK_REC_CONNECT:
		return "tcp.connect";
	case NETWORK_REC_ACCEPT:
		return "tcp.accept";
	case NETWORK_REC_CLOSE:
		return "tcp.close";
	case NETWORK_REC_RESET_SENT:
	case NETWORK_REC_RESET_RECV:
		return "tcp.reset";
	case NETWORK_REC_RETRANSMIT:
		return "tcp.retransmit";
	case NETWORK_REC_STATE:
		return "tcp.state";
	}
	return NULL;
}

const char *network_direction_name(unsigned int dir)
{
	switch (dir) {
	case NETWORK_DIR_OUTBOUND:
		return "outbound";
	case NETWORK_DIR_INBOUND:
		return "inbound";
	}
	return NULL;
}

int network_rec_check(const void *data, size_t size)
{
	const struct network_rec *r = data;
	if (!data || size != sizeof(*r))
		return -EBADMSG;
	if (r->hdr.size != size || r->hdr.version != NETWORK_REC_VERSION ||
	    !network_event_type(r->hdr.type))
		return -EBADMSG;
	if (r->family != AF_INET && r->family != AF_INET6)
		return -EBADMSG;
	if (r->direction > NETWORK_DIR_INBOUND)
		return -EBADMSG;
	/* A state of 0 is allowed only where the kernel had no socket to read it from. */
	if (!network_state_name(r->state) && !(r->state == 0 && (r->flags & NETWORK_F_NO_SOCK)))
		return -EBADMSG;
	if (r->hdr.type == NETWORK_REC_STATE && !network_state_name(r->old_state))
		return -EBADMSG;
	return 0;
}

int network_format_addr(uint16_t family, const uint8_t addr[16], char *buf, size_t len)
{
	if (!addr || !buf || len < NETWORK_ADDR_STRLEN || (family != AF_INET && family != AF_INET6))
		return -EINVAL;
	if (!inet_ntop(family, addr, buf, (socklen_t)len))
		return -EINVAL;
	return 0;
}
