// SPDX-License-Identifier: Apache-2.0
// The privilege audit of a worker: /proc/PID/status against what a sandboxed worker must look
// like (no capabilities, the configured uid/gid, no_new_privs, a seccomp filter) and against
// what the worker itself reported in READY. Problems are warnings, never a kill: the audit
// checks the sandbox's own work from the outside.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "audit.h"
#include "log.h"
#include "privilege.h"
#include "sandbox.h"

static void problem(struct audit_slot *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void problem(struct audit_slot *a, const char *fmt, ...)
{
	if (a->e.n_problems >= AUDIT_PROBLEMS)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(a->text[a->e.n_problems], sizeof(a->text[0]), fmt, ap);
	va_end(ap);
	a->problems[a->e.n_problems] = a->text[a->e.n_problems];
	a->e.n_problems++;
}

/* Compare what /proc says with what a sandboxed worker must look like, and with its READY. */
void audit_child(const struct child *c, struct audit_slot *a)
{
	const struct config *cfg = c->env->cfg;
	a->e = (Tapio__V1__AuditEntry)TAPIO__V1__AUDIT_ENTRY__INIT;
	a->e.collector = (char *)c->reg->name;
	a->e.has_declared_setup_caps = 1;
	a->e.declared_setup_caps = registry_setup_caps(c->reg);
	a->e.problems = a->problems;
	struct privilege_status st;
	if (c->pid <= 0 || (c->state != CHILD_READY && c->state != CHILD_DEGRADED) ||
	    privilege_status_read(c->pid, &st) < 0) {
		a->e.verdict = "not running";
		return;
	}
	a->e.has_pid = 1;
	a->e.pid = (uint32_t)c->pid;
	privilege_report_fill(&a->observed, &st);
	a->e.observed = &a->observed;
	/* A process that is not dumpable has the files in its /proc/PID owned by root (proc(5);
	 * the directory itself may keep the owner it had when first looked up). */
	char path[48];
	struct stat pst;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)c->pid);
	if (st.euid != 0 && stat(path, &pst) == 0) {
		a->observed.has_dumpable = 1;
		a->observed.dumpable = pst.st_uid == st.euid;
	}
	uint32_t uid = 0, gid = 0;
	config_worker_ids(cfg, c->reg->name, &uid, &gid);
	if (c->reported.valid) {
		a->reported = (Tapio__V1__PrivilegeReport)TAPIO__V1__PRIVILEGE_REPORT__INIT;
		a->reported.has_uid = a->reported.has_cap_eff = a->reported.has_cap_prm = 1;
		a->reported.has_cap_bnd = a->reported.has_no_new_privs = a->reported.has_seccomp =
			1;
		a->reported.uid = c->reported.uid;
		a->reported.cap_eff = c->reported.cap_eff;
		a->reported.cap_prm = c->reported.cap_prm;
		a->reported.cap_bnd = c->reported.cap_bnd;
		a->reported.no_new_privs = c->reported.no_new_privs;
		a->reported.seccomp = c->reported.seccomp;
		a->reported.landlock = (char *)c->reported.landlock;
		a->reported.has_dumpable = c->reported.has_dumpable;
		a->reported.dumpable = c->reported.dumpable;
		a->e.reported = &a->reported;
	} else {
		problem(a, "READY carried no privilege report");
	}
	a->observed.landlock = c->reported.valid ? (char *)c->reported.landlock : (char *)"unknown";

	if (!c->cc->sandbox) {
		problem(a, "sandbox disabled in the config");
	} else {
		if (st.cap_eff || st.cap_prm || st.cap_inh || st.cap_amb)
			problem(a, "capabilities held: eff %llx prm %llx inh %llx amb %llx",
				(unsigned long long)st.cap_eff, (unsigned long long)st.cap_prm,
				(unsigned long long)st.cap_inh, (unsigned long long)st.cap_amb);
		if (st.cap_bnd)
			problem(a, "bounding set not empty: %llx", (unsigned long long)st.cap_bnd);
		if (st.uid == 0 || st.euid == 0 || st.uid != uid || st.euid != uid)
			problem(a, "uid %u, expected %u", st.uid, uid);
		if (st.gid != gid || st.egid != gid)
			problem(a, "gid %u, expected %u", st.gid, gid);
		if (a->observed.dumpable != 0)
			problem(a, "dumpable: processes of uid %u may ptrace it", st.uid);
		if (st.no_new_privs != 1)
			problem(a, "no_new_privs not set");
		if (st.seccomp != 2)
			problem(a, "seccomp mode %u, expected 2 (filter)", st.seccomp);
	}
	if (c->reported.valid &&
	    (c->reported.uid != st.uid ||
	     (c->reported.has_dumpable && a->observed.has_dumpable &&
	      c->reported.dumpable != a->observed.dumpable) ||
	     c->reported.cap_eff != st.cap_eff || c->reported.cap_prm != st.cap_prm ||
	     c->reported.cap_bnd != st.cap_bnd || c->reported.no_new_privs != st.no_new_privs ||
	     c->reported.seccomp != st.seccomp))
		problem(a, "READY report differs from /proc/%d/status", (int)c->pid);
	a->e.verdict = a->e.n_problems ? "mismatch" : "ok";
}

void audit_on_ready(const struct child *c)
{
	struct audit_slot *a = calloc(1, sizeof(*a));
	if (!a)
		return;
	audit_child(c, a);
	for (size_t i = 0; i < a->e.n_problems; i++)
		log_warn("audit %s (pid %d): %s", c->reg->name, (int)c->pid, a->problems[i]);
	if (a->e.n_problems == 0)
		log_debug("audit %s (pid %d): ok", c->reg->name, (int)c->pid);
	free(a);
}
