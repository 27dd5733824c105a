// SPDX-License-Identifier: Apache-2.0
// Issue 14 point 4: degraded modes entered the way a real node gets there, not by a force_*
// flag: the kernel's BTF is not where libbpf looks (/sys/kernel/btf/vmlinux is empty in tapiod's
// mount namespace), so no CO-RE program loads.
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static char *status_of(struct tapiod *t, const char *name)
{
	const char *args[] = {"status", NULL};
	int st;
	char *out = tapioctl_run(t, &st, args);
	char *line = NULL;
	for (char *l = out ? strtok(out, "\n") : NULL; l; l = strtok(NULL, "\n"))
		if (strncmp(l, name, strlen(name)) == 0 && l[strlen(name)] == ' ')
			line = strdup(l);
	free(out);
	return line ? line : strdup("");
}

static bool match_marker(json_object *ev, void *arg)
{
	const char *type = jstr(ev, "type");
	json_object *pe, *argv;
	if (!type || strcmp(type, "process.exec") != 0 ||
	    !json_object_object_get_ex(ev, "processExec", &pe) ||
	    !json_object_object_get_ex(pe, "argv", &argv))
		return false;
	for (size_t i = 0; i < json_object_array_length(argv); i++) {
		const char *a = json_object_get_string(json_object_array_get_idx(argv, i));
		if (a && strcmp(a, arg) == 0)
			return true;
	}
	return false;
}

/* process: no BTF → the /proc fallback, DEGRADED with the reason, and it still reports execs. */
Test(degraded, process_without_btf_polls_proc, .timeout = 60)
{
	harness_require_root();
	struct tapiod t;
	harness_next_without_btf();
	cr_assert_eq(tapiod_start(&t, "  process:\n    enabled: true\n"), 0);
	cr_assert(tapiod_wait_state(&t, "process", "DEGRADED", 20000), "not DEGRADED");
	char *l = status_of(&t, "process");
	cr_assert(strstr(l, "no eBPF hook set loads") && strstr(l, "polling /proc"), "status: %s",
		  l);
	free(l);
	char marker[64];
	snprintf(marker, sizeof(marker), "degraded-%d", (int)getpid());
	pid_t p = fork();
	if (p == 0) {
		/* the marker is $0 of the shell: in its argv, as /proc shows it */
		execl("/bin/sh", "sh", "-c", "sleep 3; true", marker, (char *)NULL);
		_exit(127);
	}
	json_object *ev = tapiod_wait(&t, match_marker, marker, 10000);
	kill(p, SIGKILL);
	waitpid(p, NULL, 0);
	cr_assert_not_null(ev, "no process.exec from the /proc fallback");
	cr_assert_eq(jint(ev, "process.pid", -1), p);
	cr_assert_eq(tapiod_stop(&t, 10000), 0);
	tapiod_cleanup(&t);
}

/* network has no fallback: without BTF it says the kernel lacks a feature (exit 125) and is
 * not restarted in a loop. */
Test(degraded, network_without_btf_reports_the_missing_feature, .timeout = 60)
{
	harness_require_root();
	struct tapiod t;
	harness_next_without_btf();
	cr_assert_eq(tapiod_start(&t, "  process:\n    enabled: false\n"
				      "  network:\n    enabled: true\n"),
		     0);
	cr_assert(tapiod_wait_state(&t, "network", "FAILED", 20000), "not FAILED");
	char *l = status_of(&t, "network");
	cr_assert(strstr(l, "exit code 125"), "status: %s", l);
	free(l);
	char *log = tapiod_log(&t);
	cr_assert(strstr(log, "setup failed at 'load and attach hooks'"), "log:\n%s", log);
	free(log);
	tapiod_pump(&t, 1500); /* a stats line after the failure */
	cr_assert_eq(tapiod_last_stat(&t, "network", "restarts="), 0, "restarted");
	cr_assert_eq(tapiod_stop(&t, 10000), 0);
	tapiod_cleanup(&t);
}
