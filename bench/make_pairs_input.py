#!/usr/bin/env python3
"""Writes a large input for `grpo convert pairs` (bench/convert_pairs_memory.sh), streamed, so
the generator itself needs little memory.

    make_pairs_input.py text FILE.jsonl BYTES        TRL-style rows: group, prompt, chosen,
                                                     rejected (about 700 bytes a row)
    make_pairs_input.py features FILE.csv BYTES DIM  CSV: group, split, cf_0..cf_{DIM-1},
                                                     rf_0.., ref_chosen, ref_rejected

Eight groups of unequal sizes; rows are distinct (the row number is in every prompt).
"""

import random
import sys

WORDS = ("alpha beta gamma delta river mountain question answer policy group robust preference "
         "optimization language model reward chosen rejected prompt response helpful harmless "
         "honest concise detailed formal blunt polite summary explanation example").split()


def sentence(rng, n):
    return " ".join(rng.choice(WORDS) for _ in range(n))


def group_of(i):
    return f"g{min(7, (i * 2654435761 % 2**32) % 36 // 4)}"  # groups 0..7, g7 the largest


def text(path, size):
    rng = random.Random(1)
    pool = [(sentence(rng, 40), sentence(rng, 25), sentence(rng, 25)) for _ in range(997)]
    written, i = 0, 0
    with open(path, "w", encoding="utf-8") as f:
        while written < size:
            p, c, r = pool[i % len(pool)]
            line = (f'{{"group": "{group_of(i)}", "prompt": "{p} #{i}", "chosen": "{c}", '
                    f'"rejected": "{r}"}}\n')
            f.write(line)
            written += len(line)
            i += 1
    return i


def features(path, size, dim):
    rng = random.Random(2)
    pool = [",".join(f"{rng.gauss(0, 1):.6g}" for _ in range(2 * dim)) for _ in range(101)]
    written, i = 0, 0
    with open(path, "w", encoding="utf-8") as f:
        header = ",".join(["group", "split"] + [f"cf_{j}" for j in range(dim)]
                          + [f"rf_{j}" for j in range(dim)] + ["ref_chosen", "ref_rejected"])
        f.write(header + "\n")
        while written < size:
            split = ("train", "train", "train", "train", "train", "train", "train", "train",
                     "val", "test")[i % 10]
            line = f"{group_of(i)},{split},{pool[i % len(pool)]},-{20 + i % 7}.5,-{21 + i % 5}.25\n"
            f.write(line)
            written += len(line)
            i += 1
    return i


if __name__ == "__main__":
    kind, path, size = sys.argv[1], sys.argv[2], int(float(sys.argv[3]))
    rows = text(path, size) if kind == "text" else features(path, size, int(sys.argv[4]))
    print(rows)
