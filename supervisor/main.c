// SPDX-License-Identifier: Apache-2.0
// tapiod: the supervisor's command line. Loads the config, sets up the supervisor (sup.c) and
// its control socket (control.c) and HTTP endpoint (http.c), runs the loop.
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "control.h"
#include "exitcodes.h"
#include "http.h"
#include "identity.h"
#include "log.h"
#include "sup.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: tapiod [--config FILE] [--check-config] [--log-level LEVEL]\n"
		   "  --config FILE     YAML configuration (default: every key at its default,\n"
		   "                    as --print-default-config shows it)\n"
		   "  --check-config    validate the configuration and exit (0 valid, 100 not)\n"
		   "  --print-default-config  print the default configuration, generated from\n"
		   "                    the key tables (deploy/tapio.yaml is this output)\n"
		   "  --log-level L     debug, info, warn, error (overrides the config)\n");
}

/* What main opened on the loop besides sup: closed with sup's handles. */
struct front {
	struct control ctl;
	bool ctl_open;
	struct http_server http;
	bool http_open;
};

static void front_close_cb(void *ctx)
{
	struct front *f = ctx;
	if (f->ctl_open)
		control_close(&f->ctl);
	if (f->http_open)
		http_close(&f->http);
}

static int load_config(const char *path, struct config **ret)
{
	char *err = NULL, *text = path ? NULL : config_default_text();
	if (!path && !text)
		return -ENOMEM;
	int r = path ? config_load_file(path, ret, &err)
		     : config_load_text(text, strlen(text), "<embedded default>", ret, &err);
	free(text);
	if (r < 0) {
		log_error("%s", err ? err : strerror(-r));
		free(err);
	}
	return r;
}

/* What tapiod will execute must be root's alone (in --check-config too); at start, no other
 * process may hold a worker's uid or gid. */
static int trust_checks(const struct config *cfg, bool starting)
{
	char dir[4096], msg[512];
	int r = identity_collector_dir(cfg, dir, sizeof(dir));
	if (r < 0) {
		log_error("collector_dir: %s", strerror(-r));
		return r;
	}
	if ((r = identity_check_binaries(cfg, dir, msg, sizeof(msg))) < 0) {
		log_error("%s: %s", cfg->path, msg);
		return r;
	}
	if (!starting)
		return 0;
	pid_t pid;
	uint32_t id;
	const char *name;
	r = identity_find_foreign(cfg, NULL, 0, &pid, &id, &name);
	if (r < 0) {
		log_error("cannot read /proc to check the workers' ids: %s", strerror(-r));
		return r;
	}
	if (r > 0) {
		log_error("pid %d already runs under id %u, which belongs to the %s collector's "
			  "worker (run_as_uid %u / run_as_gid %u + its fixed slot): refusing to "
			  "start "
			  "(another tapiod, or a user with that id; choose another range)",
			  (int)pid, id, name, cfg->run_as_uid, cfg->run_as_gid);
		return -EEXIST;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"check-config", no_argument, NULL, 'k'},
		{"print-default-config", no_argument, NULL, 'p'},
		{"log-level", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *path = NULL;
	bool check = false;
	int opt;
	log_init("tapiod", LOG_LEVEL_INFO);
	while ((opt = getopt_long(argc, argv, "c:hl:", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'k':
			check = true;
			break;
		case 'p': {
			char *text = config_default_text();
			if (!text)
				return EXIT_TRANSIENT;
			fputs(text, stdout);
			free(text);
			return EXIT_CLEAN;
		}
		case 'l': {
			enum log_level lv;
			if (log_level_parse(optarg, &lv) < 0) {
				log_error("--log-level: unknown level '%s' (debug, info, warn, "
					  "error)",
					  optarg);
				return EXIT_CONFIG;
			}
			log_set_level(lv);
			break;
		}
		case 'h':
			usage(stdout);
			return EXIT_CLEAN;
		default:
			usage(stderr);
			return EXIT_CONFIG;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument '%s'", argv[optind]);
		usage(stderr);
		return EXIT_CONFIG;
	}

	/* Static, so that what tapiod holds when it leaves early (a second tapiod, a failed
	 * start) is still reachable at exit rather than reported as leaked by LeakSanitizer. */
	static struct sup sup;
	sup = (struct sup){.config_memfd = -1, .config_path = path};
	if (load_config(path, &sup.cfg) < 0)
		return EXIT_CONFIG;
	if (trust_checks(sup.cfg, !check) < 0) {
		config_free(sup.cfg);
		return EXIT_CONFIG;
	}
	if (check) {
		printf("%s: valid\n", sup.cfg->path);
		config_free(sup.cfg);
		return EXIT_CLEAN;
	}
	sup.loop = uv_default_loop();
	int r = sup_setup(&sup);
	if (r < 0) {
		log_error("startup: %s", strerror(-r));
		return EXIT_TRANSIENT;
	}
	static struct front front;
	front = (struct front){.ctl_open = false};
	if (sup.cfg->control.enabled) {
		r = control_open(&front.ctl, &sup);
		if (r == -EADDRINUSE)
			return EXIT_CONFIG; /* another tapiod runs with this socket: leave it be */
		if (r < 0)
			log_warn("running without a control socket (tapioctl will not reach this "
				 "tapiod)");
		front.ctl_open = true;
	}
	/* Without the endpoint tapiod still runs: a probe failing says enough. */
	if (sup.cfg->http.enabled)
		front.http_open = http_open(&front.http, &sup) == 0;
	sup.on_close = front_close_cb;
	sup.on_close_ctx = &front;
	log_info("tapiod starting on node %s: %zu collector(s), run id %s", sup.cfg->node_name,
		 sup.n_children, sup.run_id);
	sup_start(&sup);

	uv_run(sup.loop, UV_RUN_DEFAULT);

	sup_release(&sup);
	log_info("exit");
	return EXIT_CLEAN;
}
