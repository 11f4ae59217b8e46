import numpy as np
import pytest

from posecourse.skeletons import COCO17, COCO18, LSP14, MPII16, SKELETONS, convert_keypoints, get_skeleton


@pytest.mark.parametrize("skel", list(SKELETONS.values()), ids=list(SKELETONS))
def test_layout_is_consistent(skel):
    K = skel.num_joints
    assert len(set(skel.joints)) == K
    for a, b in list(skel.limbs) + list(skel.pcp_parts.values()):
        assert 0 <= a < K and 0 <= b < K and a != b
    perm = skel.flip_index
    assert sorted(perm) == list(range(K))
    assert (perm[perm] == np.arange(K)).all(), "flip must be an involution"
    for a, b in skel.flip_pairs:
        assert skel.joints[a].replace("left_", "") == skel.joints[b].replace("right_", "")


def test_sizes_and_paper_facts():
    assert (MPII16.num_joints, LSP14.num_joints, COCO17.num_joints, COCO18.num_joints) == (16, 14, 17, 18)
    assert len(COCO18.limbs) == 19  # 38 PAF channels in the CMU COCO body model
    assert len(COCO17.limbs) == 19
    assert len(COCO17.sigmas) == 17 and COCO17.sigmas[0] == 0.026 and COCO17.sigmas[11] == 0.107
    assert len(MPII16.flip_pairs) == 6 and len(COCO17.flip_pairs) == 8 and len(COCO18.flip_pairs) == 8
    assert MPII16.joints[MPII16.head[0]] == "upper_neck" and MPII16.joints[MPII16.head[1]] == "head_top"
    assert [COCO17.joints[i] for i in COCO17.torso] == ["left_shoulder", "right_hip"]
    assert len(MPII16.pcp_parts) == 10


def test_get_skeleton_errors_name_the_choices():
    assert get_skeleton("mpii16") is MPII16
    with pytest.raises(ValueError, match="coco17"):
        get_skeleton("coco19")
    with pytest.raises(KeyError, match="nose"):
        MPII16.index("nose")


def test_convert_coco17_to_coco18_derives_neck():
    rng = np.random.default_rng(0)
    kp = rng.uniform(0, 100, size=(3, 17, 2))
    vis = np.full((3, 17), 2.0)
    vis[1, COCO17.index("left_shoulder")] = 0
    out, ovis = convert_keypoints(kp, vis, "coco17", "coco18")
    neck = COCO18.index("neck")
    np.testing.assert_allclose(out[0, neck], (kp[0, 5] + kp[0, 6]) / 2)
    assert ovis[0, neck] == 2 and ovis[1, neck] == 0
    back, bvis = convert_keypoints(out, ovis, "coco18", "coco17")
    np.testing.assert_allclose(back, kp)
    with pytest.raises(ValueError, match="keypoints"):
        convert_keypoints(kp[:, :16], vis[:, :16], "coco17", "coco18")


def test_convert_mpii_to_coco_leaves_face_missing():
    kp = np.zeros((16, 2))
    out, vis = convert_keypoints(kp, np.ones(16), "mpii16", "coco17")
    assert np.isnan(out[COCO17.index("nose")]).all() and vis[COCO17.index("nose")] == 0
    assert vis[COCO17.index("left_wrist")] == 1
