// SPDX-License-Identifier: Apache-2.0
// The file sink: binary records that decode as tapio.v1.Event, and rotation by size.
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "frame.h"
#include "harness.h"
#include "tapio/v1/event.pb-c.h"

static char *slurp(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	char chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		fwrite(chunk, 1, n, m);
	fclose(f);
	fclose(m);
	*ret_len = len;
	return buf;
}

/* The next record of a binary sink file: 1 and the decoded event (free with
 * tapio__v1__event__free_unpacked), 0 at the end; a bad length or undecodable record fails
 * the test. */
static int next_record(const char *buf, size_t len, size_t *off, Tapio__V1__Event **ret)
{
	if (*off + FRAME_HDR > len) {
		cr_assert_eq(*off, len, "the file ends on a record boundary");
		return 0;
	}
	const uint8_t *p = (const uint8_t *)buf + *off;
	uint32_t l = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	cr_assert(l > 0 && *off + FRAME_HDR + l <= len, "record at %zu: bad length %u", *off, l);
	*ret = tapio__v1__event__unpack(NULL, l, p + FRAME_HDR);
	cr_assert_not_null(*ret, "record at %zu does not decode", *off);
	*off += FRAME_HDR + l;
	return 1;
}

Test(file_sink, binary_records_decode_as_events, .timeout = 60)
{
	harness_require_root();
	struct tapiod t;
	char sinks[600];
	/* the harness's temp dir is created by tapiod_start: use a fixed name inside /tmp */
	char path[256];
	snprintf(path, sizeof(path), "/tmp/tapio-filesink-%d.bin", (int)getpid());
	unlink(path);
	snprintf(sinks, sizeof(sinks),
		 "  stdout:\n    enabled: false\n  file:\n    enabled: true\n    path: %s\n"
		 "    format: binary\n",
		 path);
	cr_assert_eq(tapiod_start_sinks(&t, sinks, "  process:\n    enabled: true\n"), 0);
	char marker[64];
	snprintf(marker, sizeof(marker), "tapio-file-%d", (int)getpid());
	bool found = false;
	cr_assert(tapiod_wait_state(&t, "process", "READY", 15000), "process collector not READY");
	/* attached: exec the marker a few times; tapiod flushes the file when it stops */
	for (int i = 0; i < 5; i++) {
		pid_t p = fork();
		if (p == 0) {
			int null = open("/dev/null", O_WRONLY);
			dup2(null, 1);
			execl("/bin/echo", "echo", marker, (char *)NULL);
			_exit(127);
		}
		waitpid(p, NULL, 0);
		usleep(100000);
	}
	usleep(500000);
	int st = tapiod_stop(&t, 10000);
	cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	size_t len;
	char *buf = slurp(path, &len);
	cr_assert_not_null(buf, "no file %s", path);
	size_t off = 0, n = 0;
	Tapio__V1__Event *ev;
	while (next_record(buf, len, &off, &ev)) {
		cr_assert_str_eq(ev->collector, "process");
		cr_assert_str_eq(ev->node, "it-node");
		cr_assert(ev->has_seq && ev->id && ev->time);
		if (ev->payload_case == TAPIO__V1__EVENT__PAYLOAD_PROCESS_EXEC &&
		    ev->process_exec->n_argv == 2 && strcmp(ev->process_exec->argv[1], marker) == 0)
			found = true;
		tapio__v1__event__free_unpacked(ev, NULL);
		n++;
	}
	cr_assert(found, "the marker exec is in the binary file (%zu records)", n);
	/* counted in records: every event the sink counted as written is in the file, and the
	 * collector's events all reached it (nothing dropped, nothing lost at shutdown) */
	char *log = tapiod_log(&t);
	const char *l = strstr(log, "file sink: ");
	unsigned long long written = 0, dropped = 1;
	cr_assert(l && sscanf(l, "file sink: %llu events written, %llu dropped", &written,
			      &dropped) == 2,
		  "no final file sink line; log:\n%s", log);
	cr_assert_eq(written, n, "the sink says %llu written, the file holds %zu records", written,
		     n);
	cr_assert_eq(dropped, 0);
	cr_assert_eq((unsigned long long)tapiod_last_stat(&t, "process", " events="), n,
		     "tapiod received %lld process events, the file holds %zu",
		     tapiod_last_stat(&t, "process", " events="), n);
	free(log);
	free(buf);
	unlink(path);
	tapiod_cleanup(&t);
}

Test(file_sink, rotates_by_size_and_keeps_n, .timeout = 60)
{
	harness_require_root();
	struct tapiod t;
	char path[256], sinks[600], p1[300], p2[300], p3[300];
	snprintf(path, sizeof(path), "/tmp/tapio-rotate-%d.json", (int)getpid());
	snprintf(p1, sizeof(p1), "%s.1", path);
	snprintf(p2, sizeof(p2), "%s.2", path);
	snprintf(p3, sizeof(p3), "%s.3", path);
	snprintf(sinks, sizeof(sinks),
		 "  stdout:\n    enabled: false\n  file:\n    enabled: true\n    path: %s\n"
		 "    max_mib: 1\n    keep: 2\n",
		 path);
	cr_assert_eq(tapiod_start_sinks(&t, sinks,
					"  process:\n    enabled: false\n"
					"  testing:\n    enabled: true\n    mode: flood\n"),
		     0);
	struct stat st;
	unlink(path);
	unlink(p1);
	unlink(p2);
	unlink(p3);
	for (int i = 0; i < 100 && stat(p2, &st) != 0; i++)
		usleep(100000);
	int s = tapiod_stop(&t, 15000);
	cr_assert(s >= 0 && WIFEXITED(s) && WEXITSTATUS(s) == 0);
	cr_assert_eq(stat(p1, &st), 0, "%s exists", p1);

	cr_assert_leq(st.st_size, 1 << 20, "rotated at max_mib (%lld bytes)", (long long)st.st_size);
	cr_assert_gt(st.st_size, (1 << 20) - 4096, "filled up to max_mib (%lld bytes)", (long long)st.st_size);
	cr_assert_eq(stat(p2, &st), 0, "%s exists", p2);
	cr_assert_neq(stat(p3, &st), 0, "keep: 2 keeps no third file");
	/* every line of a rotated file is a complete JSON object */
	size_t len;
	char *buf = slurp(p1, &len);
	cr_assert(len > 0 && buf[len - 1] == '\n' && buf[0] == '{');
	free(buf);
	unlink(path);
	unlink(p1);
	unlink(p2);
	tapiod_cleanup(&t);
}

/* An id like tapiod's: 16 hex digits of the run, '-', the event number. */
static bool tapiod_id(const char *id)
{
	size_t i = 0;
	for (; id && i < 16; i++)
		if (!strchr("0123456789abcdef", id[i]) || !id[i])
			return false;
	if (!id || id[16] != '-' || !id[17])
		return false;
	for (i = 17; id[i]; i++)
		if (id[i] < '0' || id[i] > '9')
			return false;
	return true;
}

static bool is_forged_kind(json_object *ev, void *arg)
{
	return jstr(ev, "type") && strcmp(jstr(ev, "type"), "testing.flood") == 0;
}

/* A worker that sets id, collector and node itself: both sinks carry tapiod's values, and the
 * binary records, which reuse the worker's bytes, keep no trace of the forged ones. */
Test(file_sink, supervisor_fields_cannot_be_forged, .timeout = 60)
{
	harness_require_root();
	struct tapiod t;
	char path[256], sinks[600];
	snprintf(path, sizeof(path), "/tmp/tapio-forge-%d.bin", (int)getpid());
	unlink(path);
	snprintf(sinks, sizeof(sinks),
		 "  file:\n    enabled: true\n    path: %s\n    format: binary\n", path);
	cr_assert_eq(tapiod_start_sinks(&t, sinks,
					"  process:\n    enabled: false\n"
					"  testing:\n    enabled: true\n    mode: forge\n"),
		     0);
	for (int i = 0; i < 100 && tapiod_count(&t, is_forged_kind, NULL) < 8; i++)
		tapiod_pump(&t, 100);
	cr_assert_eq(tapiod_count(&t, is_forged_kind, NULL), 8, "the 8 events on stdout");
	json_object *ev = tapiod_wait(&t, is_forged_kind, NULL, 1000);
	cr_assert_not_null(ev);
	cr_assert(tapiod_id(jstr(ev, "id")), "stdout id %s", jstr(ev, "id"));
	cr_assert_str_eq(jstr(ev, "collector"), "testing");
	cr_assert_str_eq(jstr(ev, "node"), "it-node");
	int st = tapiod_stop(&t, 10000);
	cr_assert(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);

	size_t len;
	char *buf = slurp(path, &len);
	cr_assert_not_null(buf, "no file %s", path);
	cr_assert_null(memmem(buf, len, "forged", 6), "a forged value reached the binary sink");
	size_t off = 0, n = 0;
	Tapio__V1__Event *e;
	while (next_record(buf, len, &off, &e)) {
		cr_assert(tapiod_id(e->id), "record %zu id %s", n, e->id);
		cr_assert_str_eq(e->collector, "testing");
		cr_assert_str_eq(e->node, "it-node");
		cr_assert_str_eq(e->type, "testing.flood");
		cr_assert_eq(e->seq, n + 1, "the worker's own fields are kept");
		cr_assert(e->time && e->time->seconds > 0);
		tapio__v1__event__free_unpacked(e, NULL);
		n++;
	}
	cr_assert_eq(n, 8, "8 records in the binary file (%zu)", n);
	free(buf);
	unlink(path);
	tapiod_cleanup(&t);
}

/* A sink that never blocks (a file) loses nothing to its queue, however small the queue and
 * however many frames one wakeup brings: the queue is written out as it fills. */
Test(file_sink, small_queue_on_a_file_drops_nothing, .timeout = 60)
{
	harness_require_root();
	struct tapiod t;
	char path[256], sinks[600];
	snprintf(path, sizeof(path), "/tmp/tapio-smallq-%d.json", (int)getpid());
	unlink(path);
	snprintf(sinks, sizeof(sinks),
		 "  stdout:\n    enabled: false\n  file:\n    enabled: true\n    path: %s\n"
		 "    queue_max_kib: 64\n    max_mib: 4096\n",
		 path);
	cr_assert_eq(tapiod_start_sinks(&t, sinks,
					"  process:\n    enabled: false\n"
					"  testing:\n    enabled: true\n    mode: flood\n"),
		     0);
	struct stat st;
	for (int i = 0; i < 100 && (stat(path, &st) != 0 || st.st_size < (64 << 20)); i++)
		usleep(50000);
	int s = tapiod_stop(&t, 15000);
	cr_assert(s >= 0 && WIFEXITED(s) && WEXITSTATUS(s) == 0);
	long long events = tapiod_last_stat(&t, "testing", " events=");
	cr_assert_gt(events, 100000, "the flood was a flood (%lld events)", events);
	cr_assert_eq(tapiod_last_stat(&t, "testing", " sink="), 0, "sink queue drops");
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_gt(st.st_size, events * 40, "every event is in the file");
	unlink(path);
	tapiod_cleanup(&t);
}
