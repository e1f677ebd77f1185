#!/usr/bin/env python3
"""Writes the small example inputs of `grpo convert pairs` (examples/pairs/README.md).

pairs.jsonl     TRL-style text pairs: {"group", "prompt", "chosen", "rejected"}, no split column
                (the converter splits each group's prompts by fractions).
features.csv    precomputed pairs: group, split, prompt, cf_0..cf_7, rf_0..rf_7 (features of the
                chosen and the rejected response) and ref_chosen, ref_rejected (reference
                log-probabilities), RFC 4180 quoting (prompts with commas, quotes, line breaks).

Three groups that disagree: "concise" readers prefer the short answer, "thorough" readers the
detailed one, "formal" readers the polite one; the groups have 60, 36 and 18 prompts (an
imbalance GR-DPO is made for). Deterministic (numpy seed 17). Usage:
    /usr/bin/python3 examples/pairs/make_pairs.py [OUT_DIR]     (default: this folder)
"""

import csv
import json
import sys
from pathlib import Path

import numpy as np

TOPICS = ["rivers", "volcanoes", "bread", "tides", "comets", "bees", "glaciers", "printing",
          "compilers", "vaccines", "bridges", "orchestras", "deserts", "chess", "coral reefs",
          "satellites", "mushrooms", "windmills", "libraries", "earthquakes"]
QUESTIONS = ["How do {t} work?", "Why do {t} matter?", "What should I know about {t}?",
             "Explain {t}, briefly or not.", "Tell me one fact about {t}."]
STYLES = {
    "short": "{T}: in short, a simple answer.",
    "long": "{T} are a detailed topic: first the history, then the mechanism, then examples, "
            "and finally several caveats explained in depth.",
    "polite": "Thank you for asking about {t}; kindly allow me to answer respectfully.",
    "blunt": "{T}? Look it up yourself, honestly.",
}
# group -> (number of prompts, preferred style, dispreferred styles)
GROUPS = {"concise": (60, "short", ["long", "blunt"]),
          "thorough": (36, "long", ["short", "blunt"]),
          "formal": (18, "polite", ["blunt", "short"])}
DIM = 8


def text_pairs(rng):
    rows = []
    for group, (n, good, bad) in GROUPS.items():
        for k in range(n):
            topic = TOPICS[rng.integers(len(TOPICS))]
            prompt = QUESTIONS[k % len(QUESTIONS)].format(t=topic) + f" (#{k})"
            fill = {"t": topic, "T": topic.capitalize()}
            rejected = bad[rng.integers(len(bad))]
            rows.append({"group": group, "prompt": prompt, "chosen": STYLES[good].format(**fill),
                         "rejected": STYLES[rejected].format(**fill)})
    order = rng.permutation(len(rows))  # groups interleaved, as in real files
    return [rows[i] for i in order]


def feature_pairs(rng):
    # Each group has its own preference direction w_g in R^DIM; chosen - rejected leans along it.
    directions = {g: rng.normal(size=DIM) for g in GROUPS}
    rows = []
    for group, (n, _, _) in GROUPS.items():
        w = directions[group] / np.linalg.norm(directions[group])
        for k in range(n):
            split = "train" if k % 6 < 4 else ("val" if k % 6 == 4 else "test")
            base = rng.normal(scale=0.5, size=DIM)
            delta = 0.8 * w + rng.normal(scale=0.4, size=DIM)
            chosen, rejected = base + delta / 2, base - delta / 2
            ref_chosen = -20.0 + rng.normal()
            ref_rejected = ref_chosen + rng.normal(scale=0.5)
            prompt = f'Prompt {k} of "{group}", with a comma,\nand a second line'
            rows.append([group, split, prompt] + [f"{x:.6g}" for x in chosen]
                        + [f"{x:.6g}" for x in rejected] + [f"{ref_chosen:.6g}",
                                                            f"{ref_rejected:.6g}"])
    order = rng.permutation(len(rows))
    return [rows[i] for i in order]


def main():
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(17)
    with open(out / "pairs.jsonl", "w", encoding="utf-8", newline="\n") as f:
        for row in text_pairs(rng):
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    header = (["group", "split", "prompt"] + [f"cf_{j}" for j in range(DIM)]
              + [f"rf_{j}" for j in range(DIM)] + ["ref_chosen", "ref_rejected"])
    with open(out / "features.csv", "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(feature_pairs(rng))
    print(f"wrote {out / 'pairs.jsonl'} and {out / 'features.csv'}")


if __name__ == "__main__":
    main()
