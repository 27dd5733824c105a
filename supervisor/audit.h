/* SPDX-License-Identifier: Apache-2.0 */
/* The privilege audit (audit.c): what /proc says of a worker against the sandbox it must be
 * in and against its own READY report. Run by the READY action and by `tapioctl audit`. */
#pragma once
#include "child.h"
#include "tapio/v1/control.pb-c.h"

#define AUDIT_PROBLEMS 12

/* One worker's audit, as the AuditEntry of a response (pointing into the slot). */
struct audit_slot {
	Tapio__V1__AuditEntry e;
	Tapio__V1__PrivilegeReport reported, observed;
	char *problems[AUDIT_PROBLEMS];
	char text[AUDIT_PROBLEMS][96];
};

void audit_child(const struct child *c, struct audit_slot *a);
/* Audit a worker that just became READY; every problem is a warning in the log. */
void audit_on_ready(const struct child *c);
