"""SBX (Stable-Baselines in JAX) TD3 at RL Zoo's settings for the task (see zoo.py), with snapshots.

$PEER_VENVS/sbx/bin/python benchmarks/peers/sbx_td3.py --task hopper --seed 0 --out DIR
"""

from __future__ import annotations

import zoo

LIBRARY = "sbx-td3"


def load_policy(path: str):
    from sbx import TD3

    return zoo.loader(TD3)(path)


def main() -> None:
    import common

    args = common.parser(__doc__.splitlines()[0]).parse_args()
    from sbx import TD3

    zoo.train(args, LIBRARY, TD3, zoo.TD3_ZOO, "td3.yml")


if __name__ == "__main__":
    main()
