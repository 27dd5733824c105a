// SPDX-License-Identifier: Apache-2.0
// worker_exit_code: the one mapping from a collector callback's -errno to the exit-code
// contract of exitcodes.h.
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>

#include "exitcodes.h"
#include "worker.h"

struct exit_case {
	int err;
	int code;
};

ParameterizedTestParameters(worker, exit_code_contract)
{
	static struct exit_case cases[] = {
		{0, EXIT_CLEAN},
		{-EINVAL, EXIT_CONFIG},
		{-EPERM, EXIT_CONFIG},
		{-EACCES, EXIT_CONFIG},
		{-EOPNOTSUPP, EXIT_NO_FEATURE},
		{-ENOSYS, EXIT_NO_FEATURE},
		{-ENOENT, EXIT_TRANSIENT},
		{-ENOMEM, EXIT_TRANSIENT},
		{-EIO, EXIT_TRANSIENT},
		{-EAGAIN, EXIT_TRANSIENT},
		{-ECONNREFUSED, EXIT_TRANSIENT},
		{-ETIMEDOUT, EXIT_TRANSIENT},
		{-E2BIG, EXIT_TRANSIENT},
	};
	return cr_make_param_array(struct exit_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct exit_case *c, worker, exit_code_contract)
{
	cr_expect_eq(worker_exit_code(c->err), c->code, "errno %d", -c->err);
}
