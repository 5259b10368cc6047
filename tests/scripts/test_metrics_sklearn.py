#!/usr/bin/python3
"""test_metrics_sklearn.py - the GeoPlant metrics of `gpn eval-sdm
--metrics-only` against scikit-learn on random data.

Random float32 scores (with ties, and logits of both signs) and 0/1 labels
(with all-absent and all-present species columns and surveys without any
presence) are written as .npy; gpn computes its metric table as JSON; the
reference values come from scikit-learn:
  macro AUC  mean of roc_auc_score per species with both classes
  micro AUC  roc_auc_score on the flattened matrices
  F1@25, Precision@25, Recall@k   f1/precision/recall_score(average='samples',
             zero_division=0) on the top-k binarisation (numpy stable argsort
             of -score: ties go to the lower column)
Tolerance 1e-9. Prints RESULT passed=P failed=F.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

GPN = os.environ.get("GPN_BIN", os.path.join(os.getcwd(), "build", "gpn"))
TOL = 1e-9


def topk_binary(scores, k):
    k = min(k, scores.shape[1])
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    pred = np.zeros(scores.shape, dtype=np.int64)
    np.put_along_axis(pred, order, 1, axis=1)
    return pred


def reference(scores, labels):
    s64 = scores.astype(np.float64)
    aucs = [roc_auc_score(labels[:, c], s64[:, c]) for c in range(labels.shape[1])
            if 0 < labels[:, c].sum() < labels.shape[0]]
    ref = {"auc_macro": float(np.mean(aucs)), "n_species_auc": len(aucs),
           "auc_micro": roc_auc_score(labels.ravel(), s64.ravel())}
    p25 = topk_binary(scores, 25)
    ref["f1_at_25"] = f1_score(labels, p25, average="samples", zero_division=0)
    ref["precision_at_25"] = precision_score(labels, p25, average="samples", zero_division=0)
    for k in (25, 50, 250):
        ref["recall_at_%d" % k] = recall_score(labels, topk_binary(scores, k), average="samples", zero_division=0)
    return ref


def make_case(rng, n, C, quantise, label_dtype):
    present_rate = rng.uniform(0.02, 0.15, size=C)
    labels = (rng.random((n, C)) < present_rate).astype(np.uint8)
    labels[:, 0] = 0          # a species never present
    labels[:, 1] = 1          # a species always present
    labels[3, :] = 0          # a survey without presences
    signal = rng.normal(size=(n, C)) + 1.5 * labels
    if quantise:
        signal = np.round(signal * 4) / 4     # many ties
    scores = signal.astype(np.float32)
    return scores, labels.astype(label_dtype)


def run_gpn(tmp, scores, labels):
    sp, lp = os.path.join(tmp, "scores.npy"), os.path.join(tmp, "labels.npy")
    np.save(sp, scores)
    np.save(lp, labels)
    out = subprocess.run([GPN, "eval-sdm", "--metrics-only", sp, lp, "--json"], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError("gpn failed: " + out.stderr)
    return json.loads(out.stdout)


def main():
    rng = np.random.default_rng(20240601)
    cases = [("300 species, continuous", 400, 300, False, np.uint8),
             ("300 species, tied scores", 500, 300, True, np.int32),
             ("40 species (k capped)", 250, 40, True, np.float32),
             ("1200 species", 120, 1200, False, np.int64)]
    passed = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, n, C, quant, ldt in cases:
            scores, labels = make_case(rng, n, C, quant, ldt)
            got = run_gpn(tmp, scores, labels)
            ref = reference(scores, labels.astype(np.int64))
            bad = []
            for key, val in ref.items():
                if key == "n_species_auc":
                    if got[key] != val:
                        bad.append("%s: %s != %s" % (key, got[key], val))
                elif abs(got[key] - val) > TOL:
                    bad.append("%s: gpn %.15f sklearn %.15f" % (key, got[key], val))
            if bad:
                failed += 1
                print("FAIL %s\n  %s" % (name, "\n  ".join(bad)))
            else:
                passed += 1
                print("ok   %s (macro AUC %.6f, micro %.6f, F1@25 %.6f)" % (name, ref["auc_macro"], ref["auc_micro"],
                                                                           ref["f1_at_25"]))
        # float64 scores are accepted (rounded to float32) and a mismatch is an error
        np.save(os.path.join(tmp, "s64.npy"), rng.random((5, 3)))
        np.save(os.path.join(tmp, "l.npy"), np.ones((5, 4), dtype=np.uint8))
        bad = subprocess.run([GPN, "eval-sdm", "--metrics-only", os.path.join(tmp, "s64.npy"),
                              os.path.join(tmp, "l.npy")], capture_output=True, text=True)
        if bad.returncode == 1 and "same shape" in bad.stderr:
            passed += 1
            print("ok   shape mismatch is an error")
        else:
            failed += 1
            print("FAIL shape mismatch: rc %d, %s" % (bad.returncode, bad.stderr))
    print("RESULT passed=%d failed=%d" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
