"""Stable-Baselines3 TD3 at RL Zoo's settings for the task (see zoo.py), with snapshots.

$PEER_VENVS/sb3/bin/python benchmarks/peers/sb3_td3.py --task hopper --seed 0 --out DIR
"""

from __future__ import annotations

import zoo

LIBRARY = "sb3-td3"


def load_policy(path: str):
    from stable_baselines3 import TD3

    return zoo.loader(TD3)(path)


def main() -> None:
    import common

    args = common.parser(__doc__.splitlines()[0]).parse_args()
    from stable_baselines3 import TD3

    zoo.train(args, LIBRARY, TD3, zoo.TD3_ZOO, "td3.yml")


if __name__ == "__main__":
    main()
