"""Optuna's side of lorasweep's benchmarks (run with Debian's python3-optuna
under /usr/bin/python3). Every mode prints one JSON object on stdout; the Go
harness (bench/) runs it and merges the numbers into its tables.

  regret   --problem P --seeds 1-30 --trials 100
  overhead --storage sqlite:///F.db --n 1000 --measure 20
  trainer  --lorasweep BIN --spec SPEC --seeds 1-3 --trials 30
"""

import argparse
import json
import math
import os
import random
import subprocess
import sys
import time

import warnings

import optuna

import problems

optuna.logging.set_verbosity(optuna.logging.ERROR)
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def seed_list(s):
    a, _, b = s.partition("-")
    return list(range(int(a), int(b or a) + 1))


def regret(args):
    suggest, evaluate, optimum, _ = problems.PROBLEMS[args.problem]
    out = []
    nan = 0
    for seed in seed_list(args.seeds):
        # Noise: N(0, 0.02²) as in the Go harness, from its own stream (the
        # sampler sees noisy values, regret uses the noise-free ones).
        noise = random.Random(seed * 7919 + 1)
        if args.variant == "multivariate":
            # Optuna 3.1's joint Parzen estimator, grouped for conditional
            # params (both flags experimental there).
            sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True)
        else:
            sampler = optuna.samplers.TPESampler(seed=seed)
        study = optuna.create_study(sampler=sampler, direction="minimize")
        if args.baseline:
            study.enqueue_trial(problems.BASES[args.problem])
        best, trace = math.inf, []

        def objective(t):
            nonlocal best, nan
            v = evaluate(suggest(t))
            if math.isnan(v):
                # Diverged: Optuna's convention is a FAIL, which its TPE
                # leaves out of the history.
                nan += 1
                trace.append(min(best, 1e300))
                return float("nan")
            best = min(best, v)
            trace.append(min(best, 1e300))  # JSON has no Infinity
            return v + 0.02 * noise.gauss(0, 1)

        study.optimize(objective, n_trials=args.trials)
        out.append(trace)
    return {"problem": args.problem, "optimum": optimum, "best_true": out, "diverged": nan}


def ten_params(t):
    v = 0.0
    for i in range(4):
        v += (t.suggest_float(f"f{i}", -5, 5) - 1) ** 2
    for i in range(2):
        v += (math.log10(t.suggest_float(f"l{i}", 1e-5, 1e-1, log=True)) + 3) ** 2
    for i in range(2):
        v += (t.suggest_int(f"i{i}", 1, 64) - 16) ** 2 / 100
    for i in range(2):
        v += ["a", "b", "c", "d"].index(t.suggest_categorical(f"c{i}", ["a", "b", "c", "d"]))
    return v


def random_params(r):
    """Params of one random trial of the ten-parameter space, as
    optuna.samplers.RandomSampler would draw them."""
    p = {}
    for i in range(4):
        p[f"f{i}"] = r.uniform(-5, 5)
    for i in range(2):
        p[f"l{i}"] = math.exp(r.uniform(math.log(1e-5), math.log(1e-1)))
    for i in range(2):
        p[f"i{i}"] = r.randint(1, 64)
    for i in range(2):
        p[f"c{i}"] = r.choice(["a", "b", "c", "d"])
    return p


def ten_dists():
    d = {}
    for i in range(4):
        d[f"f{i}"] = optuna.distributions.FloatDistribution(-5, 5)
    for i in range(2):
        d[f"l{i}"] = optuna.distributions.FloatDistribution(1e-5, 1e-1, log=True)
    for i in range(2):
        d[f"i{i}"] = optuna.distributions.IntDistribution(1, 64)
    for i in range(2):
        d[f"c{i}"] = optuna.distributions.CategoricalDistribution(["a", "b", "c", "d"])
    return d


def prefill_sqlite(path, study, n, seed):
    """Adds n finished random trials to study in one SQLite transaction.

    Filling through study.optimize or add_trials costs Optuna ~20 ms of
    SQLAlchemy per trial (5,000 trials: minutes), which is not what the study
    measures. The first trial goes through study.add_trial, so the row formats
    (state, dates, value type) are Optuna's own; the rest copy them, with
    params encoded by Optuna's distribution helpers."""
    import sqlite3

    r = random.Random(seed)
    dists = ten_dists()

    def value(p):
        return sum(dists[k].to_internal_repr(v) for k, v in p.items())

    first = random_params(r)
    study.add_trial(optuna.trial.create_trial(params=first, distributions=dists, value=value(first)))
    db = sqlite3.connect(path)
    try:
        tid, sid, state, start, done = db.execute(
            "SELECT trial_id, study_id, state, datetime_start, datetime_complete FROM trials").fetchone()
        vtype, = db.execute("SELECT value_type FROM trial_values WHERE trial_id = ?", (tid,)).fetchone()
        djson = {k: optuna.distributions.distribution_to_json(d) for k, d in dists.items()}
        with db:
            for number in range(1, n):
                p = random_params(r)
                cur = db.execute(
                    "INSERT INTO trials (number, study_id, state, datetime_start, datetime_complete) VALUES (?, ?, ?, ?, ?)",
                    (number, sid, state, start, done))
                t = cur.lastrowid
                db.executemany(
                    "INSERT INTO trial_params (trial_id, param_name, param_value, distribution_json) VALUES (?, ?, ?, ?)",
                    [(t, k, dists[k].to_internal_repr(v), djson[k]) for k, v in p.items()])
                db.execute("INSERT INTO trial_values (trial_id, objective, value, value_type) VALUES (?, 0, ?, ?)",
                           (t, value(p), vtype))
    finally:
        db.close()


def overhead(args):
    if not args.storage.startswith("sqlite:///"):
        raise SystemExit("overhead: only sqlite:/// storage is supported")
    path = args.storage[len("sqlite:///"):]
    if os.path.exists(path):
        os.remove(path)
    t0 = time.perf_counter()
    study = optuna.create_study(storage=optuna.storages.RDBStorage(args.storage), study_name="overhead")
    prefill_sqlite(path, study, args.n, args.n)
    prefill = time.perf_counter() - t0
    # A fresh storage and study, as a worker that starts on the filled study;
    # the check also proves the bulk rows read back as Optuna's own.
    study = optuna.load_study(storage=optuna.storages.RDBStorage(args.storage), study_name="overhead",
                              sampler=optuna.samplers.TPESampler(seed=1))
    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(done) != args.n or set(done[-1].params) != set(ten_dists()):
        raise SystemExit(f"overhead: prefill gave {len(done)} complete trials, want {args.n}")
    times = []
    for _ in range(args.measure):
        t0 = time.perf_counter()
        study.optimize(ten_params, n_trials=1)
        times.append(time.perf_counter() - t0)
    times.sort()
    return {"n": args.n, "storage": "sqlite", "measure": args.measure,
            "ms_per_trial_mean": 1000 * sum(times) / len(times),
            "ms_per_trial_median": 1000 * times[len(times) // 2],
            "prefill_s": prefill}


def trainer(args):
    """Optuna drives lorasweep's real trainer and objective through
    `lorasweep eval`; the search space mirrors the spec's search section."""
    out = []
    for seed in seed_list(args.seeds):
        sampler = optuna.samplers.TPESampler(seed=seed)
        study = optuna.create_study(sampler=sampler, direction="maximize")
        best, trace, secs = -math.inf, [], 0.0

        def objective(t):
            nonlocal best, secs
            p = {
                "network_dim": t.suggest_int("network_dim", 2, 16, log=True),
                "network_alpha": t.suggest_float("network_alpha", 0.25, 1.0),
                "learning_rate": t.suggest_float("learning_rate", 1e-4, 3e-2, log=True),
                "lr_scheduler": t.suggest_categorical("lr_scheduler", ["constant", "cosine", "cosine_with_restarts"]),
            }
            if p["lr_scheduler"] == "cosine_with_restarts":
                p["lr_scheduler_num_cycles"] = t.suggest_int("lr_scheduler_num_cycles", 1, 3)
            p["rank_dropout"] = t.suggest_float("rank_dropout", 0.0, 0.3)
            r = subprocess.run([args.lorasweep, "eval", args.spec, "--params", json.dumps(p)],
                               capture_output=True, text=True)
            res = json.loads(r.stdout) if r.stdout.strip() else {}
            secs += res.get("seconds", 0.0)
            v = res.get("value")
            if v is None:
                # A failed trial (diverged): Optuna's usual FAIL, which its
                # TPE leaves out of the history.
                trace.append(best if best > -math.inf else None)
                return float("nan")
            best = max(best, v)
            trace.append(best)
            return v

        study.optimize(objective, n_trials=args.trials)
        out.append({"best": trace, "seconds": secs})
    return {"runs": out}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["regret", "overhead", "trainer"])
    ap.add_argument("--problem")
    ap.add_argument("--seeds", default="1-30")
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--storage")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--measure", type=int, default=20)
    ap.add_argument("--lorasweep")
    ap.add_argument("--spec")
    ap.add_argument("--variant", choices=["univariate", "multivariate"], default="univariate")
    ap.add_argument("--baseline", action="store_true", help="enqueue the problem's base config as trial 0")
    args = ap.parse_args()
    res = {"regret": regret, "overhead": overhead, "trainer": trainer}[args.mode](args)
    res["optuna"] = optuna.__version__
    json.dump(res, sys.stdout)
    print()


if __name__ == "__main__":
    main()
