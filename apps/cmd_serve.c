/*
 * cmd_serve.c - `gpn serve`: the map server (WMS, WMTS, XYZ tiles, COG
 * access, the report API and the web app) over an atlas.
 *
 * Configuration: defaults, then --config FILE (key = value or JSON; see
 * docs/server.md), then the command-line flags, which win. The process
 * blocks SIGTERM/SIGINT/SIGHUP before any thread starts and waits for them
 * with sigwait(): SIGTERM or SIGINT stops accepting, lets the in-flight
 * requests finish, joins the workers and exits 0 (clean shutdown under
 * systemd, docker stop, or Ctrl-C).
 */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "gpn/http.h"
#include "gpn/log.h"
#include "gpn/util.h"

static const char CMD[] = "serve";

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: gpn serve --atlas DIR [--bind 127.0.0.1] [--port 8080] [--threads N]\n"
            "                 [--cache-size MB] [--config FILE] [options]\n"
            "\n"
            "Serves the layers of the atlas catalog:\n"
            "  /wms                 OGC WMS 1.3.0 and 1.1.1 (GetCapabilities, GetMap, GetFeatureInfo,\n"
            "                       GetLegendGraphic)\n"
            "  /wmts                OGC WMTS 1.0.0, KVP and REST (/wmts/1.0.0/WMTSCapabilities.xml)\n"
            "  /tiles/L/{z}/{x}/{y}.png   XYZ tiles (cached under ATLAS/cache), /tiles/L.json TileJSON\n"
            "  /layers/L.tif        the layer's COG with HTTP Range (GDAL /vsicurl/, QGIS)\n"
            "  /api/layers, /api/health, /api/report   JSON API\n"
            "  /                    the web app (web/dist or --web-root)\n"
            "\n"
            "Options:\n"
            "  --atlas DIR          atlas folder (catalog.sqlite, layers/, cache/)\n"
            "  --bind ADDR          listen address (default 127.0.0.1; 0.0.0.0 for all)\n"
            "  --port N             TCP port (default 8080; 0 = any free port)\n"
            "  --port-file FILE     write the bound port to FILE once listening\n"
            "  --threads N          worker threads (default: number of CPUs)\n"
            "  --cache-size MB      tile cache bound (default 1024; 0 disables the cache)\n"
            "  --cache-dir DIR      tile cache folder (default ATLAS/cache)\n"
            "  --mem-cache MB       in-memory cache of hot tiles (default 64; 0 disables it)\n"
            "  --gdal-cache MB      GDAL raster block cache (default 256; GDAL_CACHEMAX wins)\n"
            "  --config FILE        configuration file (key = value, or a JSON object)\n"
            "  --access-log FILE    access log (\"-\" for stderr; default off)\n"
            "  --web-root DIR       static files served at / (default web/dist when present)\n"
            "  --public-url URL     base URL written in capabilities (default from Host)\n"
            "  --max-size N         largest WIDTH/HEIGHT (default 4096)\n"
            "  --max-body BYTES     largest request body (default 8 MiB)\n"
            "  --timeout S          idle connection timeout (default 30)\n"
            "  -h/--help, -v/--verbose, -q/--quiet\n"
            "SIGTERM or SIGINT stops the server cleanly.\n");
}

int gpn_cmd_serve(int argc, char **argv)
{
    static const struct option longopts[] = {
        APP_COMMON_LONGOPTS,
        {"atlas", required_argument, 0, 'a'},
        {"bind", required_argument, 0, 'b'},
        {"port", required_argument, 0, 'p'},
        {"port-file", required_argument, 0, 'P'},
        {"threads", required_argument, 0, 't'},
        {"cache-size", required_argument, 0, 'c'},
        {"cache-dir", required_argument, 0, 'C'},
        {"mem-cache", required_argument, 0, 'M'},
        {"gdal-cache", required_argument, 0, 'G'},
        {"config", required_argument, 0, 'f'},
        {"access-log", required_argument, 0, 'l'},
        {"web-root", required_argument, 0, 'w'},
        {"public-url", required_argument, 0, 'u'},
        {"max-size", required_argument, 0, 'm'},
        {"max-body", required_argument, 0, 'B'},
        {"timeout", required_argument, 0, 'T'},
        {0, 0, 0, 0},
    };
    /* Flags are applied after the config file: collect them first. */
    struct {
        const char *key, *val;
    } flags[32];
    int nflags = 0;
    const char *config = NULL, *port_file = NULL, *gdal_cache = "256";
    app_getopt_reset();
    int opt;
    while ((opt = getopt_long(argc, argv, "hvqa:b:p:t:c:f:", longopts, NULL)) != -1) {
        if (app_common_option(opt)) continue;
        const char *key = NULL;
        switch (opt) {
        case 'h': usage(stdout); return 0;
        case 'f': config = optarg; continue;
        case 'P': port_file = optarg; continue;
        case 'G': gdal_cache = optarg; continue;
        case 'a': key = "atlas"; break;
        case 'b': key = "bind"; break;
        case 'p': key = "port"; break;
        case 't': key = "threads"; break;
        case 'c': key = "cache_size"; break;
        case 'C': key = "cache_dir"; break;
        case 'M': key = "mem_cache"; break;
        case 'l': key = "access_log"; break;
        case 'w': key = "web_root"; break;
        case 'u': key = "public_url"; break;
        case 'm': key = "max_size"; break;
        case 'B': key = "max_body"; break;
        case 'T': key = "timeout"; break;
        default: return app_usage_error(CMD, "unknown option");
        }
        if (nflags < 32) {
            flags[nflags].key = key;
            flags[nflags].val = optarg;
            nflags++;
        }
    }
    if (optind < argc) return app_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    struct gpn_http_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    gpn_http_cfg_defaults(&cfg);
    struct gpn_err err = {0};
    if (config && gpn_http_cfg_load(&cfg, config, &err)) return app_fail(CMD, &err);
    for (int i = 0; i < nflags; i++) {
        if (gpn_http_cfg_set(&cfg, flags[i].key, flags[i].val, &err))
            return app_usage_error(CMD, "--%s: %s", flags[i].key, err.msg);
    }
    if (!cfg.atlas[0]) return app_usage_error(CMD, "--atlas DIR is required (or atlas = DIR in --config)");

    /* GDAL's block cache (shared by the worker threads) bounds most of the
     * server's memory; GDAL reads GDAL_CACHEMAX (MiB) on first use. An
     * explicit environment setting wins. */
    {
        int mb;
        if (gpn_parse_int(gdal_cache, 16, 1 << 20, &mb, "--gdal-cache", &err))
            return app_usage_error(CMD, "%s", err.msg);
        if (!getenv("GDAL_CACHEMAX")) setenv("GDAL_CACHEMAX", gdal_cache, 1);
    }
    /* Signals are taken by sigwait() below; block them before threads exist. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct gpn_http_app *app = NULL;
    struct gpn_http_server *srv = NULL;
    if (gpn_http_app_create(&cfg, &app, &err)) return app_fail(CMD, &err);
    if (gpn_http_server_start(app, &cfg, &srv, &err)) {
        gpn_http_app_destroy(app);
        return app_fail(CMD, &err);
    }
    int port = gpn_http_server_port(srv);
    const struct gpn_http_cfg *c = gpn_http_app_cfg(app);
    gpn_log_info("serve: listening on http://%s:%d (atlas %s, %zu layers, %d threads, cache %lld MiB at %s%s%s)",
                 cfg.bind, port, cfg.atlas, gpn_http_app_layer_count(app),
                 cfg.threads > 0 ? cfg.threads : (int)sysconf(_SC_NPROCESSORS_ONLN), (long long)c->cache_mb,
                 c->cache_dir, c->web_root[0] ? ", web app " : "", c->web_root);
    if (port_file) {
        char buf[32];
        int n = snprintf(buf, sizeof buf, "%d\n", port);
        if (gpn_file_write_atomic(port_file, buf, (size_t)n, &err)) {
            gpn_http_server_stop(srv);
            gpn_http_app_destroy(app);
            return app_fail(CMD, &err);
        }
    }
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0) continue;
        if (sig == SIGHUP) {
            gpn_log_info("serve: SIGHUP ignored (the catalog is reloaded automatically)");
            continue;
        }
        gpn_log_info("serve: %s received, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        break;
    }
    gpn_http_server_stop(srv);
    gpn_http_app_destroy(app);
    gpn_log_info("serve: stopped");
    return 0;
}
