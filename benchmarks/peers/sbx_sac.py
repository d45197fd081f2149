"""SBX (Stable-Baselines in JAX) SAC at RL Zoo's settings for the task (see zoo.py), with snapshots.

$PEER_VENVS/sbx/bin/python benchmarks/peers/sbx_sac.py --task hopper --seed 0 --out DIR
"""

from __future__ import annotations

import zoo

LIBRARY = "sbx-sac"


def load_policy(path: str):
    from sbx import SAC

    return zoo.loader(SAC)(path)


def main() -> None:
    import common

    args = common.parser(__doc__.splitlines()[0]).parse_args()
    from sbx import SAC

    zoo.train(args, LIBRARY, SAC, zoo.SAC_ZOO, "sac.yml")


if __name__ == "__main__":
    main()
