"""The benchmark functions of sweep/benchfn, written again for Optuna.

Each problem has a ``suggest(trial)`` that asks an Optuna trial for the same
search space as the Go version and an ``evaluate(params)`` that computes the
same noise-free value. bench/problems_test.go feeds the Go trials' params to
``python3 problems.py check`` and requires equal values, so the two can not
drift apart silently.
"""

import json
import math
import sys

LORA_SCHEDULERS = ["constant", "linear", "cosine", "cosine_with_restarts"]
BRANIN_OFFSETS = ["none", "small", "large"]
SPHERE_CATS = ["a", "b", "c", "d"]


def lora6_suggest(t):
    p = {
        "lr": t.suggest_float("lr", 1e-5, 1e-2, log=True),
        # Go: a log-uniform float rounded by the sampler (log-int); Optuna has
        # a native log-int.
        "rank": t.suggest_int("rank", 2, 128, log=True),
        "alpha_ratio": t.suggest_float("alpha_ratio", 0.1, 1.0),
        "scheduler": t.suggest_categorical("scheduler", LORA_SCHEDULERS),
        "dropout": t.suggest_float("dropout", 0.0, 0.5),
    }
    if p["scheduler"] == "cosine_with_restarts":
        p["cycles"] = t.suggest_int("cycles", 1, 4)
    return p


def lora6(p):
    l2 = math.log2(p["rank"])
    lr_star = -3.5 - 0.25 * (l2 - 4)
    v = (1 + 0.6 * (math.log10(p["lr"]) - lr_star) ** 2 + 0.15 * (l2 - 4) ** 2
         + 1.2 * (p["alpha_ratio"] - 0.5) ** 2 + 0.8 * (p["dropout"] - 0.1) ** 2)
    s = p["scheduler"]
    if s == "constant":
        v += 0.25
    elif s == "linear":
        v += 0.10
    elif s == "cosine":
        v += 0.05
    else:
        v += 0.08 * (p["cycles"] - 2) ** 2
    return v


def branin(x1, x2):
    a, b, c, r, s, t = 1, 5.1 / (4 * math.pi ** 2), 5 / math.pi, 6, 10, 1 / (8 * math.pi)
    return a * (x2 - b * x1 * x1 + c * x1 - r) ** 2 + s * (1 - t) * math.cos(x1) + s


def mixed_branin_suggest(t):
    return {
        "x1": t.suggest_float("x1", -5, 10),
        "x2": t.suggest_float("x2", 0, 15, step=0.25),
        "offset": t.suggest_categorical("offset", BRANIN_OFFSETS),
        "k": t.suggest_int("k", 0, 10, step=2),
    }


def mixed_branin(p):
    v = branin(p["x1"], p["x2"]) + 0.05 * (p["k"] - 4) ** 2
    v += {"none": 0, "small": 0.5, "large": 2}[p["offset"]]
    return v


def mixed_sphere_suggest(t):
    p = {n: t.suggest_float(n, -5, 5) for n in ("f1", "f2", "f3")}
    for n in ("i1", "i2"):
        p[n] = t.suggest_int(n, -5, 5)
    p["lr"] = t.suggest_float("lr", 1e-4, 1, log=True)
    p["c"] = t.suggest_categorical("c", SPHERE_CATS)
    return p


def mixed_sphere(p):
    v = sum((p[n] - 1) ** 2 for n in ("f1", "f2", "f3"))
    v += sum((p[n] + 2) ** 2 for n in ("i1", "i2"))
    v += (math.log10(p["lr"]) + 2) ** 2
    v += SPHERE_CATS.index(p["c"])
    return v


LORA10_SCHEDULERS = ["constant", "cosine", "cosine_with_restarts", "polynomial"]

# lora10's common community config (sweep/benchfn/lora10.go, Base).
LORA10_BASE = {"unet_lr": 1e-4, "text_encoder_lr": 5e-5, "network_dim": 32, "alpha_ratio": 0.5,
               "lr_scheduler": "cosine", "network_dropout": 0.0, "rank_dropout": 0.0, "module_dropout": 0.0}


def lora10_suggest(t):
    p = {
        "unet_lr": t.suggest_float("unet_lr", 1e-5, 1e-2, log=True),
        "text_encoder_lr": t.suggest_float("text_encoder_lr", 1e-6, 1e-3, log=True),
        "network_dim": t.suggest_int("network_dim", 2, 128, log=True),
        "alpha_ratio": t.suggest_float("alpha_ratio", 0.0625, 1.0),
        "network_dropout": t.suggest_float("network_dropout", 0.0, 0.5),
        "rank_dropout": t.suggest_float("rank_dropout", 0.0, 0.5),
        "module_dropout": t.suggest_float("module_dropout", 0.0, 0.5),
        "lr_scheduler": t.suggest_categorical("lr_scheduler", LORA10_SCHEDULERS),
    }
    if p["lr_scheduler"] == "cosine_with_restarts":
        p["lr_scheduler_num_cycles"] = t.suggest_int("lr_scheduler_num_cycles", 1, 4)
    elif p["lr_scheduler"] == "polynomial":
        p["lr_scheduler_power"] = t.suggest_float("lr_scheduler_power", 0.5, 4.0)
    return p


def lora10(p):
    """NaN where training diverges (Optuna: a FAIL)."""
    r = math.log2(round(p["network_dim"])) - 4
    a = math.log2(p["alpha_ratio"])
    u = math.log10(p["unet_lr"] * p["alpha_ratio"])
    e = math.log10(p["text_encoder_lr"] * p["alpha_ratio"])
    if u > -2.6 - 0.1 * r or e > -3.4:
        return float("nan")
    s = p["lr_scheduler"]
    decay = 0.0 if s == "constant" else 1.0
    u_star = -4 - 0.15 * r + 0.2 * decay
    nd, rd, md = p["network_dropout"], p["rank_dropout"], p["module_dropout"]
    nd_star = min(max(0.1 + 0.05 * r, 0), 0.5)
    rd_star = min(max(0.05 + 0.05 * r, 0), 0.3)
    v = (1 + 0.5 * (u - u_star) ** 2 + 0.3 * (e - u + 0.9) ** 2 + 0.08 * (e - u_star + 0.9) ** 2
         + 0.12 * r ** 2 + 0.04 * (a + 1) ** 2
         + 0.8 * (nd - nd_star) ** 2 + 0.6 * (rd - rd_star) ** 2 + 0.5 * md ** 2 + max(0, nd + rd + md - 0.4) ** 2)
    if s == "constant":
        v += 0.12
    elif s == "cosine":
        v += 0.03
    elif s == "cosine_with_restarts":
        v += 0.06 * (p["lr_scheduler_num_cycles"] - 2) ** 2
    else:
        v += 0.015 + 0.08 * (math.log2(p["lr_scheduler_power"]) - 1) ** 2
    return v


# name -> (suggest, evaluate, optimum, categorical choices by param)
PROBLEMS = {
    "lora6": (lora6_suggest, lora6, 1.0, {"scheduler": LORA_SCHEDULERS}),
    "lora10": (lora10_suggest, lora10, 1.0, {"lr_scheduler": LORA10_SCHEDULERS}),
    "mixed-branin": (mixed_branin_suggest, mixed_branin, 0.397887357729738, {"offset": BRANIN_OFFSETS}),
    "mixed-sphere": (mixed_sphere_suggest, mixed_sphere, 0.0, {"c": SPHERE_CATS}),
}


# Base configs (the Go problems' Base), enqueued as trial 0 with --baseline.
BASES = {
    "lora6": {"lr": 1e-4, "rank": 32, "alpha_ratio": 0.5, "scheduler": "cosine", "dropout": 0.0},
    "lora10": LORA10_BASE,
}


def check():
    """Reads {"problem", "params" (goptuna internal: categoricals as
    indexes)} lines on stdin and prints each noise-free value, one a line."""
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        _, evaluate, _, cats = PROBLEMS[req["problem"]]
        p = dict(req["params"])
        for name, choices in cats.items():
            if name in p:
                p[name] = choices[int(p[name])]
        print(repr(evaluate(p)))


if __name__ == "__main__":
    if sys.argv[1:] == ["check"]:
        check()
    else:
        sys.exit("usage: problems.py check < params.jsonl")
