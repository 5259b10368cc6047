/*
 * cmd_train_sdm.c - `gpn train-sdm`: train the multimodal Deep-SDM on a
 * dataset folder (include/gpn/train.h; docs/sdm.md "Training and
 * evaluation").
 *
 * The command only parses options into struct gpn_train_opts and prints a
 * summary line on stdout; all work is in src/sdm/train.c. Exit status: 0 ok
 * (also when stopped by --stop-after / --time-limit: resumable), 1 runtime
 * failure, 2 usage error.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "gpn/train.h"
#include "gpn/util.h"

static const char CMD[] = "train-sdm";

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: gpn train-sdm --data DATASET --out MODEL [--config NAME|FILE] [--epochs N]\n"
            "                     [--batch B] [--lr LR] [--optim sgd|adamw] [--momentum M]\n"
            "                     [--weight-decay WD] [--pos-weight W]\n"
            "                     [--schedule constant|cosine|step|plateau] [--val-frac F]\n"
            "                     [--patience P] [--seed S] [--threads T] [--resume]\n"
            "                     [--po-background K] [--po-radius KM] [--po-weight W]\n"
            "                     [--po-ratio R]\n"
            "                     [--augment|--no-augment] [--stop-after N] [--time-limit S]\n"
            "                     [--atlas DIR]\n"
            "\n"
            "Trains the Deep-SDM (one CNN encoder per modality, concatenated embeddings, a\n"
            "linear layer, a sigmoid per species) with binary cross-entropy on the dataset's\n"
            "presence-absence surveys and presence-only records (target-group background\n"
            "absences). Writes the best model (lowest validation loss) to MODEL and the run\n"
            "folder MODEL.run/ (checkpoint.gpnm, train.log, metrics.csv, loss.png) after\n"
            "every epoch. Values not given come from the config's \"train\" object, then from\n"
            "the defaults of the named config (docs/sdm.md).\n"
            "\n"
            "  --data DATASET       dataset folder written by gpn ingest\n"
            "  --out MODEL          model file to write (run folder MODEL.run/)\n"
            "  --config NAME|FILE   demo (default), geoplant, geoplant64, or a JSON config file\n"
            "  --epochs N           passes over the training samples\n"
            "  --batch B            samples per step (>= 2)\n"
            "  --lr LR              base learning rate (default 1e-3 AdamW, 0.01 SGD)\n"
            "  --optim sgd|adamw    optimiser (default adamw)\n"
            "  --momentum M         SGD momentum (default 0.9)\n"
            "  --weight-decay WD    SGD L2 / AdamW decoupled decay (default 0 / 0.01)\n"
            "  --pos-weight W       BCE weight of presences (default 1)\n"
            "  --schedule S         learning-rate schedule (default cosine)\n"
            "  --val-frac F         share of PA surveys held out by spatial block (default\n"
            "                       0.2; 0: no validation, no early stopping)\n"
            "  --patience P         stop after P epochs without validation improvement (0: off)\n"
            "  --seed S             split, shuffles, initial weights, draws (default 1)\n"
            "  --threads T          compute threads (default: all cores)\n"
            "  --resume             continue MODEL.run/checkpoint.gpnm (settings from the\n"
            "                       checkpoint; --epochs and --patience may be raised)\n"
            "  --po-background K    background absences per presence-only sample (default 64;\n"
            "                       0: presence-only samples are not used)\n"
            "  --po-radius KM       target-group neighbourhood radius (default 5 km)\n"
            "  --po-weight W        loss weight of presence-only labels (default 1)\n"
            "  --po-ratio R         per epoch, at most R x (training PA surveys) presence-only\n"
            "                       samples, drawn afresh each epoch (0: all; default 0)\n"
            "  --augment, --no-augment  random flips/rotations of Sentinel patches (default on)\n"
            "  --stop-after N       stop after N epochs of this call (resume later)\n"
            "  --time-limit S       stop after the epoch that ends past S seconds (resume later)\n"
            "  --atlas DIR          record the run in DIR/catalog.sqlite\n"
            "  -h/--help, -v/--verbose, -q/--quiet\n");
}

static int num(const char *s, double lo, double hi, double *out, const char *what)
{
    struct gpn_err e = {0};
    if (gpn_parse_double(s, lo, hi, out, what, &e)) return app_usage_error(CMD, "%s", e.msg);
    return 0;
}

static int integer(const char *s, int lo, int hi, int *out, const char *what)
{
    struct gpn_err e = {0};
    if (gpn_parse_int(s, lo, hi, out, what, &e)) return app_usage_error(CMD, "%s", e.msg);
    return 0;
}

int gpn_cmd_train_sdm(int argc, char **argv)
{
    enum {
        O_DATA = 256, O_OUT, O_CONFIG, O_EPOCHS, O_BATCH, O_LR, O_OPTIM, O_MOM, O_WD, O_POSW, O_SCHED, O_VAL,
        O_PAT, O_SEED, O_THREADS, O_RESUME, O_POBG, O_PORAD, O_POW, O_PORATIO, O_AUG, O_NOAUG, O_STOP, O_TLIM, O_ATLAS
    };
    static const struct option lo[] = {
        {"data", required_argument, 0, O_DATA},
        {"out", required_argument, 0, O_OUT},
        {"config", required_argument, 0, O_CONFIG},
        {"epochs", required_argument, 0, O_EPOCHS},
        {"batch", required_argument, 0, O_BATCH},
        {"lr", required_argument, 0, O_LR},
        {"optim", required_argument, 0, O_OPTIM},
        {"momentum", required_argument, 0, O_MOM},
        {"weight-decay", required_argument, 0, O_WD},
        {"pos-weight", required_argument, 0, O_POSW},
        {"schedule", required_argument, 0, O_SCHED},
        {"val-frac", required_argument, 0, O_VAL},
        {"patience", required_argument, 0, O_PAT},
        {"seed", required_argument, 0, O_SEED},
        {"threads", required_argument, 0, O_THREADS},
        {"resume", no_argument, 0, O_RESUME},
        {"po-background", required_argument, 0, O_POBG},
        {"po-radius", required_argument, 0, O_PORAD},
        {"po-weight", required_argument, 0, O_POW},
        {"po-ratio", required_argument, 0, O_PORATIO},
        {"augment", no_argument, 0, O_AUG},
        {"no-augment", no_argument, 0, O_NOAUG},
        {"stop-after", required_argument, 0, O_STOP},
        {"time-limit", required_argument, 0, O_TLIM},
        {"atlas", required_argument, 0, O_ATLAS},
        APP_COMMON_LONGOPTS,
        {0, 0, 0, 0},
    };
    struct gpn_train_opts o;
    gpn_train_opts_init(&o);
    o.progress = 1;
    app_getopt_reset();
    int opt;
    double v;
    while ((opt = getopt_long(argc, argv, "hvq", lo, NULL)) != -1) {
        switch (opt) {
        case 'h': usage(stdout); return 0;
        case O_DATA: o.data = optarg; break;
        case O_OUT: o.out = optarg; break;
        case O_CONFIG: o.config = optarg; break;
        case O_EPOCHS: if (integer(optarg, 1, 100000, &o.hp.epochs, "--epochs")) return 2; break;
        case O_BATCH: if (integer(optarg, 2, 65536, &o.hp.batch, "--batch")) return 2; break;
        case O_LR: if (num(optarg, 1e-12, 10, &o.hp.lr, "--lr")) return 2; break;
        case O_OPTIM:
            if (!strcmp(optarg, "sgd")) o.hp.optim = 0;
            else if (!strcmp(optarg, "adamw")) o.hp.optim = 1;
            else return app_usage_error(CMD, "--optim: expected sgd or adamw, found '%s'", optarg);
            break;
        case O_MOM: if (num(optarg, 0, 0.9999, &o.hp.momentum, "--momentum")) return 2; break;
        case O_WD: if (num(optarg, 0, 10, &o.hp.weight_decay, "--weight-decay")) return 2; break;
        case O_POSW: if (num(optarg, 1e-6, 1e6, &o.hp.pos_weight, "--pos-weight")) return 2; break;
        case O_SCHED:
            if (!strcmp(optarg, "constant")) o.hp.schedule = GPN_SCHED_CONSTANT;
            else if (!strcmp(optarg, "cosine")) o.hp.schedule = GPN_SCHED_COSINE;
            else if (!strcmp(optarg, "step")) o.hp.schedule = GPN_SCHED_STEP;
            else if (!strcmp(optarg, "plateau")) o.hp.schedule = GPN_SCHED_PLATEAU;
            else return app_usage_error(CMD, "--schedule: expected constant, cosine, step or plateau, found '%s'", optarg);
            break;
        case O_VAL: if (num(optarg, 0, 0.9, &o.hp.val_frac, "--val-frac")) return 2; break;
        case O_PAT: if (integer(optarg, 0, 100000, &o.hp.patience, "--patience")) return 2; break;
        case O_SEED: {
            struct gpn_err e = {0};
            if (gpn_parse_i64(optarg, 0, INT64_MAX, &o.hp.seed, "--seed", &e)) return app_usage_error(CMD, "%s", e.msg);
            break;
        }
        case O_THREADS: if (integer(optarg, 1, 1024, &o.threads, "--threads")) return 2; break;
        case O_RESUME: o.resume = 1; break;
        case O_POBG: if (integer(optarg, 0, 1000000, &o.hp.po_background, "--po-background")) return 2; break;
        case O_PORAD: if (num(optarg, 1e-3, 1e4, &o.hp.po_radius_km, "--po-radius")) return 2; break;
        case O_POW: if (num(optarg, 0, 1e3, &o.hp.po_weight, "--po-weight")) return 2; break;
        case O_PORATIO: if (num(optarg, 0, 1e6, &o.hp.po_ratio, "--po-ratio")) return 2; break;
        case O_AUG: o.hp.augment = 1; break;
        case O_NOAUG: o.hp.augment = 0; break;
        case O_STOP: if (integer(optarg, 1, 100000, &o.stop_after, "--stop-after")) return 2; break;
        case O_TLIM:
            if (num(optarg, 1, 1e9, &v, "--time-limit")) return 2;
            o.time_limit_s = v;
            break;
        case O_ATLAS: o.atlas = optarg; break;
        default:
            if (app_common_option(opt)) break;
            return app_usage_error(CMD, "unknown option");
        }
    }
    if (optind < argc) return app_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (!o.data) return app_usage_error(CMD, "--data DATASET is required");
    if (!o.out) return app_usage_error(CMD, "--out MODEL is required");

    struct gpn_err err = {0};
    struct gpn_train_result r;
    if (gpn_sdm_train(&o, &r, &err)) return app_fail(CMD, &err);
    printf("%s: %s after %d epochs (best %d): val loss %.5f, val AUC (macro) %.4f; %lld training samples, "
           "%lld validation surveys; %.1f samples/s, %.0f s\n",
           o.out, r.finished ? (r.stopped_early ? "stopped early" : "finished") : "paused (continue with --resume)",
           r.epochs_done, r.best_epoch, r.best_val_loss, r.best_val_auc, (long long)r.n_train, (long long)r.n_val,
           r.samples_per_s, r.seconds);
    return 0;
}
