"""Bottom-up grouping: people drawn as targets by bottom_up_target are found again, part for part."""

from __future__ import annotations

import torch

from convzoo.data.pose.targets import bottom_up_target, to_input_pixels
from convzoo.tasks.pose.grouping import find_peaks, group_people, limb_scores, match_limbs

STRIDE = 4

# A standing person in OpenPose's part order, map pixels relative to the neck (image y points down).
TEMPLATE = torch.tensor([
    [0, -4], [0, 0], [-4, 0], [-6, 5], [-7, 10], [4, 0], [6, 5], [7, 10], [-3, 10], [-3, 16], [-3, 22],
    [3, 10], [3, 16], [3, 22], [-1.5, -5.5], [1.5, -5.5], [-3, -4.5], [3, -4.5],
], dtype=torch.float32)


def person(neck: tuple[float, float], moved: dict[int, tuple[float, float]], missing: tuple[int, ...] = ()) -> torch.Tensor:
    """``(18, 3)`` keypoints in input pixels: the template at ``neck``, some parts ``moved`` (map pixels), some missing."""
    parts = TEMPLATE + torch.tensor(neck)
    for part, position in moved.items():
        parts[part] = torch.tensor(position)
    parts = parts + (torch.rand(18, 2, generator=torch.Generator().manual_seed(int(neck[0]))) - 0.5) * 0.6
    keypoints = to_input_pixels(torch.cat([parts, torch.full((18, 1), 2.0)], dim=1), STRIDE)
    keypoints[list(missing)] = 0
    return keypoints


# Person 1's left forearm crosses person 2's; person 3's right forearm crosses person 2's.
FIRST = person((14, 10), {6: (20, 14), 7: (28, 22)})
SECOND = person((30, 12), {6: (30, 16), 7: (22, 22), 4: (34, 23)})
THIRD = person((46, 14), {3: (38, 20), 4: (26, 24)}, missing=(12, 13, 17))


def grouped(people: list[torch.Tensor], side: int) -> list:
    target = bottom_up_target(torch.stack(people), size=(side * STRIDE, side * STRIDE), stride=STRIDE, sigma=1.0)
    maps = target[0]
    return group_people(maps[38:], maps[:38], stride=STRIDE)


def assert_found(found: list, people: list[torch.Tensor]) -> None:
    assert len(found) == len(people)
    for truth in people:
        nearest = min(found, key=lambda candidate: (candidate.keypoints[1, :2] - truth[1, :2]).norm().item())
        labelled = truth[:, 2] > 0
        assert torch.equal(nearest.keypoints[:, 2] > 0, labelled)
        assert (nearest.keypoints[labelled, :2] - truth[labelled, :2]).abs().max() <= 1.0
        assert (nearest.keypoints[~labelled] == 0).all()
        assert nearest.score > 0 and (nearest.part_scores[labelled] > 0.5).all()


def test_two_people_with_crossing_limbs():
    assert_found(grouped([FIRST, SECOND], 48), [FIRST, SECOND])


def test_three_people_with_crossing_limbs_and_missing_parts():
    assert_found(grouped([FIRST, SECOND, THIRD], 64), [FIRST, SECOND, THIRD])


def test_no_peaks_no_people():
    assert group_people(torch.zeros(19, 16, 16), torch.zeros(38, 16, 16)) == []


def test_peaks_are_local_maxima_above_the_threshold_one_per_plateau():
    maps = torch.zeros(2, 8, 9)
    maps[0, 2, 3], maps[0, 5, 6], maps[0, 6, 1] = 0.75, 0.5, 0.05  # the last is under the threshold
    maps[1, 4, 4] = maps[1, 4, 5] = 0.625  # a plateau of two pixels
    peaks = find_peaks(maps, threshold=0.1, refine=False)
    assert peaks[0].tolist() == [[3.0, 2.0, 0.75], [6.0, 5.0, 0.5]]
    assert peaks[1].tolist() == [[4.0, 4.0, 0.625]]
    assert [len(p) for p in find_peaks(torch.zeros(3, 4, 4))] == [0, 0, 0]


def test_limb_scores_equal_a_loop_over_the_candidates():
    generator = torch.Generator().manual_seed(4)
    paf_x, paf_y = torch.rand(2, 20, 24, generator=generator) * 2 - 1
    a_peaks = torch.cat([torch.rand(3, 2, generator=generator) * 18, torch.ones(3, 1)], dim=1)
    b_peaks = torch.cat([torch.rand(4, 2, generator=generator) * 18, torch.ones(4, 1)], dim=1)
    scores, valid = limb_scores(paf_x, paf_y, a_peaks, b_peaks, samples=7)
    assert scores.shape == valid.shape == (3, 4)
    for i, start in enumerate(a_peaks[:, :2]):
        for j, end in enumerate(b_peaks[:, :2]):
            length = (end - start).norm()
            unit = (end - start) / length
            dots = []
            for t in torch.linspace(0, 1, 7):
                x, y = (start + t * (end - start)).tolist()
                x0, y0 = int(x), int(y)
                fx, fy = x - x0, y - y0
                def at(field):
                    return ((1 - fx) * (1 - fy) * field[y0, x0] + fx * (1 - fy) * field[y0, x0 + 1]
                            + (1 - fx) * fy * field[y0 + 1, x0] + fx * fy * field[y0 + 1, x0 + 1])
                dots.append(at(paf_x) * unit[0] + at(paf_y) * unit[1])
            dots = torch.stack(dots)
            expected = dots.mean() + min(0.5 * 20 / length.item() - 1, 0)
            assert abs(scores[i, j].item() - expected.item()) < 1e-5
            assert valid[i, j].item() == bool((dots > 0.05).sum() > 0.8 * 7 and expected > 0)


def test_greedy_matching_takes_the_best_first_and_uses_each_peak_once():
    scores = torch.tensor([[0.9, 0.8, 0.1], [0.85, 0.2, 0.3]])
    valid = torch.tensor([[True, True, True], [True, False, True]])
    assert [(i, j) for i, j, _ in match_limbs(scores, valid)] == [(0, 0), (1, 2)]
    assert match_limbs(torch.zeros(0, 3), torch.zeros(0, 3, dtype=torch.bool)) == []
