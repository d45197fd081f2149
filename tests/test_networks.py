"""Actor and critic: the default parameters keep their names and shapes (old checkpoints load),
layer norm normalises, depth, width and the categorical head change shapes as they say."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ddpg_jax.networks import Actor, Critic

OBS, ACT, B = 11, 3, 7


def _shapes(params):
    return {
        f"{layer}/{name}": tuple(p.shape)
        for layer, leaves in params["params"].items()
        for name, p in leaves.items()
    }


def _init(module, *inputs):
    return module.init(jax.random.key(0), *inputs)


OBS_X = jax.random.normal(jax.random.key(1), (B, OBS))
ACT_X = jax.random.uniform(jax.random.key(2), (B, ACT), minval=-1, maxval=1)


def test_default_params_have_the_old_names_and_shapes():
    actor = _init(Actor(hidden_dim=256, action_size=ACT), OBS_X)
    assert _shapes(actor) == {
        "hidden_0/kernel": (OBS, 256),
        "hidden_0/bias": (256,),
        "hidden_1/kernel": (256, 256),
        "hidden_1/bias": (256,),
        "out/kernel": (256, ACT),
        "out/bias": (ACT,),
    }
    embed = _init(Critic(hidden_dim=256), OBS_X, ACT_X)
    assert _shapes(embed) == {
        "hidden_0/kernel": (OBS, 256),
        "hidden_0/bias": (256,),
        "hidden_1/kernel": (256 + ACT, 256),
        "hidden_1/bias": (256,),
        "out/kernel": (256, 1),
        "out/bias": (1,),
    }
    concat = _init(Critic(hidden_dim=256, arch="concat"), OBS_X, ACT_X)
    assert _shapes(concat)["hidden_0/kernel"] == (OBS + ACT, 256)
    assert _shapes(concat)["hidden_1/kernel"] == (256, 256)
    q = Critic(hidden_dim=256).apply(embed, OBS_X, ACT_X)
    assert q.shape == (B,)


@pytest.mark.parametrize("module", ["actor", "critic"])
def test_layer_norm_normalises_each_hidden_layer(module):
    if module == "actor":
        net, inputs = Actor(hidden_dim=32, action_size=ACT, layer_norm=True), (OBS_X,)
    else:
        net, inputs = Critic(hidden_dim=32, layer_norm=True), (OBS_X, ACT_X)
    params = _init(net, *inputs)
    assert {"norm_0", "norm_1"} <= set(params["params"])
    _, inter = net.apply(params, *inputs, capture_intermediates=True)
    for name in ("norm_0", "norm_1"):
        h = inter["intermediates"][name]["__call__"][0]  # [B, 32], before the ReLU
        np.testing.assert_allclose(h.mean(-1), 0.0, atol=1e-5)
        np.testing.assert_allclose(h.std(-1), 1.0, rtol=1e-3)
    # Scaling the first layer's weights changes nothing after the norm (it does without).
    scaled = jax.tree_util.tree_map_with_path(
        lambda path, p: p * 5.0 if "hidden_0" in jax.tree_util.keystr(path) else p, params
    )
    np.testing.assert_allclose(net.apply(scaled, *inputs), net.apply(params, *inputs), atol=1e-4)
    plain = net.clone(layer_norm=False)
    plain_params = _init(plain, *inputs)
    plain_scaled = jax.tree_util.tree_map_with_path(
        lambda path, p: p * 5.0 if "hidden_0" in jax.tree_util.keystr(path) else p, plain_params
    )
    assert not np.allclose(plain.apply(plain_scaled, *inputs), plain.apply(plain_params, *inputs))


def test_depth_width_and_atoms_change_shapes():
    actor = _init(Actor(hidden_dim=64, action_size=ACT, num_layers=3), OBS_X)
    assert _shapes(actor)["hidden_2/kernel"] == (64, 64) and _shapes(actor)["out/kernel"] == (64, 3)
    one = _init(Actor(hidden_dim=16, action_size=ACT, num_layers=1), OBS_X)
    assert set(one["params"]) == {"hidden_0", "out"}
    net = Critic(hidden_dim=48, num_layers=4, num_outputs=101)
    critic = _init(net, OBS_X, ACT_X)
    shapes = _shapes(critic)
    assert shapes["hidden_1/kernel"] == (48 + ACT, 48)
    assert shapes["hidden_3/kernel"] == (48, 48) and "hidden_4/kernel" not in shapes
    assert shapes["out/kernel"] == (48, 101)
    assert net.apply(critic, OBS_X, ACT_X).shape == (B, 101)
    assert net.apply(critic, OBS_X[0], ACT_X[0]).shape == (101,)
    with pytest.raises(ValueError, match="arch"):
        _init(Critic(hidden_dim=8, arch="bad"), OBS_X, ACT_X)


def test_vmaps_over_seeds():
    net = Critic(hidden_dim=16, num_outputs=5)
    params = jax.vmap(lambda k: net.init(k, OBS_X, ACT_X))(jax.random.split(jax.random.key(3), 2))
    out = jax.jit(jax.vmap(net.apply, (0, None, None)))(params, OBS_X, ACT_X)
    assert out.shape == (2, B, 5) and not jnp.allclose(out[0], out[1])
