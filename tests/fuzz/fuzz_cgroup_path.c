// SPDX-License-Identifier: Apache-2.0
// libFuzzer target for cgroup_parse_path: any bytes, NUL-terminated, must parse or be
// rejected without a crash, and a match must satisfy the output contract.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	struct cgroup_info info;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	int r = cgroup_parse_path(s, &info);
	if (r > 0) {
		size_t n = strlen(info.container_id);
		if (n != 0 && n != CGROUP_ID_LEN)
			abort();
		for (size_t i = 0; i < n; i++)
			if (!is_lower_hex(info.container_id[i]))
				abort();
		if ((n != 0) != (info.runtime != NULL))
			abort();
		n = strlen(info.pod_uid);
		if (n != 0 && n != 32 && n != CGROUP_POD_UID_LEN)
			abort();
		if ((n != 0) != (info.qos != NULL))
			abort();
		if (!info.container_id[0] && !info.pod_uid[0])
			abort();
	} else if (r == 0) {
		if (info.container_id[0] || info.pod_uid[0] || info.runtime || info.qos)
			abort();
	} else if (strlen(s) < 4096) {
		abort();
	}
	free(s);
	return 0;
}
