import numpy as np

from fracture.data.sources import anatomy, phantom


def _render(breaks=(), pose=phantom.Pose(), seed=0, size=(128, 100)):
    layout = anatomy.layout("forearm", "frontal", np.random.default_rng(1))
    layout.scene.breaks = list(breaks)
    return phantom.render(layout.scene, *size, pose, phantom.Exposure(noise=0.0, marker=""),
                          np.random.default_rng(seed)), layout


def test_render_is_deterministic_for_a_seed():
    first, _ = _render(seed=3)
    second, _ = _render(seed=3)
    assert first.dtype == np.uint8 and first.shape == (128, 100)
    np.testing.assert_array_equal(first, second)


def test_bones_are_brighter_than_soft_tissue_and_background():
    image, _ = _render()
    column_profile = image[64].astype(int)
    assert column_profile.max() - column_profile.min() > 80


def test_fracture_darkens_the_bone_along_its_line_only():
    _, layout = _render()
    site = layout.fracture_sites[0]
    cut = phantom.Break(site.bone, t=0.5, width=0.01, depth=1.0)
    intact, _ = _render(seed=5)
    broken, _ = _render([cut], seed=5)
    difference = intact.astype(int) - broken.astype(int)
    assert difference.max() > 40, "the gap should be clearly darker than intact bone"
    changed_rows = np.flatnonzero(np.abs(difference).max(axis=1) > 10)
    assert changed_rows.size and np.ptp(changed_rows) < 20, "only rows near the fracture change"


def test_a_growth_plate_and_a_fracture_on_one_bone_are_both_drawn():
    _, layout = _render()
    bone = layout.fracture_sites[0].bone
    plate = phantom.Break(bone, t=0.9, width=0.005, depth=0.6)
    fracture = phantom.Break(bone, t=0.4, width=0.008, depth=0.9, shift=0.5)
    intact, _ = _render(seed=5)
    both, _ = _render([plate, fracture], seed=5)
    for alone in ([plate], [fracture]):
        image, _ = _render(alone, seed=5)
        changed = np.abs(image.astype(int) - intact.astype(int)).max(axis=1) > 10
        still_changed = np.abs(both.astype(int) - intact.astype(int)).max(axis=1) > 10
        assert changed.any() and still_changed[changed].mean() > 0.8, "neither break erases the other"


def test_windowed_rendering_matches_full_frame_evaluation():
    layout = anatomy.layout("hand", "oblique", np.random.default_rng(2))
    bone = layout.fracture_sites[0].bone
    layout.scene.breaks = [phantom.Break(bone, t=0.9, width=0.004, depth=0.5),
                           phantom.Break(bone, t=0.6, shift=0.5, angulation=0.2, jagged=0.004)]
    pose = phantom.Pose(rotation=0.3, zoom=1.1, offset=(0.02, -0.01), mirror=True)
    texture = phantom.trabecular_texture(90, 70, np.random.default_rng(0))
    windowed = phantom.attenuation_map(layout.scene, 90, 70, pose, texture)
    x, y = phantom.anatomy_grid(90, 70, pose)
    full = np.zeros_like(windowed)
    cuts = phantom.breaks_by_bone(layout.scene)
    for tissue in layout.scene.tissue:
        full += phantom._tissue_attenuation(tissue, x, y, texture)
    for index, bone in enumerate(layout.scene.bones):
        full += phantom._broken_bone_attenuation(bone, cuts.get(index, ()), x, y, texture)
    for blob in layout.scene.blobs:
        full += phantom._blob_attenuation(blob, x, y, texture)
    np.testing.assert_allclose(windowed, full, rtol=1e-5, atol=1e-5)


def test_laterality_marker_is_drawn():
    layout = anatomy.layout("wrist", "frontal", np.random.default_rng(1))
    plain = phantom.render(layout.scene, 128, 100, phantom.Pose(), phantom.Exposure(noise=0, marker=""),
                           np.random.default_rng(0))
    marked = phantom.render(layout.scene, 128, 100, phantom.Pose(), phantom.Exposure(noise=0, marker="L"),
                            np.random.default_rng(0))
    corner = (slice(0, 30), slice(0, 30))
    changed = marked[corner] != plain[corner]
    assert changed.sum() > 20 and (marked[corner][changed] > 200).any(), "a white letter in the top-left corner"
    assert (marked[30:] == plain[30:]).all(), "nothing else changes"
