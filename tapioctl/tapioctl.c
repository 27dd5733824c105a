// SPDX-License-Identifier: Apache-2.0
// tapioctl: the operator's view of a running tapiod over its control socket (status, restart,
// live events, privilege audit) and offline config validation.
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "exitcodes.h"
#include "frame.h"
#include "pbjson.h"
#include "tapio/v1/control.pb-c.h"

#define DEFAULT_SOCKET "/run/tapio/tapiod.sock"

static const char *socket_path = DEFAULT_SOCKET;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tapioctl [--socket PATH] COMMAND\n"
		"  status                       collectors: state, pid, uptime, restarts, rates,\n"
		"                               drops per hop, degraded reason, RSS\n"
		"  restart NAME                 restart one collector (also a FAILED one)\n"
		"  events [--collector NAME] [--type TYPE] [--follow]\n"
		"                               live events as JSON lines (TYPE: exact, or a\n"
		"                               prefix ending in '.', e.g. process.)\n"
		"  audit [--json]               observed privileges of every worker, and a verdict\n"
		"  check-config FILE            validate a configuration file (no tapiod needed)\n"
		"  --socket PATH                control socket (default %s)\n",
		DEFAULT_SOCKET);
}

static int connect_socket(void)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(socket_path) >= sizeof(sa.sun_path)) {
		close(fd);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, socket_path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

static int send_request(int fd, const Tapio__V1__ControlRequest *rq)
{
	size_t len = tapio__v1__control_request__get_packed_size(rq);
	uint8_t buf[FRAME_HDR + 4096];
	if (len > 4096)
		return -EMSGSIZE;
	frame_put_header(buf, (uint32_t)len);
	tapio__v1__control_request__pack(rq, buf + FRAME_HDR);
	return frame_write_all(fd, buf, FRAME_HDR + len);
}

/* Read the next response; NULL at end of stream or on error (message printed). */
static Tapio__V1__ControlResponse *read_response(int fd, struct frame_reader *r)
{
	for (;;) {
		const uint8_t *p;
		size_t len;
		int k = frame_reader_next(r, &p, &len);
		if (k < 0) {
			fprintf(stderr, "tapioctl: bad frame from tapiod\n");
			return NULL;
		}
		if (k > 0) {
			Tapio__V1__ControlResponse *resp =
				tapio__v1__control_response__unpack(NULL, len, p);
			if (!resp)
				fprintf(stderr, "tapioctl: undecodable response from tapiod\n");
			return resp;
		}
		uint8_t *dst;
		size_t room;
		frame_reader_space(r, &dst, &room);
		ssize_t n = read(fd, dst, room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return NULL;
		frame_reader_commit(r, (size_t)n);
	}
}

/* One request, one response. Exit code on failure. */
static int call(const Tapio__V1__ControlRequest *rq, Tapio__V1__ControlResponse **ret,
		int *ret_fd, struct frame_reader *reader)
{
	int fd = connect_socket();
	if (fd < 0) {
		fprintf(stderr, "tapioctl: cannot reach tapiod at %s: %s\n", socket_path,
			strerror(-fd));
		return EXIT_TRANSIENT;
	}
	if (frame_reader_init(reader) < 0 || send_request(fd, rq) < 0) {
		fprintf(stderr, "tapioctl: cannot send the request: %s\n", strerror(errno));
		close(fd);
		return EXIT_TRANSIENT;
	}
	if (ret_fd) {
		*ret_fd = fd;
		return 0;
	}
	Tapio__V1__ControlResponse *resp = read_response(fd, reader);
	close(fd);
	if (!resp) {
		fprintf(stderr, "tapioctl: no answer from tapiod (refused? only root, tapiod's user "
				"and the control group may connect)\n");
		frame_reader_release(reader);
		return EXIT_TRANSIENT;
	}
	if (resp->error) {
		fprintf(stderr, "tapioctl: %s\n", resp->error);
		tapio__v1__control_response__free_unpacked(resp, NULL);
		frame_reader_release(reader);
		return EXIT_CONFIG;
	}
	*ret = resp;
	frame_reader_release(reader);
	return 0;
}

static void fmt_duration(char *buf, size_t len, uint64_t ms)
{
	uint64_t s = ms / 1000;
	if (s >= 86400)
		snprintf(buf, len, "%llud%lluh", (unsigned long long)(s / 86400),
			 (unsigned long long)(s % 86400 / 3600));
	else if (s >= 3600)
		snprintf(buf, len, "%lluh%llum", (unsigned long long)(s / 3600),
			 (unsigned long long)(s % 3600 / 60));
	else if (s >= 60)
		snprintf(buf, len, "%llum%llus", (unsigned long long)(s / 60),
			 (unsigned long long)(s % 60));
	else
		snprintf(buf, len, "%llu.%llus", (unsigned long long)s,
			 (unsigned long long)(ms % 1000 / 100));
}

static int cmd_status(void)
{
	Tapio__V1__StatusRequest sr = TAPIO__V1__STATUS_REQUEST__INIT;
	Tapio__V1__ControlRequest rq = TAPIO__V1__CONTROL_REQUEST__INIT;
	rq.request_case = TAPIO__V1__CONTROL_REQUEST__REQUEST_STATUS;
	rq.status = &sr;
	Tapio__V1__ControlResponse *resp;
	struct frame_reader reader;
	int r = call(&rq, &resp, NULL, &reader);
	if (r)
		return r;
	const Tapio__V1__StatusResponse *s = resp->status;
	if (!s) {
		fprintf(stderr, "tapioctl: unexpected answer\n");
		tapio__v1__control_response__free_unpacked(resp, NULL);
		return EXIT_TRANSIENT;
	}
	char up[32];
	fmt_duration(up, sizeof(up), s->uptime_ms);
	printf("node %s  run %s  up %s  stdout: %llu written, %llu queue drops, %llu write "
	       "failures  subscribers: %llu dropped\n",
	       s->node ? s->node : "?", s->run_id ? s->run_id : "?", up,
	       (unsigned long long)s->sink_written, (unsigned long long)s->sink_drops,
	       (unsigned long long)s->sink_write_errors, (unsigned long long)s->subscriber_drops);
	for (size_t i = 0; i < s->n_sinks; i++) {
		const Tapio__V1__SinkStatus *k = s->sinks[i];
		printf("  sink %-12s %llu written, %llu dropped, %llu write failures, %llu "
		       "rotations\n",
		       k->name ? k->name : "?", (unsigned long long)k->written,
		       (unsigned long long)k->dropped, (unsigned long long)k->write_errors,
		       (unsigned long long)k->rotations);
	}
	printf("control: %llu refused peers, %llu idle timeouts, %llu busy  subscribers: %llu cut "
	       "off, %llu bytes held\n",
	       (unsigned long long)s->control_refused, (unsigned long long)s->control_idle_timeouts,
	       (unsigned long long)s->control_busy, (unsigned long long)s->subscribers_cut,
	       (unsigned long long)s->subscribers_held);
	printf("drops per hop: KERNEL = ring buffer full, W-QUEUE = worker socket queue full, "
	       "SEQ-GAP = missing by sequence number, S-QUEUE = tapiod's sink queue full\n");
	printf("FOREIGN = stop signals from another process / other processes under the worker's "
	       "uid\n");
	printf("%-10s %-9s %7s %8s %8s %9s %10s %8s %8s %8s %8s %8s %8s %6s %9s  %s\n", "COLLECTOR",
	       "STATE", "PID", "UPTIME", "RESTARTS", "EVENTS/S", "EVENTS", "KERNEL", "W-QUEUE",
	       "SEQ-GAP", "S-QUEUE", "DECODE", "RSS-KIB", "UID", "FOREIGN",
	       "LAST EXIT / DEGRADED / CRASH LOOP");
	for (size_t i = 0; i < s->n_collectors; i++) {
		const Tapio__V1__CollectorStatus *c = s->collectors[i];
		char cu[32] = "-";
		if (c->has_uptime_ms)
			fmt_duration(cu, sizeof(cu), c->uptime_ms);
		char pid[16] = "-";
		if (c->pid)
			snprintf(pid, sizeof(pid), "%u", c->pid);
		char rss[24] = "-";
		if (c->has_rss_kib)
			snprintf(rss, sizeof(rss), "%llu", (unsigned long long)c->rss_kib);
		const char *note = c->degraded_reason ? c->degraded_reason
				   : c->looping	      ? c->looping
						      : (c->last_exit ? c->last_exit : "-");
		char uid[16] = "-", foreign[32];
		if (c->has_worker_uid)
			snprintf(uid, sizeof(uid), "%u", c->worker_uid);
		snprintf(foreign, sizeof(foreign), "%llu/%llu",
			 (unsigned long long)c->foreign_signals,
			 (unsigned long long)c->foreign_processes);
		printf("%-10s %-9s %7s %8s %8u %9.0f %10llu %8llu %8llu %8llu %8llu %8llu %8s %6s "
		       "%9s  "
		       "%s\n",
		       c->name ? c->name : "?", c->state ? c->state : "?", pid, cu, c->restarts,
		       c->events_per_s, (unsigned long long)c->events,
		       (unsigned long long)c->kernel_drops,
		       (unsigned long long)c->worker_queue_drops, (unsigned long long)c->seq_gaps,
		       (unsigned long long)c->supervisor_queue_drops,
		       (unsigned long long)c->decode_errors, rss, uid, foreign, note);
	}
	for (size_t i = 0; i < s->n_collectors; i++) {
		const Tapio__V1__CollectorStatus *c = s->collectors[i];
		if (c->hooks && c->hooks[0])
			printf("  %s hooks: %s\n", c->name ? c->name : "?", c->hooks);
	}
	for (size_t i = 0; i < s->n_collectors; i++) {
		const Tapio__V1__CollectorStatus *c = s->collectors[i];
		if (!c->n_counters)
			continue;
		printf("  %s:", c->name ? c->name : "?");
		for (size_t k = 0; k < c->n_counters; k++)
			printf("%s %s %llu", k ? "," : "",
			       c->counters[k]->name ? c->counters[k]->name : "?",
			       (unsigned long long)c->counters[k]->value);
		printf("\n");
	}
	/* Worker replacements: how long each collector went without a worker, and what the
	 * kernel objects kept across restarts (the fd store) saved. */
	for (size_t i = 0; i < s->n_collectors; i++) {
		const Tapio__V1__CollectorStatus *c = s->collectors[i];
		if (!c->gaps && !c->fd_store_objects && !c->resumed)
			continue;
		printf("  %s: %llu replacement(s), %llu ms without a worker; fd store: %u objects "
		       "kept, %llu resumed, %llu records read from the backlog, %llu lost to "
		       "overflow meanwhile, %llu dropped\n",
		       c->name ? c->name : "?", (unsigned long long)c->gaps,
		       (unsigned long long)c->gap_ms, c->fd_store_objects,
		       (unsigned long long)c->resumed, (unsigned long long)c->backlog_records,
		       (unsigned long long)c->unattended_drops,
		       (unsigned long long)c->fd_store_drops);
	}
	/* Running workers whose source went away and came back (Status frames). */
	for (size_t i = 0; i < s->n_collectors; i++) {
		const Tapio__V1__CollectorStatus *c = s->collectors[i];
		if (!c->degraded_transitions && !c->resume_token_bytes)
			continue;
		printf("  %s: %llu time(s) DEGRADED while running (%llu status frames); resume "
		       "token kept for the next worker: %u bytes\n",
		       c->name ? c->name : "?", (unsigned long long)c->degraded_transitions,
		       (unsigned long long)c->status_frames, c->resume_token_bytes);
	}
	tapio__v1__control_response__free_unpacked(resp, NULL);
	return EXIT_CLEAN;
}

static int cmd_restart(const char *name)
{
	Tapio__V1__RestartRequest rr = TAPIO__V1__RESTART_REQUEST__INIT;
	rr.collector = (char *)name;
	Tapio__V1__ControlRequest rq = TAPIO__V1__CONTROL_REQUEST__INIT;
	rq.request_case = TAPIO__V1__CONTROL_REQUEST__REQUEST_RESTART;
	rq.restart = &rr;
	Tapio__V1__ControlResponse *resp;
	struct frame_reader reader;
	int r = call(&rq, &resp, NULL, &reader);
	if (r)
		return r;
	printf("restarting %s\n", resp->restarted ? resp->restarted : name);
	tapio__v1__control_response__free_unpacked(resp, NULL);
	return EXIT_CLEAN;
}

static int cmd_events(const char *collector, const char *type)
{
	Tapio__V1__EventsRequest er = TAPIO__V1__EVENTS_REQUEST__INIT;
	er.collector = (char *)collector;
	er.type = (char *)type;
	Tapio__V1__ControlRequest rq = TAPIO__V1__CONTROL_REQUEST__INIT;
	rq.request_case = TAPIO__V1__CONTROL_REQUEST__REQUEST_EVENTS;
	rq.events = &er;
	int fd;
	struct frame_reader reader;
	int r = call(&rq, NULL, &fd, &reader);
	if (r)
		return r;
	setvbuf(stdout, NULL, _IOLBF, 0);
	Tapio__V1__ControlResponse *resp;
	while ((resp = read_response(fd, &reader))) {
		if (resp->error) {
			fprintf(stderr, "tapioctl: %s\n", resp->error);
			tapio__v1__control_response__free_unpacked(resp, NULL);
			break;
		}
		if (resp->event_json && fprintf(stdout, "%s\n", resp->event_json) < 0) {
			tapio__v1__control_response__free_unpacked(resp, NULL);
			break; /* stdout closed (e.g. | head) */
		}
		tapio__v1__control_response__free_unpacked(resp, NULL);
	}
	close(fd);
	frame_reader_release(&reader);
	return EXIT_CLEAN;
}

static const char *yes_no(uint32_t v)
{
	return v ? "1" : "0";
}

static int cmd_audit(bool json)
{
	Tapio__V1__AuditRequest ar = TAPIO__V1__AUDIT_REQUEST__INIT;
	Tapio__V1__ControlRequest rq = TAPIO__V1__CONTROL_REQUEST__INIT;
	rq.request_case = TAPIO__V1__CONTROL_REQUEST__REQUEST_AUDIT;
	rq.audit = &ar;
	Tapio__V1__ControlResponse *resp;
	struct frame_reader reader;
	int r = call(&rq, &resp, NULL, &reader);
	if (r)
		return r;
	const Tapio__V1__AuditResponse *a = resp->audit;
	if (!a) {
		tapio__v1__control_response__free_unpacked(resp, NULL);
		return EXIT_TRANSIENT;
	}
	int code = EXIT_CLEAN;
	for (size_t i = 0; i < a->n_entries; i++)
		if (a->entries[i]->verdict && strcmp(a->entries[i]->verdict, "mismatch") == 0)
			code = 1;
	if (json) {
		struct strbuf sb = STRBUF_INIT;
		if (pbjson_encode(&a->base, &sb) == 0)
			printf("%s\n", sb.data);
		strbuf_release(&sb);
		tapio__v1__control_response__free_unpacked(resp, NULL);
		return code;
	}
	printf("supervisor: CapEff %016llx CapBnd %016llx\n",
	       (unsigned long long)a->supervisor_cap_eff, (unsigned long long)a->supervisor_cap_bnd);
	printf("%-10s %7s %6s %6s %16s %16s %16s %16s %4s %7s %8s %-12s %s\n", "COLLECTOR", "PID",
	       "UID", "GID", "CapEff", "CapPrm", "CapBnd", "CapAmb", "NNP", "Seccomp", "Dumpable",
	       "Landlock", "VERDICT");
	for (size_t i = 0; i < a->n_entries; i++) {
		const Tapio__V1__AuditEntry *e = a->entries[i];
		const Tapio__V1__PrivilegeReport *o = e->observed;
		if (!o) {
			printf("%-10s %7s %6s %6s %16s %16s %16s %16s %4s %7s %8s %-12s %s\n",
			       e->collector, "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-",
			       e->verdict ? e->verdict : "?");
			continue;
		}
		char dump[8] = "?";
		if (o->has_dumpable)
			snprintf(dump, sizeof(dump), "%u", o->dumpable);
		printf("%-10s %7u %6u %6u %016llx %016llx %016llx %016llx %4s %7u %8s %-12s %s\n",
		       e->collector, e->pid, o->uid, o->gid, (unsigned long long)o->cap_eff,
		       (unsigned long long)o->cap_prm, (unsigned long long)o->cap_bnd,
		       (unsigned long long)o->cap_amb, yes_no(o->no_new_privs), o->seccomp, dump,
		       o->landlock ? o->landlock : "?", e->verdict ? e->verdict : "?");
		for (size_t k = 0; k < e->n_problems; k++)
			printf("    problem: %s\n", e->problems[k]);
	}
	tapio__v1__control_response__free_unpacked(resp, NULL);
	return code;
}

static int cmd_check_config(const char *path)
{
	struct config *cfg = NULL;
	char *err = NULL;
	if (config_load_file(path, &cfg, &err) < 0) {
		fprintf(stderr, "%s\n", err ? err : "invalid configuration");
		free(err);
		return EXIT_CONFIG;
	}
	printf("%s: valid\n", path);
	config_free(cfg);
	return EXIT_CLEAN;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "collector", required_argument, NULL, 'c' },
		{ "type", required_argument, NULL, 't' },
		{ "follow", no_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *collector = NULL, *type = NULL;
	bool json = false;
	int opt;
	signal(SIGPIPE, SIG_IGN);
	while ((opt = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			socket_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return EXIT_CLEAN;
		default:
			usage(stderr);
			return EXIT_CONFIG;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_CONFIG;
	}
	const char *cmd = argv[optind++];
	/* Options after the command. */
	while ((opt = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			socket_path = optarg;
			break;
		case 'c':
			collector = optarg;
			break;
		case 't':
			type = optarg;
			break;
		case 'f':
			break; /* events always follow: tapiod keeps no history */
		case 'j':
			json = true;
			break;
		default:
			usage(stderr);
			return EXIT_CONFIG;
		}
	}
	int rest = argc - optind;
	if (strcmp(cmd, "status") == 0 && rest == 0)
		return cmd_status();
	if (strcmp(cmd, "restart") == 0 && rest == 1)
		return cmd_restart(argv[optind]);
	if (strcmp(cmd, "events") == 0 && rest == 0)
		return cmd_events(collector, type);
	if (strcmp(cmd, "audit") == 0 && rest == 0)
		return cmd_audit(json);
	if (strcmp(cmd, "check-config") == 0 && rest == 1)
		return cmd_check_config(argv[optind]);
	usage(stderr);
	return EXIT_CONFIG;
}
