/* SPDX-License-Identifier: Apache-2.0 */
/* Scope-bound release of locals (STYLE.md "Memory and resources"): a variable declared with
 * _cleanup_free_, _cleanup_close_, ... is released when it goes out of scope, on every return
 * path. To hand ownership on, take it: `*ret = TAKE_PTR(p);`, `return TAKE_FD(fd);`.
 * The destructors accept the "nothing held" value (NULL, -1). */
#pragma once
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(fn) __attribute__((cleanup(fn)))

/* Define `name##p(type *p)` calling fn(*p) unless *p is NULL: the cleanup function for a
 * pointer type whose destructor does not accept NULL (or has a return value to drop). */
#define DEFINE_POINTER_CLEANUP(type, fn)                                                           \
	static inline void fn##p(type *p)                                                          \
	{                                                                                          \
		if (*p)                                                                            \
			fn(*p);                                                                    \
	}

static inline void freep(void *p)
{
	free(*(void **)p);
}

static inline void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}

DEFINE_POINTER_CLEANUP(FILE *, fclose)
DEFINE_POINTER_CLEANUP(DIR *, closedir)

#define _cleanup_free_	   _cleanup_(freep)
#define _cleanup_close_	   _cleanup_(closep)
#define _cleanup_fclose_   _cleanup_(fclosep)
#define _cleanup_closedir_ _cleanup_(closedirp)

/* Take what a pointer variable holds and leave NULL behind (its cleanup then does nothing). */
#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		typeof(p) *take_ptr_var = &(p);                                                    \
		typeof(p) take_ptr_val = *take_ptr_var;                                            \
		*take_ptr_var = NULL;                                                              \
		take_ptr_val;                                                                      \
	})

/* Take the fd a variable holds and leave -1 behind. */
#define TAKE_FD(fd)                                                                                \
	({                                                                                         \
		int *take_fd_var = &(fd);                                                          \
		int take_fd_val = *take_fd_var;                                                    \
		*take_fd_var = -1;                                                                 \
		take_fd_val;                                                                       \
	})
