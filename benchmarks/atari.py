"""SSL auxiliaries for a pixel-based Atari agent: DrQ(epsilon) (random shift only) vs + CURL vs + SPR, side by side.

Each run trains one variant on one game for ``--steps`` agent steps (4 frames each; Atari-100k is
100,000) from seed s with the defaults of ``selfsup.rl.agent.AgentConfig`` (DrQ(epsilon)'s learner; CURL's
and SPR's own auxiliary settings), then plays ``--eval-episodes`` episodes at epsilon 0.001. Scores are
raw and human-normalised; the aggregate over games x seeds is the mean, median and interquartile mean
(IQM, Agarwal et al. 2021) of human-normalised scores.

Each run is a fresh interpreter pinned to ``--threads`` threads and writes its own JSON under
``benchmarks/results/atari/`` (so two processes on two cores can share the work); a rerun skips finished
runs; ``--render`` merges them into ``benchmarks/results/atari.{json,md}``.

    python benchmarks/atari.py --games Boxing,Breakout,Pong --seeds 3 --steps 100000
    taskset -c 0 python benchmarks/atari.py --seeds 3 --order 0 --workers 2 &   # half the runs on core 0
    taskset -c 1 python benchmarks/atari.py --seeds 3 --order 1 --workers 2 &   # the other half on core 1
    python benchmarks/atari.py --fixed-actions --games Boxing,Breakout,RoadRunner --eval-max-steps 4500
    python benchmarks/atari.py --render
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, machine, run_child, write_results

NAME = "atari"
RUNS_DIR = REPO / "benchmarks" / "results" / "atari"
VARIANT_LABELS = {"drq": "DrQ(ε) (random shift)", "curl": "DrQ(ε) + CURL", "spr": "DrQ(ε) + SPR"}


def run_one(game: str, variant: str, seed: int, steps: int, eval_episodes: int, threads: int, precision: str,
            eval_max_steps: int, device: str = "cpu") -> dict[str, Any]:
    from selfsup.rl.agent import VARIANTS, train_agent

    rec = train_agent(game, {**VARIANTS[variant], "precision": precision}, steps=steps, seed=seed,
                      eval_episodes=eval_episodes, threads=threads, eval_max_steps=eval_max_steps, device=device,
                      log=lambda s: print(s, file=sys.stderr, flush=True), log_every=max(1, steps // 5))
    return {**rec, "variant": variant, "eval_max_steps": eval_max_steps, "machine": machine()}


def fixed_action_scores(game: str, episodes: int, max_steps: int) -> dict[str, float]:
    """Mean return of the policy that presses one action in every state, for each action: the floor an agent whose
    greedy choice does not yet depend on the state is stuck at."""
    from selfsup.rl.agent import play_episodes
    from selfsup.rl.atari import make_atari

    env = make_atari(game, seed=20_000)
    return {meaning: float(np.mean(play_episodes(env, lambda obs, a=action: a, episodes, max_steps)))
            for action, meaning in enumerate(env.unwrapped.get_action_meanings())}


WORKERS = {"run_one": run_one}
FIXED_PATH = REPO / "benchmarks" / "results" / "atari_fixed_actions.json"
FIXED_EPISODES = 3


def _path(game: str, variant: str, seed: int, steps: int) -> Path:
    return RUNS_DIR / f"{game}_{variant}_s{seed}_{steps}.json"


def render(steps: int | None = None) -> tuple[dict[str, Any], str]:
    from selfsup.rl.atari import REFERENCE_SCORES, interquartile_mean

    runs = [json.loads(p.read_text()) for p in sorted(RUNS_DIR.glob("*.json"))]
    if steps is None and runs:
        steps = max({r["steps"] for r in runs}, key=lambda s: sum(r["steps"] == s for r in runs))
    runs = [r for r in runs if r["steps"] == steps and "error" not in r]
    if not runs:
        return {"runs": []}, "no Atari runs yet"
    games = sorted({r["game"] for r in runs})
    variants = [v for v in VARIANT_LABELS if any(r["variant"] == v for r in runs)]
    m = runs[0]["machine"]
    seeds = sorted({r["seed"] for r in runs})
    eval_eps = len(runs[0]["eval_returns"])
    cfg = runs[0]["config"]
    cap = runs[0].get("eval_max_steps")
    per_run_s = {v: np.mean([r["train_s"] + r["eval_s"] for r in runs if r["variant"] == v]) for v in variants}
    # Projected Atari-100k cost: training seconds per gradient update (acting included) x a 100k run's updates;
    # per agent step would undercount, since the first min_replay steps of a short run make no updates.
    per_update = {v: np.mean([r["train_s"] / max(r["updates"], 1) for r in runs if r["variant"] == v])
                  for v in variants}
    updates_100k = (100_000 - cfg["min_replay"] + 1) * cfg["updates_per_step"]
    lines = [f"Atari, {steps:,} agent steps ({4 * steps:,} frames) per run, {len(seeds)} seeds per game and variant, "
             f"score = mean return of {eval_eps} evaluation episodes at epsilon 0.001"
             + (f" capped at {cap:,} steps" if cap else "")
             + f" (raw: mean ± sample sd over seeds; then human-normalised); {cfg['precision']} "
             "autocast; "
             f"{m['cpu']}, {m['threads']} thread per run, torch {m['torch']}, {m['date']}. CPU time per run: "
             + ", ".join(f"{VARIANT_LABELS[v]} {per_run_s[v] / 60:.0f} min" for v in variants)
             + f"; at the measured time per gradient update one Atari-100k run ({updates_100k:,} updates) would take "
             + ", ".join(f"{updates_100k * per_update[v] / 3600:.1f} h" for v in variants) + " on this CPU.", "",
             "| game | random | human | " + " | ".join(VARIANT_LABELS[v] for v in variants) + " |",
             "|---|---|---|" + "---|" * len(variants)]
    for g in games:
        cells = []
        for v in variants:
            scores = [r["score"] for r in runs if r["game"] == g and r["variant"] == v]
            sd = f" ± {np.std(scores, ddof=1):.1f}" if len(scores) > 1 else ""
            cells.append(f"{np.mean(scores):.1f}{sd} (n={len(scores)})" if scores else "—")
        lo, hi = REFERENCE_SCORES[g]
        lines.append(f"| {g} | {lo:g} | {hi:g} | " + " | ".join(cells) + " |")
    fixed = json.loads(FIXED_PATH.read_text()) if FIXED_PATH.exists() else {}
    if any(g in fixed for g in games):
        lines += ["", f"One action pressed in every state ({FIXED_EPISODES} episodes each, same cap): the best and "
                  "worst such policy.",
                  "", "| game | best fixed action | worst fixed action |", "|---|---|---|"]
        for g in games:
            if g in fixed:
                best, worst = max(fixed[g], key=fixed[g].get), min(fixed[g], key=fixed[g].get)
                lines.append(f"| {g} | {fixed[g][best]:.0f} ({best}) | {fixed[g][worst]:.0f} ({worst}) |")
    lines += ["", "| human-normalised, all games x seeds | " + " | ".join(VARIANT_LABELS[v] for v in variants) + " |",
              "|---|" + "---|" * len(variants)]
    summary: dict[str, dict[str, float]] = {}
    for v in variants:
        hns = [r["human_normalized"] for r in runs if r["variant"] == v]
        summary[v] = {"mean": float(np.mean(hns)), "median": float(np.median(hns)),
                      "iqm": interquartile_mean(hns), "runs": len(hns)}
    for stat in ("mean", "median", "iqm"):
        lines.append(f"| {stat.upper() if stat == 'iqm' else stat} | "
                     + " | ".join(f"{summary[v][stat]:.3f}" for v in variants) + " |")
    payload = {"steps": steps, "games": games, "variants": variants, "seeds": seeds, "summary": summary,
               "runs": [{k: r[k] for k in ("game", "variant", "seed", "score", "human_normalized", "eval_returns",
                                           "train_s", "eval_s")} for r in runs], "machine": m}
    return payload, "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--games", default="Boxing,Breakout,Pong")
    ap.add_argument("--variants", default=",".join(VARIANT_LABELS))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=100_000)
    ap.add_argument("--eval-episodes", type=int, default=10)
    ap.add_argument("--eval-max-steps", type=int, default=27_000, help="cap on an evaluation episode's agent steps")
    ap.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", help="cuda on a GPU machine (the replay buffer stays in host memory)")
    ap.add_argument("--workers", type=int, default=1, help="split the runs between this many processes ...")
    ap.add_argument("--order", type=int, default=0, help="... of which this is one (0-based)")
    ap.add_argument("--render", action="store_true")
    ap.add_argument("--fixed-actions", action="store_true", help="score each one-action policy of --games")
    a = ap.parse_args()
    if not a.render and not a.fixed_actions:
        RUNS_DIR.mkdir(parents=True, exist_ok=True)
        todo = [(s, g, v) for s in range(a.seeds) for g in a.games.split(",") for v in a.variants.split(",")]
        for i, (seed, game, variant) in enumerate(todo):
            path = _path(game, variant, seed, a.steps)
            if i % a.workers != a.order or path.exists():
                continue
            rec = run_child(NAME, "run_one", timeout=24 * 3600, game=game, variant=variant, seed=seed, steps=a.steps,
                            eval_episodes=a.eval_episodes, threads=a.threads, precision=a.precision,
                            eval_max_steps=a.eval_max_steps, device=a.device)
            if "error" in rec:
                print(f"{game} {variant} seed {seed}: {rec['error']}", flush=True)
                continue
            path.write_text(json.dumps(rec))
            print(f"{game} {variant} seed {seed}: score {rec['score']:.1f} (HNS {rec['human_normalized']:.3f}), "
                  f"{rec['train_s']:.0f} s", flush=True)
    if a.fixed_actions:
        fixed = json.loads(FIXED_PATH.read_text()) if FIXED_PATH.exists() else {}
        for game in a.games.split(","):
            fixed[game] = fixed_action_scores(game, FIXED_EPISODES, a.eval_max_steps)
            print(f"{game} fixed actions: {fixed[game]}", flush=True)
        FIXED_PATH.write_text(json.dumps(fixed, indent=2))
    payload, text = render(None if a.render or a.fixed_actions else a.steps)
    if payload["runs"]:
        write_results(NAME, payload, text)
    print(text)


if __name__ == "__main__":
    main()
