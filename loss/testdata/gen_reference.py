# Stored PyTorch (float64) expected values for loss.Config.Row.
#
# Regenerate (from the repository root; needs PyTorch and NumPy, e.g. Debian's
# python3-torch):
#
#     /usr/bin/python3 loss/testdata/gen_reference.py
#
# It rewrites loss/testdata/reference.json (atomically). The inputs are fixed
# (a seeded NumPy generator, rounded to float32 exactly as Go reads them) and
# stored in the JSON with the expected values, so the Go test
# (TestRowMatchesStoredPyTorchReference) pins CE, T²·KL and the gradient of
# ce_weight·CE + kl_weight·T²·KL w.r.t. the logits where PyTorch is not
# installed. The KL itself is not re-implemented here: kl_rows (sparse
# teacher, k+1 buckets) and dense_kl_rows are the functions of
# model/student/testdata/torch_reference.py, which the student's full PyTorch
# agreement test runs too.
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "model", "student", "testdata"))
from torch_reference import dense_kl_rows, kl_rows  # noqa: E402

DT = torch.float64
V, K = 16, 4
CE_WEIGHT, KL_WEIGHT = 0.25, 0.75  # exact in float32


def f32(a):
    """Round to float32 and return float64 values (what Go holds)."""
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def sparse_teacher(tz, T):
    """Top-K ids of softmax(tz), their float32 logprobs, the tail mass and the
    tail tempered at T (from the full distribution, float64, then float32)."""
    tz = np.asarray(tz, dtype=np.float64)
    order = np.argsort(-tz, kind="stable")[:K]
    lp = tz - tz.max()
    lp = lp - np.log(np.exp(lp).sum())
    p = np.exp(lp)
    pT = np.exp(lp / T)
    pT = pT / pT.sum()
    return {
        "ids": [int(i) for i in order],
        "logprobs": [float(x) for x in f32(lp[order])],
        "tail": float(f32(1 - p[order].sum())),
        "tail_t": float(f32(1 - pT[order].sum())),
    }


def expected(case):
    z = torch.tensor(case["z"], dtype=DT, requires_grad=True)
    lc = {"temperature": case["temperature"], "kl": case["kl"], "jsd_beta": case["jsd_beta"]}
    ce = -torch.log_softmax(z, -1)[case["target"]]
    t = case["teacher"]
    if t is None:
        kl = torch.zeros((), dtype=DT)
    elif "dense" in t:
        kl = dense_kl_rows(lc, z[None, :], torch.tensor(t["dense"], dtype=DT)[None, :])[0]
    else:
        ids = torch.tensor([t["ids"]], dtype=torch.int64)
        lps = torch.tensor([t["logprobs"]], dtype=DT)
        tail = torch.tensor([[t["tail"]]], dtype=DT)
        tail_t = torch.tensor([[t["tail_t"]]], dtype=DT)
        kl = kl_rows(lc, z[None, :], ids, lps, tail, tail_t)[0]
    (CE_WEIGHT * ce + KL_WEIGHT * kl).backward()
    return {"ce": ce.item(), "kl": kl.item(), "grad": [float(g) for g in z.grad]}


def main():
    rng = np.random.default_rng(20240518)
    cases = []
    specs = [("none", "forward", 1.0)]
    for teacher in ("sparse", "dense"):
        for kind in ("forward", "reverse", "jsd"):
            for T in (1.0, 2.0):
                specs.append((teacher, kind, T))
    specs.append(("sparse", "forward", 0.5))
    for teacher, kind, T in specs:
        z = f32(rng.normal(0, 1.5, V))
        tz = f32(rng.normal(0, 2.0, V))
        case = {
            "name": "%s-%s-T%g" % (teacher, kind, T),
            "temperature": T,
            "kl": kind,
            "jsd_beta": 0.3 if kind == "jsd" else 0.0,
            "z": [float(x) for x in z],
            "target": int(rng.integers(V)),
            "teacher": None,
        }
        if teacher == "sparse":
            case["teacher"] = sparse_teacher(tz, T)
        elif teacher == "dense":
            case["teacher"] = {"dense": [float(x) for x in tz]}
        case["want"] = expected(case)
        cases.append(case)
    out = {
        "generator": "loss/testdata/gen_reference.py (PyTorch %s, float64)" % torch.__version__,
        "ce_weight": CE_WEIGHT,
        "kl_weight": KL_WEIGHT,
        "cases": cases,
    }
    path = os.path.join(HERE, "reference.json")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    print("wrote %s (%d cases)" % (path, len(cases)))


if __name__ == "__main__":
    main()
