// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: any bytes given to config_load_text must load or fail cleanly, with no
// crash, leak or undefined behaviour, and a failure must come with a message.
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "config.h"
#include "registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg = NULL;
	char *err = NULL;
	int r = config_load_text((const char *)data, size, "fuzz.yaml", &cfg, &err);

	if (r == 0 && (!cfg || err))
		abort();
	for (size_t i = 0; r == 0 && i < registry_count; i++)
		if (!config_section(cfg, registry_entries[i]->name))
			abort(); /* every collector of the table has its section */
	if (r < 0 && (cfg || (r == -EINVAL && !err)))
		abort();
	config_free(cfg);
	free(err);
	return 0;
}
