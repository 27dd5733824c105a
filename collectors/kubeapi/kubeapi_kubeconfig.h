/* SPDX-License-Identifier: Apache-2.0 */
/* The part of a kubeconfig file the kubeapi collector uses: the current context's cluster
 * (server, certificate-authority) and user (client-certificate, client-key, tokenFile), as
 * file paths (relative ones against the kubeconfig's directory). Inline *-data and token
 * values, exec plugins and auth providers are refused with a message saying so. */
#pragma once
#include <stddef.h>

struct kubeconfig {
	char *server;	  /* owned */
	char *ca_file;	  /* owned or NULL */
	char *cert_file;  /* owned or NULL */
	char *key_file;	  /* owned or NULL */
	char *token_file; /* owned or NULL */
};

/* 0, or -EINVAL / -ENOENT / -ENOMEM with a one-line reason in err. */
int kubeconfig_load(const char *path, struct kubeconfig *ret, char *err, size_t err_size);
void kubeconfig_free(struct kubeconfig *kc);
