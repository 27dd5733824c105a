// SPDX-License-Identifier: Apache-2.0
// Reading a kubeconfig file with libyaml's document API (kubeapi_kubeconfig.h).
#include "kubeapi_kubeconfig.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

static yaml_node_t *map_get(yaml_document_t *d, yaml_node_t *map, const char *key)
{
	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(d, p->key);
		if (k && k->type == YAML_SCALAR_NODE &&
		    strcmp((char *)k->data.scalar.value, key) == 0)
			return yaml_document_get_node(d, p->value);
	}
	return NULL;
}

static const char *scalar(yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* The entry of list `list` (contexts, clusters, users) whose name is `name`: its `what` map. */
static yaml_node_t *named(yaml_document_t *d, yaml_node_t *root, const char *list, const char *name,
			  const char *what)
{
	yaml_node_t *l = map_get(d, root, list);
	if (!l || l->type != YAML_SEQUENCE_NODE || !name)
		return NULL;
	for (yaml_node_item_t *i = l->data.sequence.items.start; i < l->data.sequence.items.top;
	     i++) {
		yaml_node_t *e = yaml_document_get_node(d, *i);
		const char *n = scalar(map_get(d, e, "name"));
		if (n && strcmp(n, name) == 0)
			return map_get(d, e, what);
	}
	return NULL;
}

/* A path from the file, made absolute against the kubeconfig's directory. */
static int path_of(const char *dir, const char *v, char **ret)
{
	*ret = NULL;
	if (!v || !*v)
		return 0;
	if (v[0] == '/')
		*ret = strdup(v);
	else if (asprintf(ret, "%s/%s", dir, v) < 0)
		*ret = NULL;
	return *ret ? 0 : -ENOMEM;
}

int kubeconfig_load(const char *path, struct kubeconfig *kc, char *err, size_t err_size)
{
	memset(kc, 0, sizeof(*kc));
	FILE *f = fopen(path, "re");
	if (!f) {
		int r = -errno;
		snprintf(err, err_size, "cannot open: %s", strerror(-r));
		return r;
	}
	yaml_parser_t p;
	yaml_document_t d;
	yaml_parser_initialize(&p);
	yaml_parser_set_input_file(&p, f);
	int r = -EINVAL;
	if (!yaml_parser_load(&p, &d)) {
		snprintf(err, err_size, "not YAML: %s at line %zu", p.problem ? p.problem : "?",
			 p.problem_mark.line + 1);
		yaml_parser_delete(&p);
		fclose(f);
		return -EINVAL;
	}
	char dirbuf[1024];
	snprintf(dirbuf, sizeof(dirbuf), "%s", path);
	const char *dir = dirname(dirbuf);
	yaml_node_t *root = yaml_document_get_root_node(&d);
	const char *cur = scalar(map_get(&d, root, "current-context"));
	yaml_node_t *ctx = named(&d, root, "contexts", cur, "context");
	yaml_node_t *cluster =
		named(&d, root, "clusters", scalar(map_get(&d, ctx, "cluster")), "cluster");
	yaml_node_t *user = named(&d, root, "users", scalar(map_get(&d, ctx, "user")), "user");
	const char *server = scalar(map_get(&d, cluster, "server"));
	if (!cur || !ctx) {
		snprintf(err, err_size, "no current-context, or it names no context");
	} else if (!server) {
		snprintf(err, err_size, "context %s: its cluster has no server", cur);
	} else if (map_get(&d, user, "exec") || map_get(&d, user, "auth-provider")) {
		snprintf(err, err_size,
			 "user of context %s: exec credential plugins and auth "
			 "providers are not supported (use a token file or a "
			 "client certificate)",
			 cur);
	} else if (map_get(&d, cluster, "certificate-authority-data") ||
		   map_get(&d, user, "client-certificate-data") ||
		   map_get(&d, user, "client-key-data") || map_get(&d, user, "token")) {
		snprintf(err, err_size,
			 "context %s: inline *-data and token values are not "
			 "supported: use certificate-authority, client-certificate, "
			 "client-key and tokenFile paths",
			 cur);
	} else if (!(kc->server = strdup(server)) ||
		   path_of(dir, scalar(map_get(&d, cluster, "certificate-authority")),
			   &kc->ca_file) < 0 ||
		   path_of(dir, scalar(map_get(&d, user, "client-certificate")), &kc->cert_file) <
			   0 ||
		   path_of(dir, scalar(map_get(&d, user, "client-key")), &kc->key_file) < 0 ||
		   path_of(dir, scalar(map_get(&d, user, "tokenFile")), &kc->token_file) < 0) {
		snprintf(err, err_size, "out of memory");
		r = -ENOMEM;
	} else {
		r = 0;
	}
	yaml_document_delete(&d);
	yaml_parser_delete(&p);
	fclose(f);
	if (r < 0)
		kubeconfig_free(kc);
	return r;
}

void kubeconfig_free(struct kubeconfig *kc)
{
	free(kc->server);
	free(kc->ca_file);
	free(kc->cert_file);
	free(kc->key_file);
	free(kc->token_file);
	memset(kc, 0, sizeof(*kc));
}
