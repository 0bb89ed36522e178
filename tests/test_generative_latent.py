"""core.ops.latent: seeded latents, lerp/slerp, truncation, PCA directions, nearest neighbours."""

import math

import pytest
import torch

from core.ops.latent import (interpolate, latents, lerp, nearest_neighbours, principal_directions, slerp,
                                    top_principal_axes, truncate)


def test_latents_are_deterministic_and_prefix_stable():
    assert torch.equal(latents(3, 16, 32), latents(3, 16, 32))
    assert torch.equal(latents(3, 1, 32)[0], latents(3, 16, 32)[0])  # sample 0 does not depend on n
    assert not torch.equal(latents(3, 1, 32), latents(4, 1, 32))
    z = latents(0, 4000, 8)
    assert abs(float(z.mean())) < 0.05 and abs(float(z.std()) - 1) < 0.05


def test_lerp_and_slerp_hit_the_endpoints_exactly():
    a, b = latents(1, 1, 32)[0], latents(2, 1, 32)[0]
    for mode in ("linear", "slerp"):
        path = interpolate(a, b, 7, mode)
        assert path.shape == (7, 32)
        assert torch.equal(path[0], a) and torch.equal(path[-1], b)


def test_slerp_matches_the_textbook_case_and_keeps_the_norm():
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    mid = slerp(a, b, torch.tensor([0.5]))[0]
    assert torch.allclose(mid, torch.tensor([math.sqrt(0.5), math.sqrt(0.5)]))
    assert torch.allclose(lerp(a, b, torch.tensor([0.5]))[0], torch.tensor([0.5, 0.5]))
    z0, z1 = latents(5, 2, 64)
    z1 = z1 / z1.norm() * z0.norm()
    norms = slerp(z0, z1, torch.linspace(0, 1, 11)).norm(dim=1)
    assert torch.allclose(norms, z0.norm().expand(11), rtol=1e-5)
    assert float(lerp(z0, z1, torch.tensor([0.5])).norm()) < 0.9 * float(z0.norm())  # lerp cuts the corner


def test_slerp_of_parallel_vectors_falls_back_to_lerp():
    a = torch.tensor([1.0, 2.0])
    assert torch.allclose(slerp(a, 2 * a, torch.tensor([0.5]))[0], 1.5 * a)


def test_interpolate_rejects_bad_arguments():
    a = torch.zeros(4)
    with pytest.raises(ValueError):
        interpolate(a, a, 1)
    with pytest.raises(ValueError):
        interpolate(a, a, 3, "cubic")


def test_truncation_pulls_towards_the_mean():
    z = latents(0, 3, 4)
    assert torch.equal(truncate(z, 1.0), z)
    assert torch.equal(truncate(z, 0.0), torch.zeros_like(z))
    mean = torch.ones(4)
    assert torch.allclose(truncate(z, 0.5, mean), mean + 0.5 * (z - mean))


def test_top_principal_axes_equal_a_full_svd():
    generator = torch.Generator().manual_seed(0)
    scales = torch.tensor([10.0, 6.0, 4.0, 3.0, 2.0] + [0.5] * 45, dtype=torch.float64)
    y = torch.randn(2000, 50, generator=generator, dtype=torch.float64) * scales
    y = y @ torch.linalg.qr(torch.randn(50, 50, generator=generator, dtype=torch.float64))[0]
    y = y - y.mean(0)
    axes, singular = top_principal_axes(y, 4)
    _, s, vh = torch.linalg.svd(y, full_matrices=False)
    assert torch.allclose(singular, s[:4], rtol=1e-6)
    cosines = (axes * vh[:4]).sum(1).abs()
    assert torch.allclose(cosines, torch.ones(4, dtype=torch.float64), atol=1e-6)


def test_principal_directions_recover_a_linear_generator_s_axes():
    # features(z) = z A with A scaling latent coordinate 0 the most, then 1, ...: PCA axis k is latent axis k,
    # and moving z along direction k by one standard deviation moves coordinate k by about one unit of z
    a = torch.diag(torch.tensor([8.0, 4.0, 2.0, 1.0, 0.5, 0.25]))
    pca = principal_directions(lambda z: z @ a, dim=6, k=3, samples=4096)
    assert pca.directions.shape == (3, 6)
    for k in range(3):
        direction = pca.directions[k] * pca.stddev[k]
        assert abs(abs(float(direction[k])) - 1.0) < 0.05
        assert float(direction.abs().sum() - direction[k].abs()) < 0.1  # sampling noise only
    assert float(pca.explained.sum()) > 0.95
    z = latents(0, 2, 6)
    moved = pca.move(z, torch.tensor([1.0, 0.0, 0.0]))
    assert torch.allclose(moved - z, (pca.directions[0] * pca.stddev[0]).expand(2, 6), atol=1e-5)


def test_nearest_neighbours_match_a_plain_loop():
    bank = torch.randn(50, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    queries = torch.randn(5, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    index, distance = nearest_neighbours(queries, bank)
    for q in range(5):
        loop = [float((queries[q] - bank[i]).pow(2).sum().sqrt()) for i in range(50)]
        assert int(index[q]) == min(range(50), key=loop.__getitem__)
        assert abs(float(distance[q]) - min(loop)) < 1e-4
    assert int(nearest_neighbours(bank[7:8], bank)[0][0]) == 7
