// SPDX-License-Identifier: Apache-2.0
// libFuzzer target for the systemd unit attribution (common/systemd_unit.c): any
// bytes as one cgroup path and as /proc/<pid>/cgroup text. A unit found must be a whole
// component of the input, within its bound, with a known suffix, and never from a path
// holding "..".
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "systemd_unit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_name(const char *name, int r)
{
	if (r < 0 || (size_t)r != strlen(name) || r > SYSTEMD_UNIT_NAME_MAX)
		abort();
	if (r == 0)
		return;
	if (name[0] == '.' || strchr(name, '/') || strstr(name, ".."))
		abort();
	/* the name alone, as a path of one component, is a candidate: a known suffix */
	struct systemd_unit_ref self;
	if (systemd_unit_from_path(name, (size_t)r, &self) != 1 || self.offset != 0 ||
	    self.len != (size_t)r || self.type == SYSTEMD_UNIT_NONE)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* an exact-size copy: ASan sees any read past the end */
	char *p = malloc(size ? size : 1);
	if (!p)
		return 0;
	memcpy(p, data, size);
	struct systemd_unit_ref ref;
	int r = systemd_unit_from_path(p, size, &ref);
	if (r == 1) {
		if (ref.offset + ref.len > size || ref.type == SYSTEMD_UNIT_NONE ||
		    memmem(p, size, "..", 2))
			abort();
		if (ref.offset > 0 && p[ref.offset - 1] != '/')
			abort();
		if (ref.offset + ref.len < size && p[ref.offset + ref.len] != '/')
			abort();
	} else if (r != 0) {
		abort();
	}
	char name[SYSTEMD_UNIT_NAME_MAX + 1];
	check_name(name, systemd_unit_name(p, size, name, sizeof(name)));
	check_name(name, systemd_unit_from_proc_cgroup(p, size, name, sizeof(name)));
	/* a buffer too small is refused, never overrun */
	char tiny[4];
	r = systemd_unit_name(p, size, tiny, sizeof(tiny));
	if (r != -ENOSPC && (r < 0 || r > 3))
		abort();
	free(p);
	return 0;
}
